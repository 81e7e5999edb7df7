"""The run-time cross-checks of evaluation: scikit-learn's NDCG on our lists, seen items listed."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from mlshared.ranking_metrics import ndcg_at_k
from recsys.evaluation import seen_in_lists, sklearn_ndcg
from recsys.models import top_k

K = 10


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(11)
    n_users, n_items = 50, 70
    grades = (rng.random((n_users, n_items)) < 0.1) * rng.integers(1, 6, (n_users, n_items))
    grades[np.arange(n_users), rng.integers(0, n_items, n_users)] = 4  # >= 1 relevant each
    relevance = sp.csr_matrix(grades.astype(float))
    recs = top_k(rng.random((n_users, n_items)), K)
    return recs, relevance


def test_sklearn_ndcg_equals_ours_and_batches_do_not_matter(case):
    recs, relevance = case
    ours = ndcg_at_k(recs, relevance, K).mean()
    for batch_rows in (1, 7, 1000):
        reference, used = sklearn_ndcg(recs, relevance, K, batch_rows)
        assert used.all()
        assert reference == pytest.approx(ours, abs=1e-12)


def test_sklearn_ndcg_sees_a_wrong_list(case):
    recs, relevance = case
    reversed_lists = recs[:, ::-1].copy()
    reference, _ = sklearn_ndcg(reversed_lists, relevance, K)
    assert abs(reference - ndcg_at_k(recs, relevance, K).mean()) > 1e-3


def test_sklearn_ndcg_leaves_out_padded_lists(case):
    recs, relevance = case
    padded = recs.copy()
    padded[[3, 8], -2:] = -1
    reference, used = sklearn_ndcg(padded, relevance, K)
    assert used.sum() == len(recs) - 2 and not used[3] and not used[8]
    assert reference == pytest.approx(ndcg_at_k(padded, relevance, K)[used].mean(), abs=1e-12)
    with pytest.raises(ValueError, match="no list has k items"):
        sklearn_ndcg(np.full((2, K), -1), relevance[:2], K)


def test_seen_in_lists_counts_listed_training_items():
    seen = sp.csr_matrix(np.array([[1, 0, 1, 0], [0, 0, 0, 1]], dtype=float))
    recs = np.array([[2, 1, 0], [3, -1, -1]])
    assert seen_in_lists(recs, seen) == 3  # user 0: items 2 and 0; user 1: item 3
    assert seen_in_lists(top_k(np.ones((2, 4)), 2, seen), seen) == 0
