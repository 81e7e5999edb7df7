"""Our BPR: sampler, update step and whole fit against plain-loop references; determinism."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recsys.models.bpr import BPR, InteractionSet, bpr_step, sample_negatives, scatter_add


def _loop_step(p, q, b, users, positives, negatives, lr, reg):
    """Reference: every triple's gradient from the pre-batch parameters, accumulated in a loop."""
    dp, dq, db = np.zeros_like(p), np.zeros_like(q), np.zeros_like(b)
    for u, i, j in zip(users, positives, negatives, strict=True):
        x = p[u] @ (q[i] - q[j]) + b[i] - b[j]
        g = 1.0 / (1.0 + np.exp(x))  # sigmoid(-x)
        dp[u] += lr * (g * (q[i] - q[j]) - reg * p[u])
        dq[i] += lr * (g * p[u] - reg * q[i])
        dq[j] += lr * (-g * p[u] - reg * q[j])
        db[i] += lr * (g - reg * b[i])
        db[j] += lr * (-g - reg * b[j])
    p += dp
    q += dq
    b += db


def test_bpr_step_equals_the_loop_reference_with_repeated_rows():
    rng = np.random.default_rng(0)
    p, q, b = rng.normal(size=(5, 3)), rng.normal(size=(7, 3)), rng.normal(size=7)
    users = np.array([0, 0, 3, 4, 0, 2])  # repeats on every side
    positives = np.array([1, 1, 2, 6, 5, 1])
    negatives = np.array([3, 4, 1, 1, 1, 0])  # item 1 is a positive and a negative
    expected = [a.copy() for a in (p, q, b)]
    _loop_step(*expected, users, positives, negatives, 0.05, 0.01)
    bpr_step(p, q, b, users, positives, negatives, 0.05, 0.01)
    for got, want in zip((p, q, b), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_scatter_add_equals_add_at():
    rng = np.random.default_rng(1)
    rows = rng.integers(0, 6, size=40)
    values = rng.normal(size=(40, 2))
    target, expected = np.ones((6, 2)), np.ones((6, 2))
    np.add.at(expected, rows, values)
    scatter_add(target, rows, values)
    np.testing.assert_allclose(target, expected, rtol=1e-13)


def test_negatives_are_unseen_and_uniform():
    rng = np.random.default_rng(2)
    train = sp.csr_matrix(np.array([[1, 1, 0, 0, 0], [0, 0, 0, 0, 1], [1, 1, 1, 1, 1]], float))
    seen = InteractionSet(train)
    users = np.repeat([0, 1, 2], 20_000)
    items, ok = sample_negatives(rng, seen, users)
    assert not seen.contains(users[ok], items[ok]).any()
    assert not ok[users == 2].any() and ok[users != 2].all()  # user 2 has seen everything
    counts = np.bincount(items[users == 0], minlength=5)
    assert counts[:2].sum() == 0
    np.testing.assert_allclose(counts[2:] / 20_000, 1 / 3, atol=0.015)  # uniform over unseen


def test_interaction_set_matches_a_python_set():
    rng = np.random.default_rng(3)
    dense = rng.random((8, 9)) < 0.3
    seen = InteractionSet(sp.csr_matrix(dense))
    users, items = rng.integers(0, 8, 100), rng.integers(0, 9, 100)
    expected = [dense[u, i] for u, i in zip(users, items, strict=True)]
    np.testing.assert_array_equal(seen.contains(users, items), expected)
    assert not InteractionSet(sp.csr_matrix((2, 3))).contains(np.array([1]), np.array([2])).any()


def _loop_fit(train, factors, lr, reg, iterations, batch_size, seed, decay=False):
    """Reference fit: the same seeded draws, then every triple updated by the loop step (with
    ``decay``, epoch e uses lr * (1 - e / iterations))."""
    x = sp.csr_matrix(train > 0, dtype=float)
    n_users, n_items = x.shape
    rng = np.random.default_rng(seed)
    p = rng.normal(0.0, 0.01, (n_users, factors))
    q = rng.normal(0.0, 0.01, (n_items, factors))
    b = np.zeros(n_items)
    user_of = np.repeat(np.arange(n_users), np.diff(x.indptr))
    seen = InteractionSet(x)
    for epoch in range(iterations):
        epoch_lr = lr * (1 - epoch / iterations) if decay else lr
        order = rng.permutation(x.nnz)
        for start in range(0, x.nnz, batch_size):
            batch = order[start : start + batch_size]
            users, positives = user_of[batch], x.indices[batch]
            negatives, ok = sample_negatives(rng, seen, users)
            _loop_step(p, q, b, users[ok], positives[ok], negatives[ok], epoch_lr, reg)
    return p, q, b


def test_fit_equals_the_loop_reference_and_is_deterministic(two_blocks):
    train = two_blocks(n_users=12, n_items=8, seed=4)
    params = {"factors": 3, "learning_rate": 0.1, "regularization": 0.01, "iterations": 4}
    model = BPR(**params, batch_size=7, seed=5).fit(train)
    p, q, b = _loop_fit(train, 3, 0.1, 0.01, 4, 7, 5)
    np.testing.assert_allclose(model.user_factors_, p, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(model.item_factors_, q, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(model.item_bias_, b, rtol=1e-10, atol=1e-13)
    again = BPR(**params, batch_size=7, seed=5).fit(train)
    np.testing.assert_array_equal(again.score(np.arange(12)), model.score(np.arange(12)))
    other = BPR(**params, batch_size=7, seed=6).fit(train)
    assert not np.array_equal(other.score(np.arange(12)), model.score(np.arange(12)))


def test_linear_schedule_equals_the_loop_reference(two_blocks):
    train = two_blocks(n_users=12, n_items=8, seed=4)
    params = {"factors": 3, "learning_rate": 0.1, "regularization": 0.01, "iterations": 4}
    model = BPR(**params, batch_size=7, seed=5, lr_schedule="linear").fit(train)
    p, q, b = _loop_fit(train, 3, 0.1, 0.01, 4, 7, 5, decay=True)
    np.testing.assert_allclose(model.user_factors_, p, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(model.item_factors_, q, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(model.item_bias_, b, rtol=1e-10, atol=1e-13)
    constant = BPR(**params, batch_size=7, seed=5).fit(train)
    assert not np.allclose(constant.item_factors_, q)  # the schedule changes the fit
    assert model.epoch_learning_rate(0) == 0.1 and model.epoch_learning_rate(3) == 0.1 / 4
    with pytest.raises(ValueError, match="lr_schedule"):
        BPR(lr_schedule="cosine")
