"""Top-K ranking metrics, vectorised over users, returning one value per user.

Inputs everywhere:

- ``recs``: integer array (n_users, K) of recommended item indices, best first; ``-1`` pads
  lists shorter than K. An item may appear at most once in a row.
- ``relevance``: scipy.sparse matrix (n_users, n_items); a stored value > 0 marks a relevant
  item and is its grade (use 1 for binary relevance).

Conventions (the same as ranx and microsoft/recommenders unless stated):

- Precision@K divides by K, also for users with fewer than K relevant items, so a perfect
  ranking can score below 1 for them. Recall@K divides by the number of relevant items.
- NDCG@K uses log2(rank + 1) discounts; the ideal DCG ranks the user's own grades, best
  first, truncated at K. ``gain`` is ``binary`` (1 per relevant item), ``linear`` (the grade,
  ranx ``ndcg``) or ``exponential`` (2**grade - 1, ranx ``ndcg_burges``).
- AP@K sums precision at each hit rank, divided by ``min(n_relevant, K)`` (``normalise="min_k"``,
  recommenders' ``map_at_k``; a perfect ranking scores 1) or by ``n_relevant``
  (``normalise="n_relevant"``, ranx ``map@k`` and recommenders' ``map``).
- A user with no relevant item has undefined recall and NDCG: it is an error, not a NaN
  averaged away. Filter such users and report how many there were.

Per-user arrays are kept so paired statistics between models can be computed on them.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp

Gain = Literal["binary", "linear", "exponential"]


def _validate(
    recs: np.typing.ArrayLike, relevance: sp.spmatrix | sp.sparray, k: int
) -> tuple[np.ndarray, sp.csr_matrix]:
    r = np.asarray(recs)
    if r.ndim != 2:
        raise ValueError(f"recs must be a 2-D array (n_users, K), got shape {r.shape}")
    if r.shape[0] == 0:
        raise ValueError("recs is empty: there are no users to evaluate")
    if not np.issubdtype(r.dtype, np.integer):
        raise ValueError(f"recs must hold integer item indices, got dtype {r.dtype}")
    if not sp.issparse(relevance):
        raise TypeError("relevance must be a scipy.sparse matrix (n_users, n_items)")
    rel = sp.csr_matrix(relevance, dtype=float, copy=True)
    rel.sum_duplicates()
    rel.eliminate_zeros()
    rel.sort_indices()
    if rel.shape[0] != r.shape[0]:
        raise ValueError(f"recs has {r.shape[0]} users but relevance has {rel.shape[0]} rows")
    if not 1 <= k <= r.shape[1]:
        raise ValueError(
            f"k must be in [1, {r.shape[1]}] (the number of recommendation columns), got {k}"
        )
    if r.max(initial=-1) >= rel.shape[1] or r.min(initial=0) < -1:
        raise ValueError(
            f"recs must hold item indices in [0, {rel.shape[1] - 1}] or -1 for padding"
        )
    if np.any(rel.data < 0):
        raise ValueError("relevance grades must be non-negative")
    top = np.sort(r[:, :k], axis=1)
    if np.any((top[:, 1:] == top[:, :-1]) & (top[:, 1:] >= 0)):
        raise ValueError("a user's recommendation list repeats an item; deduplicate recs first")
    n_rel = np.diff(rel.indptr)
    if np.any(n_rel == 0):
        raise ValueError(
            f"{int(np.sum(n_rel == 0))} users have no relevant items, so recall/NDCG are undefined "
            "for them; drop those users before evaluating and report how many were dropped"
        )
    return r[:, :k], rel


def lookup_grades(
    relevance: sp.spmatrix | sp.sparray,
    items: np.typing.ArrayLike,
    rows: np.typing.ArrayLike | None = None,
) -> np.ndarray:
    """``relevance[rows[r], items[r, c]]`` for an (R, K) item array; 0 where absent or padded (-1).

    A sorted-key binary search over the stored entries, so no dense users x items copy is made;
    ``rows`` defaults to 0..R-1 (row r of ``items`` belongs to row r of ``relevance``).
    """
    rel = sp.csr_matrix(relevance)
    if not rel.has_canonical_format:  # the search needs sorted, unique indices per row
        rel = rel.copy()
        rel.sum_duplicates()
    recs = np.asarray(items, dtype=np.int64)
    n_rows, n_items = rel.shape
    rows = np.arange(recs.shape[0]) if rows is None else np.asarray(rows)
    if rel.nnz == 0:
        return np.zeros(recs.shape)
    keys = np.repeat(np.arange(n_rows, dtype=np.int64), np.diff(rel.indptr)) * n_items + rel.indices
    query = rows.astype(np.int64)[:, None] * n_items + recs
    pos = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
    found = (keys[pos] == query) & (recs >= 0)
    return np.where(found, rel.data[pos], 0.0)


def _gain(grades: np.ndarray, gain: Gain) -> np.ndarray:
    if gain == "binary":
        return (grades > 0).astype(float)
    if gain == "linear":
        return grades.astype(float)
    if gain == "exponential":
        return np.exp2(grades) - 1.0
    raise ValueError(f"gain must be 'binary', 'linear' or 'exponential', got {gain!r}")


def _item_indices(recs: np.typing.ArrayLike, n_items: int) -> np.ndarray:
    r = np.asarray(recs)
    if r.ndim != 2 or not np.issubdtype(r.dtype, np.integer):
        raise ValueError(f"recs must be a 2-D integer array (n_users, K), got {r.dtype} {r.shape}")
    if r.size and (r.max() >= n_items or r.min() < -1):
        raise ValueError(f"recs must hold item indices in [0, {n_items - 1}] or -1 for padding")
    return r


def discounts(k: int) -> np.ndarray:
    """1 / log2(rank + 1) for ranks 1..k: NDCG's position discount."""
    return 1.0 / np.log2(np.arange(2, k + 2))


