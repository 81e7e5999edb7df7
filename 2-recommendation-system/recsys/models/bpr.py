"""BPR-MF (Rendle et al. 2009) with uniform negative sampling: vectorised mini-batch SGD.

Written here rather than taken from ``implicit`` because implicit's BPR draws each negative from
a random training interaction, so popular items are over-sampled as negatives and pushed down,
and its multi-threaded updates make runs irreproducible. Here a negative is any item the user has
not interacted with, drawn uniformly, and one seed fixes the whole fit.
"""

from __future__ import annotations

from typing import Self

import numpy as np
import scipy.sparse as sp
from scipy.special import expit

from recsys.models.base import Recommender, binarize


class InteractionSet:
    """Membership test for (user, item) pairs of a CSR matrix by binary search on sorted keys."""

    def __init__(self, matrix: sp.csr_matrix) -> None:
        m = sp.csr_matrix(matrix, copy=True)
        m.sum_duplicates()  # sorted, unique indices: the keys below come out sorted
        self.n_items = m.shape[1]
        self.keys = np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr))
        self.keys = self.keys * self.n_items + m.indices

    def contains(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        query = users.astype(np.int64) * self.n_items + items
        pos = np.minimum(np.searchsorted(self.keys, query), max(self.keys.size - 1, 0))
        return self.keys[pos] == query if self.keys.size else np.zeros(query.shape, dtype=bool)


def sample_negatives(
    rng: np.random.Generator, seen: InteractionSet, users: np.ndarray, max_rounds: int = 50
) -> tuple[np.ndarray, np.ndarray]:
    """One uniform item per user that the user has not interacted with, by rejection.

    Returns (items, ok); ``ok`` is False only for a user who still drew seen items after
    ``max_rounds`` redraws (someone who has rated nearly the whole catalogue).
    """
    items = rng.integers(0, seen.n_items, size=users.size)
    bad = seen.contains(users, items)
    for _ in range(max_rounds):
        if not bad.any():
            break
        redraw = np.flatnonzero(bad)
        items[redraw] = rng.integers(0, seen.n_items, size=redraw.size)
        bad[redraw] = seen.contains(users[redraw], items[redraw])
    return items, ~bad


def scatter_add(target: np.ndarray, rows: np.ndarray, values: np.ndarray) -> None:
    """``target[rows] += values`` with repeated rows summed, as ``np.add.at`` does.

    A sparse (unique rows x batch) 0/1 matrix times ``values`` sums the repeats several times
    faster than ``np.add.at`` on 2-D values, and touches only the rows in the batch.
    """
    unique, slot = np.unique(rows, return_inverse=True)
    n = rows.size
    pick = sp.csr_matrix((np.ones(n), (slot, np.arange(n))), shape=(unique.size, n))
    target[unique] += pick @ values


def bpr_step(
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    item_bias: np.ndarray,
    users: np.ndarray,
    positives: np.ndarray,
    negatives: np.ndarray,
    learning_rate: float,
    regularization: float,
) -> None:
    """One mini-batch of BPR's SGD updates, in place.

    Each triple (u, i, j) raises ln sigmoid(x_ui - x_uj) with x = p_u . q + b, minus an L2 penalty;
    all gradients come from the parameters before the batch and are summed per row, so a popular
    item drawn twice in a batch gets both updates.
    """
    p, qi, qj = user_factors[users], item_factors[positives], item_factors[negatives]
    diff = qi - qj
    x = np.einsum("bf,bf->b", p, diff) + item_bias[positives] - item_bias[negatives]
    g = expit(-x)[:, None]  # d ln sigmoid(x) / dx
    lr, reg = learning_rate, regularization
    scatter_add(user_factors, users, lr * (g * diff - reg * p))
    items = np.concatenate([positives, negatives])
    scatter_add(item_factors, items, lr * np.vstack([g * p - reg * qi, -g * p - reg * qj]))
    bias_grad = np.concatenate([g[:, 0], -g[:, 0]]) - reg * item_bias[items]
    scatter_add(item_bias, items, lr * bias_grad)


LR_SCHEDULES = ("constant", "linear")


class BPR(Recommender):
    """score(u, i) = p_u . q_i + b_i, trained on (user, seen item, uniform unseen item) triples.

    An epoch visits every training interaction once, in a seeded random order, in mini-batches.
    ``lr_schedule="linear"`` lowers the learning rate linearly over the epochs (epoch e of E uses
    ``learning_rate * (1 - e / E)``), so the last epochs refine instead of bouncing around.
    """

    name = "BPR"

    def __init__(
        self,
        factors: int = 64,
        learning_rate: float = 0.01,
        regularization: float = 0.01,
        iterations: int = 200,
        batch_size: int = 1024,
        seed: int = 0,
        lr_schedule: str = "constant",
    ) -> None:
        if lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, not {lr_schedule!r}")
        self.factors, self.learning_rate, self.regularization = factors, learning_rate, regularization
        self.iterations, self.batch_size, self.seed = iterations, batch_size, seed
        self.lr_schedule = lr_schedule

    def epoch_learning_rate(self, epoch: int) -> float:
        """The learning rate of epoch ``epoch`` (0-based) under the schedule."""
        if self.lr_schedule == "linear":
            return self.learning_rate * (1.0 - epoch / self.iterations)
        return self.learning_rate

    def fit(self, train: sp.csr_matrix) -> Self:
        x = binarize(train)
        x.sum_duplicates()
        n_users, n_items = x.shape
        rng = np.random.default_rng(self.seed)
        p = rng.normal(0.0, 0.01, (n_users, self.factors))
        q = rng.normal(0.0, 0.01, (n_items, self.factors))
        b = np.zeros(n_items)
        user_of = np.repeat(np.arange(n_users), np.diff(x.indptr))
        seen = InteractionSet(x)
        for epoch in range(self.iterations):
            lr = self.epoch_learning_rate(epoch)
            order = rng.permutation(x.nnz)
            for start in range(0, x.nnz, self.batch_size):
                batch = order[start : start + self.batch_size]
                users, positives = user_of[batch], x.indices[batch]
                negatives, ok = sample_negatives(rng, seen, users)
                bpr_step(
                    p, q, b, users[ok], positives[ok], negatives[ok], lr, self.regularization,
                )  # fmt: skip
        self.user_factors_, self.item_factors_, self.item_bias_ = p, q, b
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        return self.user_factors_[users] @ self.item_factors_.T + self.item_bias_[None, :]
