"""Neighbourhood models (item-kNN, user-kNN, RP3beta) against plain-loop references."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recsys.models import RP3beta, UserKNN, base
from recsys.models.knn import keep_row_top_k


def test_keep_row_top_k_matches_a_loop():
    block = np.random.default_rng(0).random((6, 9))  # continuous: no ties
    got = keep_row_top_k(block, 3).toarray()
    expected = np.zeros_like(block)
    for r in range(6):
        keep = sorted(range(9), key=lambda c: -block[r, c])[:3]
        expected[r, keep] = block[r, keep]
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("budget", [1 << 22, 120], ids=["one block", "blocks of 3 users"])
def test_user_knn_without_pruning_matches_the_loop_formula(budget, two_blocks, monkeypatch):
    monkeypatch.setattr(base, "SCORE_BATCH_ELEMENTS", budget)  # 120 // 40 users: 3 per block
    train = two_blocks(seed=1)
    x = (train.toarray() > 0).astype(float)
    n_users, n_items = x.shape
    norms = np.sqrt(x.sum(axis=1))
    sim = x @ x.T / (np.outer(norms, norms) + 3.0 + 1e-12)
    np.fill_diagonal(sim, 0.0)
    expected = [[sum(sim[u, v] * x[v, i] for v in range(n_users)) for i in range(n_items)]
                for u in range(n_users)]  # fmt: skip
    model = UserKNN(k=n_users, shrinkage=3.0).fit(train)
    np.testing.assert_allclose(model.score(np.arange(n_users)), expected, atol=1e-12)


def test_user_knn_keeps_only_the_k_most_similar_users():
    rng = np.random.default_rng(2)
    train = sp.csr_matrix(rng.random((15, 30)) < 0.4, dtype=float)
    x = train.toarray()
    norms = np.sqrt(x.sum(axis=1))
    sim = x @ x.T / (np.outer(norms, norms) + 0.5 + 1e-12)
    np.fill_diagonal(sim, 0.0)
    model = UserKNN(k=4, shrinkage=0.5).fit(train)
    for u in (0, 7):
        nearest = np.argsort(-sim[u], kind="stable")[:4]
        if sim[u, nearest[-1]] == np.sort(sim[u])[-5]:
            continue  # a tie at the k-th neighbour: either choice is right
        expected = sim[u, nearest] @ x[nearest]
        np.testing.assert_allclose(model.score(np.array([u]))[0], expected, atol=1e-12)


def test_rp3beta_without_pruning_matches_the_random_walk_formula(two_blocks):
    train = two_blocks(seed=2)
    x = (train.toarray() > 0).astype(float)
    n_users, n_items = x.shape
    du, di = x.sum(axis=1), x.sum(axis=0)
    alpha, beta = 0.8, 0.4
    w = np.zeros((n_items, n_items))
    for i in range(n_items):
        for j in range(n_items):
            if i != j and di[j] > 0:
                walk = sum((x[u, i] / di[i]) ** alpha * (x[u, j] / du[u]) ** alpha
                           for u in range(n_users) if x[u, i] and x[u, j])  # fmt: skip
                w[i, j] = walk / di[j] ** beta
    model = RP3beta(alpha=alpha, beta=beta, k=n_items, block_elements=50).fit(train)
    np.testing.assert_allclose(model.weights_.toarray(), w, atol=1e-12)
    np.testing.assert_allclose(model.score(np.arange(3)), x[:3] @ w, atol=1e-12)
