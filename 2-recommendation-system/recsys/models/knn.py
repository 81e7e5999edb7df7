"""Neighbourhood models: item-kNN (Sarwar et al. 2001; Deshpande & Karypis 2004), user-kNN and the
RP3beta random walk (Paudel et al. 2017).

Each keeps only a row's (or column's) k strongest links as a sparse matrix; user-kNN and RP3beta
build them in blocks, so their memory grows with rows x k plus one block.
"""

from __future__ import annotations

from typing import Self

import numpy as np
import scipy.sparse as sp

from recsys.models import base
from recsys.models.base import Recommender, binarize, cooccurrence
from recsys.models.memory import ITEM_ITEM_ALTERNATIVE


def keep_row_top_k(block: np.ndarray, k: int) -> sp.csr_matrix:
    """Sparse copy of a dense block keeping each row's k largest entries (ties: argpartition's)."""
    n_rows, n_cols = block.shape
    k = min(k, n_cols)
    cols = np.argpartition(-block, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(block, cols, axis=1)
    rows = np.repeat(np.arange(n_rows), k)
    out = sp.csr_matrix((vals.ravel(), (rows, cols.ravel())), shape=(n_rows, n_cols))
    out.eliminate_zeros()
    return out


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
        self.similarity_ = keep_row_top_k(sim.T, self.k).T.tocsr()  # each j's k neighbours
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        return np.asarray((self.train_[users] @ self.similarity_).todense())


class UserKNN(Recommender):
    """score(u, i) = sum over u's k most similar users v of sim(u, v) x_vi (cosine, shrunk).

    Similarities are computed for blocks of at most ``SCORE_BATCH_ELEMENTS`` (scored user, user)
    pairs, never as a users x users matrix: a batch that ``recommend`` sized by the items would
    otherwise hold batch x users similarities, more than its scores when users outnumber items.
    """

    name = "UserKNN"

    def __init__(self, k: int = 100, shrinkage: float = 10.0) -> None:
        self.k, self.shrinkage = k, shrinkage

    def fit(self, train: sp.csr_matrix) -> Self:
        self.train_ = binarize(train)
        self.norms_ = np.sqrt(np.asarray(self.train_.sum(axis=1)).ravel())
        self.train_t_ = self.train_.T.tocsr()
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        users = np.asarray(users)
        step = max(1, base.SCORE_BATCH_ELEMENTS // self.train_.shape[0])
        blocks = [self._neighbours(users[s : s + step]) for s in range(0, users.size, step)]
        neighbours = sp.vstack(blocks) if blocks else sp.csr_matrix((0, self.train_.shape[0]))
        return np.asarray((neighbours @ self.train_).todense())

    def _neighbours(self, users: np.ndarray) -> sp.csr_matrix:
        """Each user's k most similar other users, as a sparse (len(users), n_users) row block."""
        sim = (self.train_[users] @ self.train_t_).toarray()
        sim /= self.norms_[users, None] * self.norms_[None, :] + self.shrinkage + 1e-12
        sim[np.arange(users.size), users] = 0.0  # a user is not their own neighbour
        return keep_row_top_k(sim, self.k)


class RP3beta(Recommender):
    """Item-item random walk u -> i -> v -> j, penalised by popularity (Paudel et al. 2017).

    W_ij = sum_u P(i->u)^alpha P(u->j)^alpha / pop_j^beta with P the row-normalised interaction
    matrices; each item keeps its k strongest targets; score = X W.
    """

    name = "RP3beta"

    def __init__(
        self, alpha: float = 1.0, beta: float = 0.5, k: int = 200, block_elements: int = 1 << 22
    ) -> None:
        self.alpha, self.beta, self.k = alpha, beta, k
        self.block_elements = block_elements

    def fit(self, train: sp.csr_matrix) -> Self:
        x = binarize(train)
        self.train_ = x
        n_items = x.shape[1]
        user_degree = np.asarray(x.sum(axis=1)).ravel()
        item_degree = np.asarray(x.sum(axis=0)).ravel()
        p_ui = sp.diags(1.0 / np.maximum(user_degree, 1)) @ x
        p_iu = sp.diags(1.0 / np.maximum(item_degree, 1)) @ x.T.tocsr()
        p_ui, p_iu = p_ui.power(self.alpha).tocsc(), p_iu.power(self.alpha).tocsr()
        penalty = np.zeros(n_items)
        seen = item_degree > 0
        penalty[seen] = item_degree[seen] ** -self.beta
        step = max(1, self.block_elements // max(n_items, 1))
        blocks = []
        for start in range(0, n_items, step):
            stop = min(start + step, n_items)
            w = (p_iu[start:stop] @ p_ui).toarray() * penalty[None, :]
            w[np.arange(stop - start), np.arange(start, stop)] = 0.0  # no self-loops
            blocks.append(keep_row_top_k(w, self.k))
        self.weights_ = sp.vstack(blocks).tocsr()
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        return np.asarray((self.train_[users] @ self.weights_).todense())
