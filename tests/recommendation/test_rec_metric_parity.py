"""Metric parity (1e-6) of our pipeline's metrics with ranx and with microsoft/recommenders.

Recommendations come from our own ``top_k`` on random scores; relevance is a random graded
split, so the comparison covers users with fewer and more than K relevant items.
recommenders is used as the real package (installed with ``--no-deps``: its evaluation module
imports cleanly), and its documented formulas are also re-implemented below as plain loops.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from mlshared.ranking_metrics import average_precision_at_k, ranking_report
from recsys.models import top_k

K = 10


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(7)
    n_users, n_items = 60, 80
    seen = sp.random(n_users, n_items, density=0.2, random_state=1, format="csr")
    grades = (rng.random((n_users, n_items)) < 0.15) * rng.integers(1, 6, (n_users, n_items))
    grades[seen.toarray() > 0] = 0
    grades[np.arange(n_users), rng.integers(0, n_items, n_users)] += 3  # >= 1 relevant each
    grades[seen.toarray() > 0] = 0
    keep = grades.sum(axis=1) > 0
    relevance = sp.csr_matrix(grades[keep].astype(float))
    scores = rng.random((keep.sum(), n_items))
    recs = top_k(scores, K, seen[keep])
    return recs, relevance


def test_parity_with_ranx(case):
    ranx = pytest.importorskip("ranx")
    recs, relevance = case
    qrels = ranx.Qrels(
        {
            f"u{u}": {f"i{i}": int(relevance[u, i]) for i in relevance[u].indices}
            for u in range(len(recs))
        }
    )
    run = ranx.Run(
        {
            f"u{u}": {f"i{i}": float(K - r) for r, i in enumerate(row) if i >= 0}
            for u, row in enumerate(recs)
        }
    )
    names = [f"{m}@{K}" for m in ("precision", "recall", "ndcg", "map", "mrr", "hit_rate")]
    ranx.evaluate(qrels, run, names)
    ours = ranking_report(recs, relevance, K, gain="linear")  # ranx ndcg = linear (graded) gain
    ours[f"map@{K}"] = average_precision_at_k(recs, relevance, K, normalise="n_relevant")
    for name in names:
        theirs = np.array([run.scores[name][f"u{u}"] for u in range(len(recs))])
        np.testing.assert_allclose(ours[name], theirs, atol=1e-6, err_msg=name)


def _frames(recs, relevance):
    users, items = relevance.nonzero()
    truth = pd.DataFrame({"userID": users, "itemID": items, "rating": relevance.data})
    rows = [(u, i, float(K - r)) for u, row in enumerate(recs) for r, i in enumerate(row) if i >= 0]
    pred = pd.DataFrame(rows, columns=["userID", "itemID", "prediction"])
    return truth, pred


def test_parity_with_recommenders_package(case):
    pytest.importorskip("recommenders")
    from recommenders.evaluation import python_evaluation as pe

    recs, relevance = case
    truth, pred = _frames(recs, relevance)
    ours = {m: v.mean() for m, v in ranking_report(recs, relevance, K).items()}  # binary gain
    assert abs(pe.precision_at_k(truth, pred, k=K) - ours[f"precision@{K}"]) < 1e-6
    assert abs(pe.recall_at_k(truth, pred, k=K) - ours[f"recall@{K}"]) < 1e-6
    assert abs(pe.ndcg_at_k(truth, pred, k=K) - ours[f"ndcg@{K}"]) < 1e-6
    assert abs(pe.map_at_k(truth, pred, k=K) - ours[f"map@{K}"]) < 1e-6


def test_parity_with_recommenders_formulas_written_out(case):
    """recommenders' documented definitions, as loops: P = hits/k, R = hits/|rel|,
    NDCG binary with IDCG over min(|rel|, k), MAP@k = sum(precision at hits) / min(|rel|, k)."""
    recs, relevance = case
    ours = ranking_report(recs, relevance, K)
    for u, row in enumerate(recs):
        rel = set(relevance[u].indices)
        hits = [1.0 if i in rel else 0.0 for i in row if i >= 0]
        hits += [0.0] * (K - len(hits))
        dcg = sum(h / np.log2(r + 2) for r, h in enumerate(hits))
        idcg = sum(1 / np.log2(r + 2) for r in range(min(len(rel), K)))
        ap = sum(sum(hits[: r + 1]) / (r + 1) for r in range(K) if hits[r]) / min(len(rel), K)
        assert ours[f"precision@{K}"][u] == pytest.approx(sum(hits) / K, abs=1e-12)
        assert ours[f"recall@{K}"][u] == pytest.approx(sum(hits) / len(rel), abs=1e-12)
        assert ours[f"ndcg@{K}"][u] == pytest.approx(dcg / idcg, abs=1e-12)
        assert ours[f"map@{K}"][u] == pytest.approx(ap, abs=1e-12)
