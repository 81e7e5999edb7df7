"""Hybrid: blend collaborative and content scores per item, with a popularity fallback.

An item's weight on the CF side grows with its training interactions, n / (n + beta), so a brand
new item is ranked by content alone; a user with no history gets the popularity ranking.
"""

from __future__ import annotations

from typing import Self

import numpy as np
import scipy.sparse as sp

from recsys.models.base import Recommender
from recsys.models.content import ContentTFIDF
from recsys.models.baselines import MostPopular


def standardise_rows(scores: np.ndarray) -> np.ndarray:
    """Per-user z-scores, so CF and content scores live on one scale before blending."""
    mean = scores.mean(axis=1, keepdims=True)
    std = scores.std(axis=1, keepdims=True)
    return (scores - mean) / np.where(std > 0, std, 1.0)


class Hybrid(Recommender):
    """score = w_i * cf_weight * z(CF) + (1 - w_i * cf_weight) * z(content), w_i = n_i / (n_i + beta).

    ``cf`` may be shared between hybrids (a tuning grid over the blend): it is fitted only when
    the training data or its parameters change, and scoring checks it still matches.
    """

    name = "Hybrid"

    def __init__(
        self, cf: Recommender, content: ContentTFIDF, cf_weight: float = 0.9, beta: float = 5.0
    ) -> None:
        self.cf, self.content = cf, content
        self.cf_weight, self.beta = cf_weight, beta

    def fit(self, train: sp.csr_matrix) -> Self:
        self.cf.fit_once(train)  # a CF model shared by several hybrids is fitted once per dataset
        self.cf_fitted_on_ = self.cf.fitted_on_
        self.content.fit(train)
        self.popularity_ = MostPopular().fit(train)
        n_item = np.asarray((train != 0).sum(axis=0)).ravel()
        self.item_weight_ = self.cf_weight * n_item / (n_item + self.beta)
        self.user_history_ = np.asarray((train != 0).sum(axis=1)).ravel()
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        if self.cf.fitted_on_ != self.cf_fitted_on_:
            raise RuntimeError(
                "the CF model this hybrid shares was refitted on other data since the hybrid was "
                "fitted; fit the hybrid again before scoring"
            )
        users = np.asarray(users)
        w = self.item_weight_[None, :]
        blended = w * standardise_rows(self.cf.score(users)) + (1 - w) * standardise_rows(
            self.content.score(users)
        )
        cold = self.user_history_[users] == 0
        if cold.any():
            blended[cold] = standardise_rows(self.popularity_.score(users[cold]))
        return blended
