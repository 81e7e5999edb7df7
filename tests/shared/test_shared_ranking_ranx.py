"""Per-user ranking metrics against ranx on random graded data (to 1e-6).

ranx is JIT-compiled with numba (cached in its package folder after the first run), so every
metric and cutoff is evaluated in one module-scoped call.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from mlshared import ranking_metrics as rm

CUTOFFS = (1, 3, 5, 10)
N_USERS, N_ITEMS, WIDTH = 60, 50, 10


def _random_case(seed: int) -> tuple[np.ndarray, sp.csr_matrix]:
    rng = np.random.default_rng(seed)
    rows, cols, vals = [], [], []
    recs = np.full((N_USERS, WIDTH), -1, dtype=np.int64)
    for u in range(N_USERS):
        n_rel = int(rng.integers(1, 16))
        items = rng.choice(N_ITEMS, size=n_rel, replace=False)
        rows += [u] * n_rel
        cols += items.tolist()
        vals += rng.integers(1, 4, size=n_rel).tolist()
        # half the lists are padded with -1; rankings draw relevant items more often
        length = WIDTH if u % 2 else int(rng.integers(1, WIDTH + 1))
        weights = np.ones(N_ITEMS)
        weights[items] = 4.0
        recs[u, :length] = rng.choice(
            N_ITEMS, size=length, replace=False, p=weights / weights.sum()
        )
    relevance = sp.csr_matrix((vals, (rows, cols)), shape=(N_USERS, N_ITEMS), dtype=float)
    return recs, relevance


@pytest.fixture(scope="module")
def ranx_results():
    ranx = pytest.importorskip("ranx")
    recs, relevance = _random_case(seed=11)
    uid = [f"u{u:03d}" for u in range(N_USERS)]
    graded = {
        uid[u]: {
            f"i{i}": int(g)
            for i, g in zip(relevance.getrow(u).indices, relevance.getrow(u).data, strict=True)
        }
        for u in range(N_USERS)
    }
    binary = {q: dict.fromkeys(docs, 1) for q, docs in graded.items()}
    run = {
        uid[u]: {f"i{i}": float(WIDTH - rank) for rank, i in enumerate(recs[u]) if i >= 0}
        for u in range(N_USERS)
    }
    metrics = [
        f"{m}@{k}"
        for k in CUTOFFS
        for m in ("precision", "recall", "ndcg", "ndcg_burges", "map", "mrr", "hit_rate")
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numba type-safety chatter
        run_obj = ranx.Run(run)
        graded_scores = ranx.evaluate(
            ranx.Qrels(graded), run_obj, metrics, return_mean=False, make_comparable=False
        )
        binary_scores = ranx.evaluate(
            ranx.Qrels(binary), run_obj, [f"ndcg@{k}" for k in CUTOFFS], return_mean=False
        )
    # ranx orders queries by id; ours are zero-padded so that is user order
    return recs, relevance, graded_scores, binary_scores


OURS = {
    "precision": lambda r, rel, k: rm.precision_at_k(r, rel, k),
    "recall": lambda r, rel, k: rm.recall_at_k(r, rel, k),
    "ndcg": lambda r, rel, k: rm.ndcg_at_k(r, rel, k, gain="linear"),
    "ndcg_burges": lambda r, rel, k: rm.ndcg_at_k(r, rel, k, gain="exponential"),
    "map": lambda r, rel, k: rm.average_precision_at_k(r, rel, k, normalise="n_relevant"),
    "mrr": lambda r, rel, k: rm.reciprocal_rank_at_k(r, rel, k),
    "hit_rate": lambda r, rel, k: rm.hit_rate_at_k(r, rel, k),
}


@pytest.mark.parametrize("k", CUTOFFS)
@pytest.mark.parametrize("metric", sorted(OURS))
def test_per_user_metrics_match_ranx(ranx_results, metric: str, k: int) -> None:
    recs, relevance, graded_scores, _ = ranx_results
    ours = OURS[metric](recs, relevance, k)
    theirs = np.asarray(graded_scores[f"{metric}@{k}"])
    assert theirs.shape == (N_USERS,)
    np.testing.assert_allclose(ours, theirs, atol=1e-6, rtol=0)
    # the comparison is informative: the metric varies across users
    assert np.ptp(theirs) > 0 or metric == "hit_rate"


@pytest.mark.parametrize("k", CUTOFFS)
def test_binary_ndcg_matches_ranx_on_binarised_qrels(ranx_results, k: int) -> None:
    recs, relevance, _, binary_scores = ranx_results
    ours = rm.ndcg_at_k(recs, relevance, k, gain="binary")
    np.testing.assert_allclose(ours, np.asarray(binary_scores[f"ndcg@{k}"]), atol=1e-6, rtol=0)


def test_random_case_exercises_padding_and_graded_relevance(ranx_results) -> None:
    recs, relevance, _, _ = ranx_results
    assert np.any(recs == -1)
    assert set(np.unique(relevance.data)) == {1.0, 2.0, 3.0}
    # some users have more relevant items than the list length, some fewer
    n_rel = np.diff(relevance.indptr)
    assert n_rel.min() < WIDTH < n_rel.max()
