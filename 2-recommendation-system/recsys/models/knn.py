"""Item-based k-nearest-neighbour CF with cosine similarity (Sarwar et al. 2001; Deshpande 2004)."""

from __future__ import annotations

from typing import Self

import numpy as np
import scipy.sparse as sp

from recsys.models.base import Recommender, binarize, cooccurrence
from recsys.models.memory import ITEM_ITEM_ALTERNATIVE


def prune_top_k(similarity: np.ndarray, k: int) -> sp.csr_matrix:
    """Keep each column's k largest similarities (the item's neighbours), vectorised."""
    n = similarity.shape[0]
    k = min(k, n)
    rows = np.argpartition(-similarity, k - 1, axis=0)[:k]  # (k, n) neighbour indices per column
    cols = np.broadcast_to(np.arange(n), rows.shape)
    vals = similarity[rows, cols]
    return sp.csr_matrix((vals.ravel(), (rows.ravel(), cols.ravel())), shape=(n, n))


class ItemKNN(Recommender):
    """score(u, j) = sum over the user's items i of sim(i, j), keeping each j's top-k neighbours.

    ``shrinkage`` damps similarities built from few co-occurrences; ``alpha`` is the asymmetric
    cosine exponent (0.5 = plain cosine).
    """

    name = "ItemKNN"

    def __init__(self, k: int = 100, shrinkage: float = 10.0, alpha: float = 0.5) -> None:
        self.k, self.shrinkage, self.alpha = k, shrinkage, alpha

    def fit(self, train: sp.csr_matrix) -> Self:
        n_items = train.shape[1]
        self.require_memory(
            5 * 8.0 * n_items**2,
            f"builds five dense {n_items:,} x {n_items:,} similarity arrays (5 x items^2 x 8 bytes)",
            ITEM_ITEM_ALTERNATIVE,
        )
        x = binarize(train)
        self.train_ = x
        co = cooccurrence(x)
        norms = np.diag(co).copy()
        denom = (
            np.power(norms, self.alpha)[:, None] * np.power(norms, 1 - self.alpha)[None, :]
            + self.shrinkage
            + 1e-12
        )
        sim = co / denom
        np.fill_diagonal(sim, 0.0)
        self.similarity_ = prune_top_k(sim, self.k)
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        return np.asarray((self.train_[users] @ self.similarity_).todense())
