"""Offline comparison, A/B pieces (vs statsmodels / SciPy), sequential testing and interleaving."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp
from scipy import integrate, stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize, proportions_ztest
from statsmodels.stats.weightstats import ttest_ind

from mlshared.statistics import RESAMPLE_BATCH_ELEMENTS
from recsys import abtest, interleaving, sequential
from recsys.comparison import compare_models, compare_pair, verdict
from recsys.evaluation import EvaluationResult


def _result(name, values):
    return EvaluationResult(name, np.arange(values.size), np.zeros((values.size, 1), int),
                            {"ndcg@10": values}, 0.1, 0.0, 0)  # fmt: skip


def test_compare_models_finds_the_real_difference():
    rng = np.random.default_rng(0)
    base = rng.random(400)
    results = {
        "A": _result("A", base),
        "A_copy": _result("A_copy", base.copy()),
        "B": _result("B", np.clip(base + 0.05 + rng.normal(0, 0.05, 400), 0, 1)),
    }
    table = compare_models(results, n_permutations=2000, n_resamples=2000).set_index(
        ["model_a", "model_b"]
    )
    assert table.loc[("A", "A_copy"), "p_perm"] == 1.0
    assert table.loc[("A", "B"), "p_perm"] < 0.01 and table.loc[("A", "B"), "ci_high"] < 0
    assert (
        table.loc[("A", "B"), "ci_low"]
        < table.loc[("A", "B"), "diff"]
        < table.loc[("A", "B"), "ci_high"]
    )
    np.testing.assert_allclose(table["p_holm"], multipletests(table["p_perm"], method="holm")[1])
    sentence = verdict(results, table.reset_index())
    assert sentence.startswith("B is the best model") and "significant after Holm" in sentence


def test_assignment_is_stable_balanced_and_experiment_specific():
    ids = np.arange(100_000)
    a1, a2 = abtest.assign_variant(ids, "exp-1"), abtest.assign_variant(ids, "exp-1")
    b = abtest.assign_variant(ids, "exp-2")
    np.testing.assert_array_equal(a1, a2)
    assert abs(a1.mean() - 0.5) < 0.01
    assert abs(np.corrcoef(a1, b)[0, 1]) < 0.02
    assert abtest.srm_check(int((~a1).sum()), int(a1.sum()))[1] > 0.001


def test_srm_matches_scipy():
    chi2, p = abtest.srm_check(5200, 4800)
    ref = stats.chisquare([5200, 4800])
    assert chi2 == pytest.approx(ref.statistic) and p == pytest.approx(ref.pvalue)
    assert p < 0.001


@pytest.mark.parametrize(("p1", "p2"), [(0.05, 0.055), (0.1, 0.12), (0.3, 0.25)])
def test_power_analysis_matches_statsmodels(p1, p2):
    h = proportion_effectsize(p2, p1)
    ref_n = NormalIndPower().solve_power(effect_size=h, alpha=0.05, power=0.8, ratio=1.0)
    assert abtest.sample_size_two_proportions(p1, p2) == pytest.approx(ref_n, rel=1e-6)
    ref_power = NormalIndPower().power(effect_size=h, nobs1=5000, alpha=0.05, ratio=1.0)
    assert float(abtest.power_two_proportions(5000, p1, p2)) == pytest.approx(ref_power, rel=1e-6)


def test_z_test_welch_match_statsmodels():
    z, p = abtest.two_proportion_ztest(500, 10_000, 560, 10_000)
    ref_z, ref_p = proportions_ztest([560, 500], [10_000, 10_000])
    assert z == pytest.approx(ref_z) and p == pytest.approx(ref_p)
    rng = np.random.default_rng(1)
    a, b = rng.poisson(2.0, 300), rng.poisson(2.3, 500)
    _, t, p = abtest.welch_test(a, b)
    ref = ttest_ind(b, a, usevar="unequal")
    assert t == pytest.approx(ref[0]) and p == pytest.approx(ref[1])


def test_cuped_removes_the_explained_variance():
    rng = np.random.default_rng(2)
    x = rng.gamma(2.0, 2.0, 20_000)
    y = 0.8 * x + rng.normal(0, 1.5, x.size)
    adjusted, theta, reduction = abtest.cuped_adjust(y, x)
    assert theta == pytest.approx(0.8, abs=0.02)
    assert reduction == pytest.approx(np.corrcoef(x, y)[0, 1] ** 2, abs=1e-6)
    assert adjusted.mean() == pytest.approx(y.mean())


def test_msprt_statistic_is_the_normal_mixture_likelihood_ratio():
    diff, v, tau2 = 0.07, 0.001, 0.004
    numerator = integrate.quad(
        lambda t: stats.norm.pdf(diff, t, np.sqrt(v)) * stats.norm.pdf(t, 0, np.sqrt(tau2)), -1, 1
    )[0]
    expected = numerator / stats.norm.pdf(diff, 0, np.sqrt(v))
    assert sequential.msprt_statistic(np.array(diff), np.array(v), tau2) == pytest.approx(
        expected, rel=1e-6
    )


def test_aa_peeking_inflates_and_msprt_does_not():
    sim = sequential.simulate_sequential(n_sims=1000, n_per_arm=300, max_looks=10, seed=3)
    one_look = sim.naive_rejection[sim.looks == 1][0]
    ten_looks = sim.naive_rejection[sim.looks == 10][0]
    se = np.sqrt(0.05 * 0.95 / sim.n_sims)
    assert abs(one_look - 0.05) < 3.5 * se  # a single look is a valid test
    assert ten_looks > 0.05 + 5 * se  # peeking is not
    assert np.all(sim.msprt_rejection <= 0.05 + 3 * se)  # always valid
    assert np.all(np.abs(sim.group_sequential_rejection - 0.05) < 3.5 * se)  # near nominal
    power = sequential.simulate_sequential(
        n_sims=300, n_per_arm=2000, max_looks=10, effect=0.15, seed=4
    )
    assert power.msprt_rejection[-1] > 0.5  # and it still detects a real effect


def test_team_draft_properties():
    rng = np.random.default_rng(5)
    n, k = 500, 10
    a = np.tile(np.arange(10), (n, 1))
    b = np.tile(np.arange(100, 110), (n, 1))
    merged, team = interleaving.team_draft(a, b, k, rng)
    assert np.all((team == 0).sum(axis=1) == 5)  # disjoint lists: each team gets K/2
    for row, who in zip(merged, team, strict=True):
        assert row[who == 0].tolist() == list(range(5))  # each team's own order is kept
        assert row[who == 1].tolist() == list(range(100, 105))
    assert 0.4 < np.mean(team[:, 0] == 0) < 0.6  # fair coin for the first pick
    same, _ = interleaving.team_draft(a, a.copy(), k, rng)
    np.testing.assert_array_equal(same, a)  # identical rankings interleave to themselves
    overlap = np.tile(np.array([3, 1, 4, 5, 9, 2, 6, 8, 7, 0]), (n, 1))
    mixed, _ = interleaving.team_draft(a, overlap, k, rng)
    assert all(len(set(r)) == k for r in mixed)  # never shows an item twice


def test_interleaving_needs_fewer_users_than_ab():
    rng = np.random.default_rng(6)
    n_users, n_items = 200, 50
    heldout = sp.csr_matrix((rng.random((n_users, n_items)) < 0.2) * 5.0)
    good = np.argsort(-heldout.toarray() - rng.random((n_users, n_items)) * 0.1, axis=1)[:, :10]
    random = np.argsort(rng.random((n_users, n_items)), axis=1)[:, :10]
    population = abtest.make_population(20_000, np.arange(n_users), seed=1)
    pref = abtest.PreferenceModel(heldout)
    result = interleaving.compare_with_ab(population, random, good, pref, seed=2)
    assert result.interleaving_mean_delta > 0 and result.ab_mean_diff > 0
    assert result.b_win_share > 0.5
    assert result.interleaving_n < result.ab_total_n


def test_group_sequential_boundaries_match_textbook_values():
    """Jennison & Turnbull (2000) Table 2.1/2.3, K = 5 looks, alpha = 0.05 two-sided."""
    pocock = sequential.group_sequential_boundaries(5, kind="pocock")
    obf = sequential.group_sequential_boundaries(5, kind="obrien-fleming")
    np.testing.assert_allclose(pocock, 2.413, atol=0.02)
    assert obf[-1] == pytest.approx(2.040, abs=0.02)
    assert obf[0] == pytest.approx(2.040 * np.sqrt(5), abs=0.05)


def test_simulated_clicks_follow_position_bias_and_attractiveness():
    """Slot c of a shown list is clicked sessions * discount(c) * attractiveness times on average."""
    n = 40_000
    heldout = sp.csr_matrix(np.tile([5.0, 0.0, 1.0], (1, 1)))  # one user: item 0 loved, 2 disliked
    population = abtest.Population(
        np.arange(n), np.zeros(n, int), activity=np.full(n, 3.0), propensity=np.ones(n)
    )
    pref = abtest.PreferenceModel(heldout)
    shown = np.tile([0, 1, 2], (n, 1))
    sessions, clicks = abtest.simulate_clicks(population, shown, pref, np.random.default_rng(0))
    attract = np.array([0.02 + 0.10 + 0.25, 0.02, 0.02 + 0.10])
    expected = 3.0 * attract / np.log2(np.arange(2, 5))
    np.testing.assert_allclose(clicks.mean(axis=0), expected, rtol=0.05)
    period = abtest.simulate_period(population, shown[:1], pref, seed=0)
    np.testing.assert_array_equal(period.clicks, clicks.sum(axis=1))  # same draws, summed
    np.testing.assert_array_equal(period.impressions, 3 * sessions)


def test_power_curves_are_the_two_proportion_power():
    n = np.array([1e3, 1e4, 1e5])
    curves = abtest.power_curves(n, 0.05, (0.05, 0.2))
    assert list(curves) == ["+5%", "+20%"]
    np.testing.assert_allclose(curves["+20%"], abtest.power_two_proportions(n, 0.05, 0.06))
    assert np.all(np.diff(curves["+5%"]) > 0)


def test_peeking_table_lines_up_both_simulations():
    aa = sequential.simulate_sequential(n_sims=50, n_per_arm=100, max_looks=4, seed=1)
    effect = sequential.simulate_sequential(
        n_sims=50, n_per_arm=100, max_looks=4, seed=2, effect=0.2
    )
    table = sequential.peeking_table(aa, effect)
    assert table["looks"].tolist() == [1, 2, 4]
    np.testing.assert_array_equal(table["mSPRT power"], effect.msprt_rejection)
    other = sequential.simulate_sequential(n_sims=50, n_per_arm=100, max_looks=6, seed=3)
    with pytest.raises(ValueError, match="different numbers of looks"):
        sequential.peeking_table(aa, other)


def test_compare_pair_memory_is_linear_in_users():
    """Bootstrap, jackknife and sign flips all run in bounded batches (no users x users array)."""
    n = 12_000
    rng = np.random.default_rng(7)
    a, b = rng.random(n), rng.random(n)
    tracemalloc.start()
    try:
        row = compare_pair(a, b, n_permutations=500, n_resamples=500)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert row["n_users"] == n
    assert peak < 2 * RESAMPLE_BATCH_ELEMENTS * 17 + 200 * n * 8 < n * n * 8 / 10
