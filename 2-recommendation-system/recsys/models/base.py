"""One interface for every recommender: ``fit(train)`` then ``score``/``recommend`` in batches.

Ranking is over the full catalogue; already-seen items are masked out; ties are broken by the
lower item index, so two runs of the same model give identical lists.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from typing import Self

import numpy as np
import scipy.sparse as sp

from recsys.models.memory import require_memory

SCORE_BATCH_ELEMENTS = 1 << 22  # users x items scores per recommend() batch


def binarize(matrix: sp.spmatrix) -> sp.csr_matrix:
    """Implicit feedback view: 1 where a rating exists."""
    out = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
    out.data[:] = 1.0
    return out


def training_key(matrix: sp.spmatrix) -> str:
    """Digest of a sparse matrix's shape and entries: equal keys mean the same training data."""
    m = sp.csr_matrix(matrix)
    digest = hashlib.blake2b(digest_size=16)
    digest.update(np.asarray(m.shape, dtype=np.int64).tobytes())
    for part in (m.indptr, m.indices, m.data):
        digest.update(np.ascontiguousarray(part).tobytes())
    return digest.hexdigest()


def cooccurrence(x: sp.csr_matrix, block_elements: int = 1 << 22) -> np.ndarray:
    """Dense items x items X'X, built in column blocks so no sparse n^2 product sits beside it.

    For popular-heavy data X'X is nearly dense, and the one-shot sparse product would need about
    12 bytes per entry on top of the 8 of the dense copy.
    """
    n_items = x.shape[1]
    xt, xc = x.T.tocsr(), x.tocsc()
    gram = np.empty((n_items, n_items))
    step = max(1, block_elements // max(n_items, 1))
    for start in range(0, n_items, step):
        gram[:, start : start + step] = (xt @ xc[:, start : start + step]).toarray()
    return gram


def top_k(scores: np.ndarray, k: int, exclude: sp.csr_matrix | None = None) -> np.ndarray:
    """Row-wise top-k indices, ties to the lower index; excluded or non-finite items become -1.

    A selection, not a sort: ``np.partition`` finds each row's k-th best score in linear time,
    the ties at that score are settled by item index, and only the k winners are sorted. The
    result is a fresh (n, min(k, n_items)) array that keeps no users x items buffer alive.
    """
    scores = np.array(scores, dtype=np.float64, copy=True)
    if exclude is not None:
        rows, cols = exclude.nonzero()
        scores[rows, cols] = -np.inf
    scores[np.isnan(scores)] = -np.inf
    n_rows, n_items = scores.shape
    width = min(k, n_items)
    if width < n_items:
        np.negative(scores, out=scores)  # partition the negated scores without another copy
        kth = -np.partition(scores, width - 1, axis=1)[:, width - 1 : width]
        np.negative(scores, out=scores)
        above = scores > kth
        tied = scores == kth
        room = width - above.sum(axis=1, keepdims=True)  # tied items that still fit, lowest first
        keep = above | (tied & (np.cumsum(tied, axis=1, dtype=np.int32) <= room))
        candidates = np.nonzero(keep)[1].reshape(n_rows, width)  # ascending item index per row
    else:
        candidates = np.broadcast_to(np.arange(n_items), (n_rows, n_items))
    picked = np.take_along_axis(scores, candidates, axis=1)
    order = np.argsort(-picked, axis=1, kind="stable")  # stable: equal scores keep index order
    top = np.take_along_axis(candidates, order, axis=1)
    top[~np.isfinite(np.take_along_axis(picked, order, axis=1))] = -1
    return top


class Recommender(ABC):
    """Fit on a user x item CSR of ratings; score every item for a batch of users."""

    name: str = "recommender"
    # Bytes a fit may use; None = what the machine has available when the fit starts.
    memory_limit: int | None = None

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
        batch_size: int | None = None,
    ) -> np.ndarray:
        """Top-k item indices per user with ``exclude[users]`` (seen items) masked out.

        Users are scored in batches (no Python loop over users) of ``batch_size`` rows, by
        default ``SCORE_BATCH_ELEMENTS // n_items``. Bound: scoring a batch and selecting its
        top-k take under 48 bytes per score (tested for every registered model), so beyond the
        fitted model, peak memory is at most 48 x ``SCORE_BATCH_ELEMENTS`` bytes whatever the
        number of users, and only the (n_users, k) result grows with it.
        """
        users = np.asarray(users)
        if users.size == 0:
            return np.empty((0, k), dtype=np.int64)
        if batch_size is None:
            n_items = exclude.shape[1] if exclude is not None else self.score(users[:1]).shape[1]
            batch_size = max(1, SCORE_BATCH_ELEMENTS // n_items)
        out = []
        for start in range(0, len(users), batch_size):
            batch = users[start : start + batch_size]
            mask = exclude[batch] if exclude is not None else None
            out.append(top_k(self.score(batch), k, mask))
        return np.vstack(out)

    def fit_once(self, train: sp.csr_matrix) -> Self:
        """``fit`` unless this model is already fitted on identical data with identical parameters.

        Lets several models share one expensive fitted component (the hybrid's EASE) safely:
        a different training set or parameter refits it.
        """
        key = f"{training_key(train)} {self!r}"
        if getattr(self, "fitted_on_", None) != key:
            self.fit(train)
            self.fitted_on_ = key
        return self

    def require_memory(self, need_bytes: float, what: str, alternative: str) -> None:
        """Refuse before allocating when ``need_bytes`` exceeds ``memory_limit`` (see ``memory``)."""
        require_memory(need_bytes, f"{self.name} {what}", alternative, self.memory_limit)

    def __repr__(self) -> str:
        params = {k: v for k, v in vars(self).items() if not k.endswith("_") and k != "name"}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in params.items())})"
