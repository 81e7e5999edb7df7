"""Ranking metrics: worked examples, hand-computed cases, invariants and input validation.

The comparison against ranx on random data lives in ``test_shared_ranking_ranx.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlshared import ranking_metrics as rm

SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])

PER_USER = {
    "precision": rm.precision_at_k,
    "recall": rm.recall_at_k,
    "hit_rate": rm.hit_rate_at_k,
    "mrr": rm.reciprocal_rank_at_k,
    "ap_min_k": lambda r, rel, k: rm.average_precision_at_k(r, rel, k, normalise="min_k"),
    "ap_n_rel": lambda r, rel, k: rm.average_precision_at_k(r, rel, k, normalise="n_relevant"),
    "ndcg_binary": lambda r, rel, k: rm.ndcg_at_k(r, rel, k, gain="binary"),
    "ndcg_linear": lambda r, rel, k: rm.ndcg_at_k(r, rel, k, gain="linear"),
    "ndcg_exp": lambda r, rel, k: rm.ndcg_at_k(r, rel, k, gain="exponential"),
}


def _relevance(rows: list[dict[int, float]], n_items: int) -> sp.csr_matrix:
    """CSR relevance matrix from one {item: grade} dict per user."""
    r = [u for u, row in enumerate(rows) for _ in row]
    c = [i for row in rows for i in row]
    v = [g for row in rows for g in row.values()]
    return sp.csr_matrix((v, (r, c)), shape=(len(rows), n_items))


def _dcg(gains: list[float]) -> float:
    return sum(g / np.log2(i + 2) for i, g in enumerate(gains))


# --------------------------------------------------------------------------------------------
# Wikipedia's DCG / NDCG worked example
# https://en.wikipedia.org/wiki/Discounted_cumulative_gain#Example
# Six retrieved documents D1..D6 with grades 3, 2, 3, 0, 1, 2. DCG uses rel_i / log2(i + 1).
# --------------------------------------------------------------------------------------------

WIKI_GRADES = [3, 2, 3, 0, 1, 2]


def test_wikipedia_dcg6_matches_article_definition() -> None:
    # Term by term as in the article's table: 3, 1.262, 1.5, 0, 0.431, 0.712.
    terms = [g / np.log2(i + 1) for i, g in enumerate(WIKI_GRADES, start=1)]
    np.testing.assert_allclose(terms, [3, 1.262, 1.5, 0, 0.387, 0.712], atol=5e-4)
    assert _dcg(WIKI_GRADES) == pytest.approx(6.861, abs=5e-4)
    # and the library's DCG numerator: NDCG times the ideal DCG of the user's own grades
    grades = {i: g for i, g in enumerate(WIKI_GRADES) if g > 0}
    recs = np.array([[0, 1, 2, 3, 4, 5]])
    ndcg = rm.ndcg_at_k(recs, _relevance([grades], n_items=6), 6, gain="linear")[0]
    assert ndcg * _dcg([3, 3, 2, 2, 1]) == pytest.approx(6.861, abs=5e-4)


def test_wikipedia_ndcg_with_articles_ideal_list() -> None:
    """The article adds two unretrieved relevant documents D7 (grade 3) and D8 (grade 2).

    Its ideal list is then 3, 3, 3, 2, 2, 2 (IDCG6 = 8.740, NDCG6 = 0.785). Our IDCG ranks the
    user's own relevant grades, so the user's relevance row holds all eight documents
    (D4 has grade 0, i.e. not stored) and the ideal list is the same 3, 3, 3, 2, 2, 2.
    """
    assert _dcg([3, 3, 3, 2, 2, 2]) == pytest.approx(8.740, abs=5e-4)
    # items 0..5 = D1..D6 (the ranking), items 6, 7 = D7, D8 (relevant, not retrieved)
    grades = {i: g for i, g in enumerate(WIKI_GRADES) if g > 0} | {6: 3, 7: 2}
    relevance = _relevance([grades], n_items=10)
    recs = np.array([[0, 1, 2, 3, 4, 5]])
    ndcg = rm.ndcg_at_k(recs, relevance, 6, gain="linear")
    assert ndcg[0] == pytest.approx(6.8611 / 8.7403, abs=1e-4)
    assert ndcg[0] == pytest.approx(0.785, abs=5e-4)


def test_wikipedia_ndcg_with_only_retrieved_documents_relevant() -> None:
    """Without D7 and D8 the user's own grades are 3, 3, 2, 2, 1 (+ the 0): IDCG6 = 7.141.

    This is the ideal list our IDCG uses when only the six retrieved documents are known.
    """
    grades = {i: g for i, g in enumerate(WIKI_GRADES) if g > 0}
    relevance = _relevance([grades], n_items=6)
    recs = np.array([[0, 1, 2, 3, 4, 5]])
    idcg = _dcg([3, 3, 2, 2, 1, 0])
    assert idcg == pytest.approx(7.1410, abs=1e-4)
    ndcg = rm.ndcg_at_k(recs, relevance, 6, gain="linear")
    assert ndcg[0] == pytest.approx(_dcg(WIKI_GRADES) / idcg, abs=1e-9)
    assert ndcg[0] == pytest.approx(0.9608, abs=1e-4)
    # exponential gains (2^rel - 1): DCG 7, 3, 7, 0, 1, 3 over the ideal 7, 7, 3, 3, 1
    expected = _dcg([7, 3, 7, 0, 1, 3]) / _dcg([7, 7, 3, 3, 1])
    assert rm.ndcg_at_k(recs, relevance, 6, gain="exponential")[0] == pytest.approx(expected)


# --------------------------------------------------------------------------------------------
# Hand-computed cases
# --------------------------------------------------------------------------------------------


def test_ap_min_k_matches_recommenders_map_at_k_by_hand() -> None:
    # user 0: 6 relevant items {0..5}, list [0, 10, 1, 11, 2], hits at ranks 1, 3, 5
    # sum of precision at hits = 1 + 2/3 + 3/5 = 2.2667
    # min_k: / min(6, 5) = 0.45333 (recommenders map_at_k); n_relevant: / 6 = 0.37778 (ranx)
    relevance = _relevance([{i: 1 for i in range(6)}], n_items=20)
    recs = np.array([[0, 10, 1, 11, 2]])
    total = 1 + 2 / 3 + 3 / 5
    ap_min_k = rm.average_precision_at_k(recs, relevance, 5)
    ap_n_rel = rm.average_precision_at_k(recs, relevance, 5, normalise="n_relevant")
    assert ap_min_k[0] == pytest.approx(total / 5)
    assert ap_n_rel[0] == pytest.approx(total / 6)
    assert rm.precision_at_k(recs, relevance, 5)[0] == pytest.approx(3 / 5)
    assert rm.recall_at_k(recs, relevance, 5)[0] == pytest.approx(3 / 6)
    # at k=3 only the first three columns count: hits at 1 and 3
    assert rm.average_precision_at_k(recs, relevance, 3)[0] == pytest.approx((1 + 2 / 3) / 3)


def test_user_with_fewer_relevant_items_than_k() -> None:
    # 2 relevant items {3, 7}; list [1, 3, 2, 7, 9]: hits at ranks 2 and 4
    relevance = _relevance([{3: 1, 7: 1}], n_items=10)
    recs = np.array([[1, 3, 2, 7, 9]])
    assert rm.precision_at_k(recs, relevance, 5)[0] == pytest.approx(2 / 5)
    assert rm.recall_at_k(recs, relevance, 5)[0] == pytest.approx(1.0)
    assert rm.hit_rate_at_k(recs, relevance, 5)[0] == 1.0
    assert rm.reciprocal_rank_at_k(recs, relevance, 5)[0] == pytest.approx(1 / 2)
    # AP: (1/2 + 2/4) / min(2, 5) = 0.5, the same with n_relevant
    assert rm.average_precision_at_k(recs, relevance, 5)[0] == pytest.approx(0.5)
    ndcg = rm.ndcg_at_k(recs, relevance, 5)[0]
    assert ndcg == pytest.approx((1 / np.log2(3) + 1 / np.log2(5)) / (1 + 1 / np.log2(3)))
    # a perfect list for this user: precision stays 2/5 < 1 (divides by k), the rest are 1
    perfect = np.array([[3, 7, 0, 1, 2]])
    assert rm.precision_at_k(perfect, relevance, 5)[0] == pytest.approx(2 / 5)
    for name in ("recall", "hit_rate", "mrr", "ap_min_k", "ndcg_binary"):
        assert PER_USER[name](perfect, relevance, 5)[0] == pytest.approx(1.0), name


def test_miss_gives_zero_everywhere() -> None:
    relevance = _relevance([{0: 2}], n_items=5)
    recs = np.array([[1, 2, 3]])
    for name, fn in PER_USER.items():
        assert fn(recs, relevance, 3)[0] == 0.0, name


def test_padding_is_never_a_hit_and_counts_as_a_miss() -> None:
    # user 0's relevant item is the last item (n_items - 1). The sorted-key lookup maps
    # user 1's padding (-1) onto exactly that key, so this guards the padding mask.
    n_items = 6
    relevance = _relevance([{n_items - 1: 1}, {2: 1, 4: 1}], n_items)
    recs = np.array([[5, -1, -1], [-1, -1, -1]])
    assert rm.hit_rate_at_k(recs, relevance, 3).tolist() == [1.0, 0.0]
    recs = np.array([[5, -1, -1], [2, -1, -1]])
    np.testing.assert_allclose(rm.precision_at_k(recs, relevance, 3), [1 / 3, 1 / 3])
    np.testing.assert_allclose(rm.recall_at_k(recs, relevance, 3), [1.0, 0.5])
    np.testing.assert_allclose(rm.average_precision_at_k(recs, relevance, 3), [1.0, 0.5])


def test_k_below_list_length_uses_only_the_first_k_columns() -> None:
    relevance = _relevance([{4: 1}], n_items=6)
    recs = np.array([[0, 1, 4, 4]])  # the duplicate beyond k=3 is outside the evaluated prefix
    assert rm.hit_rate_at_k(recs, relevance, 2)[0] == 0.0
    assert rm.reciprocal_rank_at_k(recs, relevance, 3)[0] == pytest.approx(1 / 3)


def test_graded_ndcg_by_hand() -> None:
    # grades {0: 3, 1: 1, 2: 2}; list [1, 5, 0], k=3
    relevance = _relevance([{0: 3, 1: 1, 2: 2}], n_items=6)
    recs = np.array([[1, 5, 0]])
    lin = (1 + 0 + 3 / 2) / (3 + 2 / np.log2(3) + 1 / 2)
    exp = (1 + 0 + 7 / 2) / (7 + 3 / np.log2(3) + 1 / 2)
    binary = (1 + 0 + 1 / 2) / (1 + 1 / np.log2(3) + 1 / 2)
    assert rm.ndcg_at_k(recs, relevance, 3, gain="linear")[0] == pytest.approx(lin)
    assert rm.ndcg_at_k(recs, relevance, 3, gain="exponential")[0] == pytest.approx(exp)
    assert rm.ndcg_at_k(recs, relevance, 3)[0] == pytest.approx(binary)
    # the ideal DCG is truncated at k: at k=1 the ideal is the grade-3 item alone
    assert rm.ndcg_at_k(recs, relevance, 1, gain="linear")[0] == pytest.approx(1 / 3)


def test_ranking_report_matches_individual_functions() -> None:
    rng = np.random.default_rng(3)
    n_users, n_items, k = 30, 40, 7
    relevance = sp.random(n_users, n_items, density=0.15, random_state=rng, format="lil")
    relevance[np.arange(n_users), rng.integers(0, n_items, n_users)] = 0.5  # nobody empty
    relevance = relevance.tocsr()
    relevance.data = rng.integers(1, 4, size=relevance.nnz).astype(float)
    recs = np.stack([rng.permutation(n_items)[:k] for _ in range(n_users)])
    for gain in ("binary", "linear", "exponential"):
        report = rm.ranking_report(recs, relevance, k, gain=gain)
        assert set(report) == {f"{m}@{k}" for m in ("precision", "recall", "ndcg", "map")} | {
            f"hit_rate@{k}",
            f"mrr@{k}",
        }
        np.testing.assert_allclose(report[f"ndcg@{k}"], rm.ndcg_at_k(recs, relevance, k, gain))
    np.testing.assert_allclose(report[f"precision@{k}"], rm.precision_at_k(recs, relevance, k))
    np.testing.assert_allclose(report[f"recall@{k}"], rm.recall_at_k(recs, relevance, k))
    np.testing.assert_allclose(report[f"map@{k}"], rm.average_precision_at_k(recs, relevance, k))
    np.testing.assert_allclose(report[f"hit_rate@{k}"], rm.hit_rate_at_k(recs, relevance, k))
    np.testing.assert_allclose(report[f"mrr@{k}"], rm.reciprocal_rank_at_k(recs, relevance, k))


def test_relevance_formats_are_normalised() -> None:
    # COO input, duplicate entries summed, explicit zeros dropped (a stored 0 is not relevant)
    coo = sp.coo_matrix(([1.0, 1.0, 0.0, 1.0], ([0, 0, 0, 1], [2, 2, 3, 1])), shape=(2, 5))
    recs = np.array([[3, 2], [1, 0]])
    np.testing.assert_allclose(rm.precision_at_k(recs, coo, 2), [0.5, 0.5])
    # grade 2 (1 + 1 summed): linear NDCG of [3, 2] = (0 + 2/log2(3)) / 2
    assert rm.ndcg_at_k(recs, coo, 2, gain="linear")[0] == pytest.approx(1 / np.log2(3))
    csr_array = sp.csr_array(coo)
    np.testing.assert_allclose(rm.recall_at_k(recs, csr_array, 2), [1.0, 1.0])


# --------------------------------------------------------------------------------------------
# Beyond-accuracy metrics
# --------------------------------------------------------------------------------------------


def test_catalogue_coverage_by_hand() -> None:
    recs = np.array([[0, 1, -1], [1, 2, 3]])
    assert rm.catalogue_coverage(recs, 10) == pytest.approx(4 / 10)
    with pytest.raises(ValueError, match="n_items"):
        rm.catalogue_coverage(recs, 0)


def test_novelty_by_hand() -> None:
    pop = np.array([0.5, 0.25, 1.0, 0.125])
    recs = np.array([[0, 1, -1], [2, 3, 1]])
    np.testing.assert_allclose(rm.novelty(recs, pop), [(1 + 2) / 2, (0 + 3 + 2) / 3])
    with pytest.raises(ValueError, match="smooth"):
        rm.novelty(recs, np.array([0.5, 0.0, 1.0, 0.1]))
    with pytest.raises(ValueError, match="empty recommendation list"):
        rm.novelty(np.array([[-1, -1]]), pop)


def test_intra_list_diversity_by_hand() -> None:
    feats = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0], [-1.0, 0.0]])
    # user 0: items 0, 1 orthogonal -> distance 1; user 1: items 0, 3 opposite -> distance 2
    # user 2: items 0, 1, 2: similarities 0, 1/sqrt2, 1/sqrt2 -> 1 - mean
    recs = np.array([[0, 1, -1], [0, 3, -1], [0, 1, 2]])
    expected = [1.0, 2.0, 1 - (2 / np.sqrt(2)) / 3]
    np.testing.assert_allclose(rm.intra_list_diversity(recs, feats), expected)
    with pytest.raises(ValueError, match="two items"):
        rm.intra_list_diversity(np.array([[0, -1]]), feats)


# --------------------------------------------------------------------------------------------
# Input validation
# --------------------------------------------------------------------------------------------

REL = _relevance([{0: 1}, {1: 1}], n_items=4)


@pytest.mark.parametrize("fn", [*list(PER_USER.values()), rm.ranking_report])
def test_user_without_relevant_items_is_an_error_not_nan(fn) -> None:
    relevance = _relevance([{0: 1}, {}], n_items=4)
    with pytest.raises(ValueError, match="1 users have no relevant items"):
        fn(np.array([[0, 1], [2, 3]]), relevance, 2)


@pytest.mark.parametrize(
    ("recs", "relevance", "k", "error", "match"),
    [
        (np.zeros((0, 3), dtype=int), sp.csr_matrix((0, 4)), 1, ValueError, "empty"),
        (np.array([0, 1]), REL, 1, ValueError, "2-D"),
        (np.array([[0, 0], [1, 2]]), REL, 2, ValueError, "repeats an item"),
        (np.array([[0, 1], [1, 2]]), REL, 3, ValueError, r"k must be in \[1, 2\]"),
        (np.array([[0, 1], [1, 2]]), REL, 0, ValueError, "k must be"),
        (np.array([[0, 1]]), REL, 1, ValueError, "1 users but relevance has 2 rows"),
        (np.array([[0, 4], [1, 2]]), REL, 2, ValueError, "item indices"),
        (np.array([[0, -2], [1, 2]]), REL, 2, ValueError, "item indices"),
        (np.array([[0.0, 1.0], [1.0, 2.0]]), REL, 2, ValueError, "integer"),
        (np.array([[0, 1], [1, 2]]), REL.toarray(), 2, TypeError, "scipy.sparse"),
        (np.array([[0, 1], [1, 2]]), -REL, 2, ValueError, "non-negative"),
    ],
)
def test_invalid_inputs_raise_clear_errors(recs, relevance, k, error, match) -> None:
    for fn in (*PER_USER.values(), rm.ranking_report):
        with pytest.raises(error, match=match):
            fn(recs, relevance, k)


def test_invalid_gain_and_normalise() -> None:
    recs = np.array([[0, 1], [1, 2]])
    with pytest.raises(ValueError, match="gain"):
        rm.ndcg_at_k(recs, REL, 2, gain="log")
    with pytest.raises(ValueError, match="normalise"):
        rm.average_precision_at_k(recs, REL, 2, normalise="k")


# --------------------------------------------------------------------------------------------
# Property tests
# --------------------------------------------------------------------------------------------


@st.composite
def ranking_cases(draw, max_users: int = 6, max_items: int = 20):
    """Random (recs, relevance, k): every user has >= 1 relevant item, lists may be padded."""
    n_items = draw(st.integers(2, max_items))
    n_users = draw(st.integers(1, max_users))
    width = draw(st.integers(1, min(8, n_items)))
    k = draw(st.integers(1, width))
    recs = np.full((n_users, width), -1, dtype=np.int64)
    rows = []
    for u in range(n_users):
        items = draw(st.lists(st.integers(0, n_items - 1), min_size=1, max_size=8, unique=True))
        grades = draw(st.lists(st.integers(1, 3), min_size=len(items), max_size=len(items)))
        rows.append(dict(zip(items, grades, strict=True)))
        order = draw(st.permutations(range(n_items)))
        length = draw(st.integers(1, width))
        recs[u, :length] = order[:length]
    return recs, _relevance(rows, n_items), k


@SETTINGS
@given(ranking_cases())
def test_metrics_lie_in_unit_interval(case) -> None:
    recs, relevance, k = case
    for name, fn in PER_USER.items():
        values = fn(recs, relevance, k)
        assert values.shape == (recs.shape[0],), name
        assert np.all(np.isfinite(values)), name
        assert np.all((values >= 0) & (values <= 1 + 1e-12)), name
    # AP divided by n_relevant never exceeds AP divided by min(n_relevant, k)
    assert np.all(PER_USER["ap_n_rel"](recs, relevance, k) <= PER_USER["ap_min_k"](*case) + 1e-12)
    # any hit means hit rate 1 and reciprocal rank >= 1/k
    hit = rm.hit_rate_at_k(recs, relevance, k)
    rr = rm.reciprocal_rank_at_k(recs, relevance, k)
    assert np.all((hit == 1) == (rr >= 1 / k - 1e-12))


@SETTINGS
@given(ranking_cases(), st.integers(0, 2**32 - 1))
def test_perfect_ranking(case, seed) -> None:
    _, relevance, _ = case
    rng = np.random.default_rng(seed)
    n_users, n_items = relevance.shape
    width = int(rng.integers(1, min(8, n_items) + 1))
    recs = np.empty((n_users, width), dtype=np.int64)
    for u in range(n_users):
        row = relevance.getrow(u)
        best = row.indices[np.argsort(-row.data, kind="stable")]
        rest = rng.permutation(np.setdiff1d(np.arange(n_items), best))
        recs[u] = np.concatenate([best, rest])[:width]
    n_rel = np.diff(relevance.indptr)
    for k in sorted({1, (width + 1) // 2, width}):
        for gain in ("binary", "linear", "exponential"):
            np.testing.assert_allclose(rm.ndcg_at_k(recs, relevance, k, gain), 1.0)
        np.testing.assert_allclose(rm.average_precision_at_k(recs, relevance, k), 1.0)
        np.testing.assert_allclose(rm.recall_at_k(recs, relevance, k), np.minimum(n_rel, k) / n_rel)
        np.testing.assert_allclose(rm.precision_at_k(recs, relevance, k), np.minimum(n_rel, k) / k)
        np.testing.assert_allclose(rm.reciprocal_rank_at_k(recs, relevance, k), 1.0)
        np.testing.assert_allclose(rm.hit_rate_at_k(recs, relevance, k), 1.0)


@SETTINGS
@given(ranking_cases(), st.integers(0, 2**32 - 1))
def test_permuting_users_permutes_outputs(case, seed) -> None:
    recs, relevance, k = case
    perm = np.random.default_rng(seed).permutation(recs.shape[0])
    for name, fn in PER_USER.items():
        np.testing.assert_allclose(
            fn(recs[perm], relevance[perm], k), fn(recs, relevance, k)[perm], err_msg=name
        )


@SETTINGS
@given(ranking_cases(), st.integers(0, 2**32 - 1))
def test_shuffling_irrelevant_items_changes_nothing(case, seed) -> None:
    """Irrelevant items swapped among their own positions (e.g. below the last hit)."""
    recs, relevance, k = case
    rng = np.random.default_rng(seed)
    shuffled = recs.copy()
    dense = relevance.toarray()
    for u in range(recs.shape[0]):
        top = shuffled[u, :k]
        slots = np.flatnonzero((top >= 0) & (dense[u, np.maximum(top, 0)] == 0))
        top[slots] = rng.permutation(top[slots])
    for name, fn in PER_USER.items():
        np.testing.assert_allclose(fn(shuffled, relevance, k), fn(recs, relevance, k), err_msg=name)


@SETTINGS
@given(ranking_cases())
def test_recall_precision_identity(case) -> None:
    """hits = precision * k = recall * n_relevant, and hits never exceed either bound."""
    recs, relevance, k = case
    n_rel = np.diff(relevance.indptr)
    hits_p = rm.precision_at_k(recs, relevance, k) * k
    hits_r = rm.recall_at_k(recs, relevance, k) * n_rel
    np.testing.assert_allclose(hits_p, hits_r)
    np.testing.assert_allclose(hits_p, np.round(hits_p))
    assert np.all(hits_p <= np.minimum(n_rel, k) + 1e-9)


def test_coverage_novelty_diversity_reject_out_of_range_items() -> None:
    recs = np.array([[0, 5]])
    with pytest.raises(ValueError, match="item indices"):
        rm.catalogue_coverage(recs, n_items=3)
    with pytest.raises(ValueError, match="item indices"):
        rm.novelty(recs, np.full(3, 0.5))
    with pytest.raises(ValueError, match="item indices"):
        rm.intra_list_diversity(recs, np.eye(3))


# --------------------------------------------------------------------------------------------
# The public building blocks other modules reuse (click simulation, lookups by user id)
# --------------------------------------------------------------------------------------------


def test_discounts_are_the_wikipedia_log2_discounts() -> None:
    np.testing.assert_allclose(rm.discounts(4), [1.0, 1 / np.log2(3), 0.5, 1 / np.log2(5)])


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n_rows=st.integers(1, 6), n_items=st.integers(1, 8))
def test_lookup_grades_equals_dense_indexing(seed: int, n_rows: int, n_items: int) -> None:
    rng = np.random.default_rng(seed)
    dense = rng.integers(0, 4, size=(n_rows, n_items)) * (rng.random((n_rows, n_items)) < 0.5)
    rows = rng.integers(0, n_rows, size=5)  # any rows, repeated and out of order
    items = rng.integers(-1, n_items, size=(5, 3))  # -1 is padding
    expected = np.where(items >= 0, dense[rows[:, None], np.maximum(items, 0)], 0)
    got = rm.lookup_grades(sp.csr_matrix(dense), items, rows)
    np.testing.assert_array_equal(got, expected)


def test_lookup_grades_handles_unsorted_duplicates_and_empty_matrices() -> None:
    # Stored out of order and with a duplicate (2 + 1 at item 0): the lookup sums and sorts a copy.
    m = sp.csr_matrix((np.array([5.0, 2.0, 1.0]), np.array([3, 0, 0]), np.array([0, 3])), (1, 4))
    assert not m.has_canonical_format
    np.testing.assert_array_equal(rm.lookup_grades(m, np.array([[0, 3, 1]])), [[3.0, 5.0, 0.0]])
    assert m.indices.tolist() == [3, 0, 0]  # the caller's matrix is left as it was
    empty = sp.csr_matrix((2, 4))
    np.testing.assert_array_equal(rm.lookup_grades(empty, np.array([[1], [2]])), [[0.0], [0.0]])
