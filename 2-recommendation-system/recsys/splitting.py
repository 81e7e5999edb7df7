"""Train/test splits per user (random or temporal) and the relevance matrix they imply.

Splitting per user keeps every user in both sides, which is what per-user paired statistics need.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp


@dataclass
class Split:
    """A train/test partition of one ratings table over a fixed user x item index space."""

    train: pd.DataFrame
    test: pd.DataFrame
    n_users: int
    n_items: int

    def train_matrix(self) -> sp.csr_matrix:
        """Explicit ratings seen in training (the models binarise when they need to)."""
        return _matrix(self.train, self.n_users, self.n_items)

    def relevance(self, threshold: float | None = None) -> sp.csr_matrix:
        """Held-out ratings as grades; with ``threshold`` only ratings >= it count as relevant."""
        test = self.test if threshold is None else self.test[self.test["rating"] >= threshold]
        return _matrix(test, self.n_users, self.n_items)


def _matrix(df: pd.DataFrame, n_users: int, n_items: int) -> sp.csr_matrix:
    m = sp.csr_matrix(
        (df["rating"].to_numpy(float), (df["user"].to_numpy(), df["item"].to_numpy())),
        shape=(n_users, n_items),
    )
    m.sum_duplicates()
    m.sort_indices()
    return m


def split_per_user(
    ratings: pd.DataFrame,
    n_users: int,
    n_items: int,
    train_fraction: float = 0.75,
    method: str = "random",
    seed: int = 0,
) -> Split:
    """Split each user's ratings: ``round(train_fraction * n_u)`` to train (at least one).

    ``method="random"`` shuffles within user with a seeded key; ``"temporal"`` puts each user's
    earliest ratings in train (ties broken by the same seeded key, so it is deterministic).
    """
    if not 0 < train_fraction < 1:
        raise ValueError("train_fraction must be in (0, 1)")
    if method not in {"random", "temporal"}:
        raise ValueError("method must be 'random' or 'temporal'")
    rng = np.random.default_rng(seed)
    key = rng.random(len(ratings))
    users = ratings["user"].to_numpy()
    primary = ratings["timestamp"].to_numpy() if method == "temporal" else key
    order = np.lexsort((key, primary, users))  # by user, then primary, then key
    sorted_users = users[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_users)) + 1]
    counts = np.diff(np.r_[starts, len(order)])
    rank = np.arange(len(order)) - np.repeat(starts, counts)
    n_train = np.maximum(1, np.rint(train_fraction * counts)).astype(int)
    in_train = np.empty(len(order), dtype=bool)
    in_train[order] = rank < np.repeat(n_train, counts)
    return Split(
        ratings[in_train].reset_index(drop=True),
        ratings[~in_train].reset_index(drop=True),
        n_users,
        n_items,
    )


def validation_split(
    split: Split, train_fraction: float = 0.75, seed: int = 1, method: str = "random"
) -> Split:
    """Carve a validation split out of the training part only, for tuning without touching test.

    Use the test split's ``method``: a temporal test asks for the future, so tuning on a random
    validation split would pick parameters for an easier task.
    """
    return split_per_user(split.train, split.n_users, split.n_items, train_fraction, method, seed)


def cold_item_split(split: Split, fraction: float = 0.1, seed: int = 0) -> Split:
    """Simulate new items: drop every training rating of a random ``fraction`` of the items that
    have held-out ratings, and keep only held-out ratings of those items as the test.

    Collaborative models cannot score such items at all; content and the hybrid can.
    """
    rng = np.random.default_rng(seed)
    candidates = np.unique(split.test["item"].to_numpy())
    n_cold = max(1, round(fraction * candidates.size))
    cold = rng.choice(candidates, size=n_cold, replace=False)
    train = split.train[~split.train["item"].isin(cold)].reset_index(drop=True)
    test = split.test[split.test["item"].isin(cold)].reset_index(drop=True)
    return Split(train, test, split.n_users, split.n_items)