def precision_at_k(recs: np.typing.ArrayLike, relevance: sp.spmatrix, k: int) -> np.ndarray:
    """Relevant items among the top k, divided by k."""
    r, rel = _validate(recs, relevance, k)
    return (lookup_grades(rel, r) > 0).sum(axis=1) / k


def recall_at_k(recs: np.typing.ArrayLike, relevance: sp.spmatrix, k: int) -> np.ndarray:
    """Relevant items among the top k, divided by the user's number of relevant items."""
    r, rel = _validate(recs, relevance, k)
    return (lookup_grades(rel, r) > 0).sum(axis=1) / np.diff(rel.indptr)


def hit_rate_at_k(recs: np.typing.ArrayLike, relevance: sp.spmatrix, k: int) -> np.ndarray:
    """1 if any of the top k is relevant, else 0."""
    r, rel = _validate(recs, relevance, k)
    return (lookup_grades(rel, r) > 0).any(axis=1).astype(float)


def reciprocal_rank_at_k(recs: np.typing.ArrayLike, relevance: sp.spmatrix, k: int) -> np.ndarray:
    """1 / rank of the first relevant item within the top k, 0 when there is none."""
    r, rel = _validate(recs, relevance, k)
    hits = lookup_grades(rel, r) > 0
    first = hits.argmax(axis=1)
    return np.where(hits.any(axis=1), 1.0 / (first + 1), 0.0)


def average_precision_at_k(
    recs: np.typing.ArrayLike,
    relevance: sp.spmatrix,
    k: int,
    normalise: Literal["min_k", "n_relevant"] = "min_k",
) -> np.ndarray:
    """Mean of precision@rank over the hit ranks, normalised as documented in the module."""
    r, rel = _validate(recs, relevance, k)
    hits = (lookup_grades(rel, r) > 0).astype(float)
    precision_at_rank = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    n_rel = np.diff(rel.indptr)
    if normalise == "min_k":
        denominator = np.minimum(n_rel, k)
    elif normalise == "n_relevant":
        denominator = n_rel
    else:
        raise ValueError(f"normalise must be 'min_k' or 'n_relevant', got {normalise!r}")
    return (precision_at_rank * hits).sum(axis=1) / denominator


