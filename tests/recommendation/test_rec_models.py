"""Each model on a toy problem with a known answer; vectorised paths equal loop references."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pandas as pd
import pytest
import scipy.linalg
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys.data import synthetic_movielens
from recsys.models import (
    BPR,
    EASE,
    ContentTFIDF,
    ExplicitMF,
    Hybrid,
    ImplicitALS,
    ImplicitBPR,
    ItemKNN,
    MostPopular,
    Random,
    RP3beta,
    UserKNN,
    base,
    memory,
    top_k,
)
from recsys.models.base import binarize, cooccurrence, training_key
from recsys.models.ease import symmetric_inverse_inplace
from recsys.models.memory import (
    GIB,
    InsufficientMemoryError,
    available_memory_bytes,
    require_memory,
)
from recsys.models.mf import _solve_side
from recsys.models.registry import MODEL_NAMES, make_model


def _csr(rows):
    return sp.csr_matrix(np.array(rows, dtype=float))


def test_top_k_matches_loop_with_ties_and_exclusion():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 4, size=(30, 12)).astype(float)  # many ties
    exclude = sp.random(30, 12, density=0.3, random_state=1, format="csr")
    got = top_k(scores, 5, exclude)
    for u in range(30):
        seen = set(exclude[u].indices)
        ranked = sorted((i for i in range(12) if i not in seen), key=lambda i: (-scores[u, i], i))
        expected = (ranked + [-1] * 5)[:5]
        assert got[u].tolist() == expected


def _top_k_by_full_sort(scores, k, exclude=None):
    """The previous implementation: a stable full sort of every row (the reference)."""
    scores = np.array(scores, dtype=np.float64, copy=True)
    if exclude is not None:
        rows, cols = exclude.nonzero()
        scores[rows, cols] = -np.inf
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    order[~np.isfinite(np.take_along_axis(scores, order, axis=1))] = -1
    return order


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    shape=st.tuples(st.integers(1, 6), st.integers(1, 12)),
    k=st.integers(1, 14),
    levels=st.integers(1, 4),
)
def test_top_k_selection_equals_a_full_sort_ties_included(seed, shape, k, levels):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, levels, size=shape).astype(float)  # few levels: ties everywhere
    scores[rng.random(shape) < 0.1] = np.nan  # NaN ranks like an excluded item
    scores[rng.random(shape) < 0.1] = -np.inf
    exclude = sp.csr_matrix(rng.random(shape) < 0.3)
    np.testing.assert_array_equal(
        top_k(scores, k, exclude), _top_k_by_full_sort(scores, k, exclude)
    )


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_recommend_holds_one_batch_of_scores_whatever_the_model(name, monkeypatch):
    """Batched lists equal one big batch, in at most 48 bytes per batch score (the stated bound).

    More users than items: UserKNN's similarities (batch x users) are the widest block.
    """
    data = synthetic_movielens(1_500, 200, seed=3)
    train, users = data.rating_matrix(), np.arange(data.n_users)
    params = {"iterations": 2} if name in {"ALS", "BPR", "ImplicitBPR", "ExplicitMF"} else {}
    model = make_model(name, data.items, **params).fit(train)
    whole = model.recommend(users, 10, exclude=train, batch_size=users.size)
    monkeypatch.setattr(base, "SCORE_BATCH_ELEMENTS", 1 << 15)  # 163 users per batch
    tracemalloc.start()
    try:
        batched = model.recommend(users, 10, exclude=train)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(batched, whole)
    assert peak - batched.nbytes < 48 * base.SCORE_BATCH_ELEMENTS < 8 * users.size * 200


def test_most_popular_ranks_by_count():
    train = _csr([[1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 1, 0]])
    recs = MostPopular().fit(train).recommend(np.array([0, 1]), k=2, exclude=train)
    assert recs.tolist() == [[2, 3], [1, 2]]


def test_item_knn_matches_loop_reference(two_blocks):
    train = two_blocks()
    n_items = train.shape[1]
    model = ItemKNN(k=n_items, shrinkage=2.0).fit(train)  # no pruning: exact comparison
    x = (train.toarray() > 0).astype(float)
    co = x.T @ x
    n = np.diag(co)
    sim = co / (np.sqrt(np.outer(n, n)) + 2.0 + 1e-12)
    np.fill_diagonal(sim, 0)
    expected = np.array(
        [[sum(sim[i, j] for i in np.flatnonzero(x[u])) for j in range(n_items)] for u in range(40)]
    )
    np.testing.assert_allclose(model.score(np.arange(40)), expected, atol=1e-12)


def test_ease_matches_per_column_constrained_least_squares(two_blocks):
    train = two_blocks(seed=3)
    lam = 5.0
    b = EASE(l2=lam).fit(train).weights_
    x = (train.toarray() > 0).astype(float)
    g = x.T @ x
    for j in range(x.shape[1]):  # loop reference: regress column j on all other columns
        others = [i for i in range(x.shape[1]) if i != j]
        coef = np.linalg.solve(g[np.ix_(others, others)] + lam * np.eye(len(others)), g[others, j])
        np.testing.assert_allclose(b[others, j], coef, atol=1e-8)
        assert b[j, j] == 0


@pytest.mark.parametrize(
    "model",
    [
        ItemKNN(k=10),
        EASE(l2=1.0),
        ImplicitALS(factors=4, regularization=0.1, iterations=10),
        BPR(factors=8, iterations=200, learning_rate=0.05),
        ImplicitBPR(factors=8, iterations=200, learning_rate=0.05),
        UserKNN(k=10),
        RP3beta(k=10),
    ],
    ids=lambda m: m.name,
)
def test_collaborative_models_recommend_within_block(model, two_blocks):
    train = two_blocks()
    recs = model.fit(train).recommend(np.arange(40), k=2, exclude=train)
    block_of_item = recs // 10
    block_of_user = (np.arange(40) // 20)[:, None]
    assert np.mean(block_of_item == block_of_user) >= 0.9


def test_solve_side_matches_loop():
    rng = np.random.default_rng(0)
    ind = sp.random(15, 12, density=0.4, random_state=2, format="csr")
    ind.data[:] = 1.0
    targets = ind.copy()
    targets.data = rng.normal(size=targets.nnz)
    feats = rng.normal(size=(12, 4))
    got = _solve_side(ind, targets, feats, l2=0.3)
    for r in range(15):
        cols = ind[r].indices
        a = feats[cols].T @ feats[cols] + 0.3 * max(len(cols), 1) * np.eye(4)
        rhs = feats[cols].T @ targets[r].toarray().ravel()[cols]
        np.testing.assert_allclose(got[r], np.linalg.solve(a, rhs), atol=1e-10)


def test_explicit_mf_fits_a_low_rank_matrix():
    rng = np.random.default_rng(1)
    truth = np.clip(3 + rng.normal(size=(60, 2)) @ rng.normal(size=(2, 50)), 1, 5)
    mask = rng.random(truth.shape) < 0.6
    train = sp.csr_matrix(np.where(mask, truth, 0))
    test = sp.csr_matrix(np.where(~mask, truth, 0))
    model = ExplicitMF(factors=2, l2=0.01, iterations=30).fit(train)
    baseline = np.sqrt(np.mean((truth[~mask] - truth[mask].mean()) ** 2))
    assert model.rmse(test) < 0.5 * baseline


def _items():
    return pd.DataFrame(
        {
            "item_id": [1, 2, 3, 4],
            "title": ["Space War", "Space War II", "Love Story", "Love Again"],
            "genres": ["Sci-Fi", "Sci-Fi", "Romance", "Romance"],
            "tags": ["", "", "", ""],
        }
    )


def _items20():
    """Twenty items in two genre blocks matching the ``two_blocks`` fixture."""
    return pd.DataFrame(
        {
            "item_id": np.arange(20),
            "title": [f"Film {i}" for i in range(20)],
            "genres": ["Drama"] * 10 + ["Comedy"] * 10,
            "tags": [""] * 20,
        }
    )


def test_content_model_follows_the_users_taste():
    train = _csr([[5, 0, 0, 0], [0, 0, 5, 0]])
    recs = ContentTFIDF(_items()).fit(train).recommend(np.array([0, 1]), k=1, exclude=train)
    assert recs.ravel().tolist() == [1, 3]


def test_hybrid_serves_cold_items_and_cold_users():
    # Item 1 (a Sci-Fi sequel) has no ratings at all; user 3 has no history.
    train = _csr([[5, 0, 0, 0], [0, 0, 4, 5], [4, 0, 5, 5], [0, 0, 0, 0]])
    model = Hybrid(EASE(l2=1.0), ContentTFIDF(_items()), cf_weight=0.9, beta=2.0).fit(train)
    cf_only = EASE(l2=1.0).fit(train)
    user0 = model.recommend(np.array([0]), k=1, exclude=train)[0, 0]
    assert user0 == 1  # content lifts the unseen sequel for the Sci-Fi fan
    assert cf_only.score(np.array([0]))[0, 1] == 0  # CF alone cannot score a cold item
    cold = model.recommend(np.array([3]), k=4)[0]
    counts = np.asarray((train != 0).sum(axis=0)).ravel()
    assert cold.tolist() == sorted(range(4), key=lambda i: (-counts[i], i))


@pytest.mark.parametrize("order", ["C", "F"])
def test_symmetric_inverse_inplace_matches_scipy_inv_in_the_same_memory(order):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(33, 30))
    gram = a.T @ a + 0.5 * np.eye(30)
    expected = scipy.linalg.inv(gram)
    work = np.array(gram, order=order)
    got = symmetric_inverse_inplace(work)
    assert got is work
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_symmetric_inverse_refuses_what_it_cannot_invert():
    with pytest.raises(
        np.linalg.LinAlgError, match=r"singular \(pivot 1 is zero\); increase the l2 penalty"
    ):
        symmetric_inverse_inplace(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="contiguous float64"):
        symmetric_inverse_inplace(np.eye(3, dtype=np.float32))


def test_ease_equals_the_dense_inverse_formula(two_blocks):
    """The in-place Cholesky fit against B = I - P diagMat(1/diag P) with scipy.linalg.inv."""
    train = two_blocks(seed=5)
    x = (train.toarray() > 0).astype(float)
    p = scipy.linalg.inv(x.T @ x + 3.0 * np.eye(x.shape[1]))
    expected = np.eye(x.shape[1]) - p / np.diag(p)[None, :]
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(EASE(l2=3.0).fit(train).weights_, expected, atol=1e-12)


@pytest.mark.parametrize("block_elements", [1, 37, 1 << 22])
def test_cooccurrence_in_blocks_equals_the_sparse_product(block_elements, two_blocks):
    x = binarize(two_blocks(seed=6))
    expected = (x.T @ x).toarray()
    np.testing.assert_array_equal(cooccurrence(x, block_elements), expected)


def test_require_memory_names_the_need_the_limit_and_the_alternative(monkeypatch):
    require_memory(10.0, "X", "do Y", available=10)  # fits exactly: no error
    monkeypatch.setattr(memory, "available_memory_bytes", lambda: None)
    require_memory(1e30, "X", "do Y")  # unknown memory: no check
    monkeypatch.setattr(memory, "available_memory_bytes", lambda: 100)
    with pytest.raises(InsufficientMemoryError, match="do Y"):
        require_memory(101, "X", "do Y")  # the machine's figure is the default limit
    monkeypatch.undo()
    with pytest.raises(InsufficientMemoryError, match=r"X needs about 2\.0 GiB but only 1\.0 GiB"):
        require_memory(2 * GIB, "X", "do Y", available=GIB)
    with pytest.raises(InsufficientMemoryError, match=r"X needs about 1\.5 GiB but only 2\.5 MiB"):
        require_memory(1.5 * GIB, "X", "do Y", available=5 * 2**19)
    assert isinstance(InsufficientMemoryError("m"), MemoryError)
    assert (available_memory_bytes() or 1) > 0


@pytest.mark.parametrize(
    ("model", "need"),
    [(EASE(l2=1.0), "EASE holds a dense 20 x 20"), (ItemKNN(k=5), "ItemKNN builds five dense")],
    ids=["EASE", "ItemKNN"],
)
def test_item_item_models_refuse_before_allocating(model, need, two_blocks):
    train = two_blocks()
    model.memory_limit = 8 * 20 * 20 - 1  # one byte short of a single 20 x 20 float64 matrix
    with pytest.raises(InsufficientMemoryError, match=need) as info:
        model.fit(train)
    assert "Use ALS or BPR" in str(info.value)
    assert not hasattr(model, "train_")  # refused up front, nothing fitted
    model.memory_limit = None
    assert model.fit(train).recommend(np.arange(2), k=2).shape == (2, 2)


def test_hybrids_share_one_ease_fit_per_dataset(monkeypatch, two_blocks):
    fits = []
    original = EASE.fit
    monkeypatch.setattr(EASE, "fit", lambda self, train: fits.append(1) or original(self, train))
    train, other = two_blocks(seed=1), two_blocks(seed=2)
    shared = EASE(l2=1.0)
    hybrids = [Hybrid(shared, ContentTFIDF(_items20()), cf_weight=w) for w in (0.5, 0.9, 1.0)]
    scores = [h.fit(train).score(np.arange(3)) for h in hybrids]
    assert len(fits) == 1  # the grid over the blend fitted the inverse once
    fresh = Hybrid(EASE(l2=1.0), ContentTFIDF(_items20()), cf_weight=1.0).fit(train)
    np.testing.assert_allclose(scores[2], fresh.score(np.arange(3)))
    hybrids[0].fit(other)  # new data: the shared EASE is refitted ...
    assert len(fits) == 3
    with pytest.raises(RuntimeError, match="refitted on other data"):
        hybrids[1].score(np.arange(3))  # ... so a hybrid fitted on the old data refuses to score
    shared.l2 = 2.0
    hybrids[0].fit(other)  # new parameters refit too
    assert len(fits) == 4


def test_training_key_changes_with_any_entry(two_blocks):
    train = two_blocks(seed=1)
    changed = train.copy()
    changed.data[0] = 2.0
    assert training_key(train) == training_key(train.copy())
    assert training_key(train) != training_key(changed)
    assert training_key(train) != training_key(train[:, :-1])


def test_random_scores_are_fixed_per_cell_and_uniform():
    train = sp.csr_matrix((300, 50))
    model = Random(seed=3).fit(train)
    scores = model.score(np.arange(300))
    np.testing.assert_array_equal(model.score(np.array([7, 2]))[0], scores[7])  # batch-free
    assert not np.array_equal(Random(seed=4).fit(train).score(np.arange(300)), scores)
    assert scores.mean() == pytest.approx(0.5, abs=0.01)
    first = model.recommend(np.arange(300), k=1)[:, 0]
    assert np.bincount(first, minlength=50).max() < 20  # no item dominates the top slot
    assert MostPopular().fit(train).recommend(np.arange(2), k=1).tolist() == [[0], [0]]
