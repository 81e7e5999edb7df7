"""Most-popular baseline: the bar every personalised model must clear."""

from __future__ import annotations

from typing import Self

import numpy as np
import scipy.sparse as sp

from recsys.models.base import Recommender


class MostPopular(Recommender):
    """Scores each item by how many training users interacted with it."""

    name = "MostPopular"

    def fit(self, train: sp.csr_matrix) -> Self:
        self.counts_ = np.asarray((train != 0).sum(axis=0)).ravel().astype(float)
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.counts_, (len(users), self.counts_.size)).copy()