def _ideal_dcg(rel: sp.csr_matrix, k: int, gain: Gain) -> np.ndarray:
    n_users = rel.shape[0]
    rows = np.repeat(np.arange(n_users), np.diff(rel.indptr))
    order = np.lexsort((-rel.data, rows))  # per user, best grade first
    rank = np.arange(len(order)) - rel.indptr[rows[order]]
    keep = rank < k
    weights = _gain(rel.data[order][keep], gain) * discounts(k)[rank[keep]]
    return np.bincount(rows[order][keep], weights=weights, minlength=n_users)


def ndcg_at_k(
    recs: np.typing.ArrayLike, relevance: sp.spmatrix, k: int, gain: Gain = "binary"
) -> np.ndarray:
    """Normalised discounted cumulative gain at k (see the module docstring for gains)."""
    r, rel = _validate(recs, relevance, k)
    dcg = (_gain(lookup_grades(rel, r), gain) * discounts(k)).sum(axis=1)
    return dcg / _ideal_dcg(rel, k, gain)


def catalogue_coverage(recs: np.typing.ArrayLike, n_items: int) -> float:
    """Share of the catalogue that appears in at least one user's list."""
    if n_items < 1:
        raise ValueError("n_items must be positive")
    r = _item_indices(recs, n_items)
    return float(np.unique(r[r >= 0]).size / n_items)


def novelty(recs: np.typing.ArrayLike, item_popularity: np.typing.ArrayLike) -> np.ndarray:
    """Mean self-information -log2(p_i) of each user's recommended items.

    ``item_popularity[i]`` is the share of users who interacted with item i in training.
    Zero popularity has infinite self-information: smooth it before calling.
    """
    pop = np.asarray(item_popularity, dtype=float)
    r = _item_indices(recs, pop.size)
    if np.any(pop <= 0) or np.any(pop > 1):
        raise ValueError("item_popularity must lie in (0, 1]; smooth zero counts, e.g. (c+1)/(n+1)")
    valid = r >= 0
    info = np.where(valid, -np.log2(pop[np.where(valid, r, 0)]), 0.0)
    n_valid = valid.sum(axis=1)
    if np.any(n_valid == 0):
        raise ValueError("a user has an empty recommendation list; novelty is undefined")
    return info.sum(axis=1) / n_valid


def intra_list_diversity(
    recs: np.typing.ArrayLike, item_features: np.typing.ArrayLike
) -> np.ndarray:
    """Mean pairwise cosine distance between each user's recommended items' feature vectors."""
    feats = np.asarray(item_features, dtype=float)
    r = _item_indices(recs, len(feats))
    norms = np.linalg.norm(feats, axis=1, keepdims=True)
    unit = feats / np.where(norms > 0, norms, 1.0)
    valid = r >= 0
    vectors = unit[np.where(valid, r, 0)] * valid[..., None]
    similarity = np.einsum("ukd,ujd->ukj", vectors, vectors)
    n = valid.sum(axis=1)
    pairs = n * (n - 1)
    if np.any(pairs == 0):
        raise ValueError("intra-list diversity needs at least two items per list")
    off_diagonal = similarity.sum(axis=(1, 2)) - np.einsum("ukk->u", similarity)
    return 1.0 - off_diagonal / pairs


def ranking_report(
    recs: np.typing.ArrayLike, relevance: sp.spmatrix, k: int, gain: Gain = "binary"
) -> dict[str, np.ndarray]:
    """All per-user accuracy metrics at k in one pass over the inputs' validation."""
    r, rel = _validate(recs, relevance, k)
    grades = lookup_grades(rel, r)
    hits = grades > 0
    n_rel = np.diff(rel.indptr)
    n_hits = hits.sum(axis=1)
    precision_at_rank = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    first = hits.argmax(axis=1)
    return {
        f"precision@{k}": n_hits / k,
        f"recall@{k}": n_hits / n_rel,
        f"ndcg@{k}": (_gain(grades, gain) * discounts(k)).sum(axis=1) / _ideal_dcg(rel, k, gain),
        f"map@{k}": (precision_at_rank * hits).sum(axis=1) / np.minimum(n_rel, k),
        f"hit_rate@{k}": hits.any(axis=1).astype(float),
        f"mrr@{k}": np.where(hits.any(axis=1), 1.0 / (first + 1), 0.0),
    }
