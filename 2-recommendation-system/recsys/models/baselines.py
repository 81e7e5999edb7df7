"""Non-personalised baselines: the bars every personalised model must clear.

Random shows what no signal scores (a model below it has learned something harmful for ranking);
MostPopular shows what popularity alone buys.
"""

from __future__ import annotations

from typing import Self

import numpy as np
import scipy.sparse as sp

from recsys.hashing import salt_of, uniform_hash
from recsys.models.base import Recommender


class MostPopular(Recommender):
    """Scores each item by how many training users interacted with it."""

    name = "MostPopular"

    def fit(self, train: sp.csr_matrix) -> Self:
        self.counts_ = np.asarray((train != 0).sum(axis=0)).ravel().astype(float)
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.counts_, (len(users), self.counts_.size)).copy()


class Random(Recommender):
    """A uniformly random score per (user, item), fixed by the seed.

    Hashed rather than drawn from a generator, so a user's list does not depend on which batch
    the user was scored in.
    """

    name = "Random"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def fit(self, train: sp.csr_matrix) -> Self:
        self.n_items_ = train.shape[1]
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        n_items = np.uint64(self.n_items_)
        cells = np.asarray(users, dtype=np.uint64)[:, None] * n_items + np.arange(
            self.n_items_, dtype=np.uint64
        )
        return uniform_hash(cells, salt_of(f"Random recommender, seed {self.seed}"))
