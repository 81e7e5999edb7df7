"""One interface for every recommender: ``fit(train)`` then ``score``/``recommend`` in batches.

Ranking is over the full catalogue; already-seen items are masked out; ties are broken by the
lower item index (a stable sort), so two runs of the same model give identical lists.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Self

import numpy as np
import scipy.sparse as sp


def binarize(matrix: sp.spmatrix) -> sp.csr_matrix:
    """Implicit feedback view: 1 where a rating exists."""
    out = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
    out.data[:] = 1.0
    return out


def top_k(scores: np.ndarray, k: int, exclude: sp.csr_matrix | None = None) -> np.ndarray:
    """Row-wise top-k indices, ties to the lower index; excluded or -inf items become -1 padding."""
    scores = np.array(scores, dtype=np.float64, copy=True)
    if exclude is not None:
        rows, cols = exclude.nonzero()
        scores[rows, cols] = -np.inf
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    picked = np.take_along_axis(scores, order, axis=1)
    order[~np.isfinite(picked)] = -1
    return order


class Recommender(ABC):
    """Fit on a user x item CSR of ratings; score every item for a batch of users."""

    name: str = "recommender"

    @abstractmethod
    def fit(self, train: sp.csr_matrix) -> Self:
        """Learn from training ratings (explicit values; implicit models binarise)."""

    @abstractmethod
    def score(self, users: np.ndarray) -> np.ndarray:
        """Dense (len(users), n_items) scores; higher is better."""

    def recommend(
        self,
        users: np.ndarray,
        k: int = 10,
        exclude: sp.csr_matrix | None = None,
        batch_size: int = 2048,
    ) -> np.ndarray:
        """Top-k item indices per user with ``exclude[users]`` (seen items) masked out."""
        users = np.asarray(users)
        out = []
        for start in range(0, len(users), batch_size):  # batches, not a loop over users
            batch = users[start : start + batch_size]
            mask = exclude[batch] if exclude is not None else None
            out.append(top_k(self.score(batch), k, mask))
        return np.vstack(out) if out else np.empty((0, k), dtype=int)

    def __repr__(self) -> str:
        params = {k: v for k, v in vars(self).items() if not k.endswith("_") and k != "name"}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in params.items())})"
