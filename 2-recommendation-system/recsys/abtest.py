"""Simulated online A/B test of two recommenders: assignment, SRM, power, clicks, tests, CUPED.

Clicks come from a *held-out* preference model: an item's attractiveness to a user is set by
that user's held-out test rating (never seen by either recommender), times a position-based
examination probability and a per-user propensity that persists across periods (which is what
makes the pre-period a useful CUPED covariate).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy import optimize, stats

from mlshared.ranking_metrics import discounts, lookup_grades
from recsys.hashing import salt_of, uniform_hash

# ------------------------------------------------------------------ assignment and SRM


def hash_bucket(user_ids: np.ndarray, experiment: str) -> np.ndarray:
    """Uniform [0, 1) per (experiment, user): stable across sessions, independent across experiments."""
    return uniform_hash(user_ids, salt_of(experiment))


def assign_variant(
    user_ids: np.ndarray, experiment: str, treatment_share: float = 0.5
) -> np.ndarray:
    """True = treatment. The same user always lands in the same arm of the same experiment."""
    return hash_bucket(user_ids, experiment) < treatment_share


def srm_check(
    n_control: int, n_treatment: int, treatment_share: float = 0.5
) -> tuple[float, float]:
    """Sample ratio mismatch: chi-squared goodness of fit of the arm sizes; returns (chi2, p)."""
    total = n_control + n_treatment
    expected = [total * (1 - treatment_share), total * treatment_share]
    result = stats.chisquare([n_control, n_treatment], expected)
    return float(result.statistic), float(result.pvalue)


# ------------------------------------------------------------------ power analysis


def cohens_h(p1: float, p2: float) -> float:
    """Effect size for two proportions (arcsine transform), as statsmodels uses."""
    return float(2 * np.arcsin(np.sqrt(p2)) - 2 * np.arcsin(np.sqrt(p1)))


def power_two_proportions(
    n_per_group: float | np.ndarray, p1: float, p2: float, alpha: float = 0.05
) -> np.ndarray:
    """Power of the two-sided two-proportion z-test (both rejection tails counted)."""
    h = abs(cohens_h(p1, p2))
    z = stats.norm.ppf(1 - alpha / 2)
    shift = h * np.sqrt(np.asarray(n_per_group, float) / 2)
    return stats.norm.cdf(shift - z) + stats.norm.cdf(-shift - z)


def power_curves(
    n_grid: np.ndarray, baseline: float, relative_lifts: tuple[float, ...], alpha: float = 0.05
) -> dict[str, np.ndarray]:
    """Power against sample size for several relative lifts over a baseline rate."""
    return {
        f"+{lift:.0%}": power_two_proportions(n_grid, baseline, baseline * (1 + lift), alpha)
        for lift in relative_lifts
    }


def sample_size_two_proportions(
    p1: float, p2: float, alpha: float = 0.05, power: float = 0.8
) -> float:
    """Users per arm for the two-proportion z-test to reach ``power`` (not rounded up)."""
    if p1 == p2:
        raise ValueError("p1 == p2: no difference to detect")
    h = abs(cohens_h(p1, p2))
    guess = 2 * ((stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)) / h) ** 2
    return float(
        optimize.brentq(
            lambda n: power_two_proportions(n, p1, p2, alpha) - power, 1e-6, 10 * guess + 10
        )
    )


def sample_size_means(delta: float, sd: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """Normal-approximation users per arm to detect a mean difference ``delta`` (two-sided)."""
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    return float(2 * (z * sd / delta) ** 2)


# ------------------------------------------------------------------ click simulation


@dataclass
class PreferenceModel:
    """Attractiveness of items to users, from held-out ratings the recommenders never saw.

    attract(u, i) = base for unrated items, and base + lift * (rating - 1) / 4 + lift_floor
    for items in u's held-out set; a click needs examination, whose probability falls with
    the rank as NDCG's discount 1/log2(rank+1) does (position bias).
    """

    heldout: sp.csr_matrix
    base: float = 0.02
    lift_floor: float = 0.10
    lift: float = 0.25

    def attractiveness(self, users: np.ndarray, recs: np.ndarray) -> np.ndarray:
        """(len(users), K) click probabilities given examination."""
        grades = lookup_grades(self.heldout, recs, users)
        return np.where(
            grades > 0, self.base + self.lift_floor + self.lift * (grades - 1) / 4, self.base
        )


@dataclass
class Population:
    """Simulated visitors: each is a resampled MovieLens user with persistent habits."""

    visitor_ids: np.ndarray
    users: np.ndarray  # MovieLens user index behind each visitor
    activity: np.ndarray  # expected sessions per period
    propensity: np.ndarray  # multiplies click probabilities


def make_population(
    n_visitors: int, eligible_users: np.ndarray, seed: int = 0, sessions_mean: float = 4.0
) -> Population:
    """Heterogeneous visitors: gamma activity and log-normal click propensity, both persistent."""
    rng = np.random.default_rng(seed)
    return Population(
        visitor_ids=np.arange(n_visitors) + 1_000_000,
        users=rng.choice(eligible_users, size=n_visitors),
        activity=rng.gamma(shape=2.0, scale=sessions_mean / 2.0, size=n_visitors),
        propensity=rng.lognormal(-0.125, 0.5, size=n_visitors),
    )


@dataclass
class PeriodOutcome:
    """Per-visitor totals for one period."""

    sessions: np.ndarray
    impressions: np.ndarray
    clicks: np.ndarray


def simulate_clicks(
    population: Population,
    items: np.ndarray,
    preference: PreferenceModel,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Sessions ~ Poisson(activity); clicks per slot ~ Binomial(sessions, exam * attract * propensity).

    ``items`` holds each visitor's shown list (n_visitors, K); returns (sessions, clicks per slot).
    """
    p = discounts(items.shape[1])[None, :] * preference.attractiveness(population.users, items)
    p = np.clip(p * population.propensity[:, None], 0, 1)
    sessions = rng.poisson(population.activity)
    return sessions, rng.binomial(sessions[:, None], p)


def simulate_period(
    population: Population,
    recs_by_user: np.ndarray,
    preference: PreferenceModel,
    seed: int = 0,
) -> PeriodOutcome:
    """One period in which every visitor sees their MovieLens user's list from ``recs_by_user``."""
    recs = recs_by_user[population.users]
    sessions, clicks = simulate_clicks(population, recs, preference, np.random.default_rng(seed))
    return PeriodOutcome(sessions, sessions * recs.shape[1], clicks.sum(axis=1))


# ------------------------------------------------------------------ tests and CUPED


def two_proportion_ztest(clicks_a: int, n_a: int, clicks_b: int, n_b: int) -> tuple[float, float]:
    """Pooled two-proportion z-test (B vs A); returns (z, two-sided p). Same as statsmodels'."""
    p_pool = (clicks_a + clicks_b) / (n_a + n_b)
    se = np.sqrt(p_pool * (1 - p_pool) * (1 / n_a + 1 / n_b))
    z = (clicks_b / n_b - clicks_a / n_a) / se
    return float(z), float(2 * stats.norm.sf(abs(z)))


def welch_test(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """Welch's t (B vs A) on per-user values; returns (difference, t, p)."""
    res = stats.ttest_ind(b, a, equal_var=False)
    return float(np.mean(b) - np.mean(a)), float(res.statistic), float(res.pvalue)


def cuped_adjust(y: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, float, float]:
    """CUPED (Deng et al. 2013): y - theta (x - mean x), theta = cov(x, y) / var(x), pooled arms.

    Returns the adjusted metric, theta and the variance reduction 1 - var(adj) / var(y).
    """
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    theta = float(np.cov(x, y)[0, 1] / np.var(x, ddof=1))
    adjusted = y - theta * (x - x.mean())
    return adjusted, theta, float(1 - adjusted.var(ddof=1) / y.var(ddof=1))


@dataclass
class ABResult:
    """Everything the notebook reports about one simulated A/B test."""

    n_control: int
    n_treatment: int
    srm_p: float
    ctr_control: float
    ctr_treatment: float
    ctr_z: float
    ctr_p: float
    engagement_diff: float
    engagement_p: float
    cuped_diff: float
    cuped_p: float
    cuped_theta: float
    variance_reduction: float
    required_n_per_arm: float
    required_n_per_arm_cuped: float

    def to_metrics(self) -> dict[str, Any]:
        return asdict(self)


def run_ab_test(
    population: Population,
    recs_control: np.ndarray,
    recs_treatment: np.ndarray,
    preference: PreferenceModel,
    experiment: str = "recsys-ab",
    seed: int = 0,
) -> tuple[ABResult, dict[str, np.ndarray]]:
    """Pre-period (everyone on control) then the experiment period with hashed assignment."""
    treated = assign_variant(population.visitor_ids, experiment)
    pre = simulate_period(population, recs_control, preference, seed=seed)
    ctrl = simulate_period(population, recs_control, preference, seed=seed + 1)
    trt = simulate_period(population, recs_treatment, preference, seed=seed + 2)
    clicks = np.where(treated, trt.clicks, ctrl.clicks).astype(float)
    impressions = np.where(treated, trt.impressions, ctrl.impressions)
    _, srm_p = srm_check(int((~treated).sum()), int(treated.sum()))
    ca, na = clicks[~treated].sum(), impressions[~treated].sum()
    cb, nb = clicks[treated].sum(), impressions[treated].sum()
    z, p_ctr = two_proportion_ztest(int(ca), int(na), int(cb), int(nb))
    diff, _, p_eng = welch_test(clicks[~treated], clicks[treated])
    adjusted, theta, reduction = cuped_adjust(clicks, pre.clicks.astype(float))
    cdiff, _, p_cuped = welch_test(adjusted[~treated], adjusted[treated])
    sd = float(np.sqrt((clicks[~treated].var(ddof=1) + clicks[treated].var(ddof=1)) / 2))
    sd_adj = float(np.sqrt((adjusted[~treated].var(ddof=1) + adjusted[treated].var(ddof=1)) / 2))
    n_req = sample_size_means(diff, sd) if diff else float("inf")
    result = ABResult(
        n_control=int((~treated).sum()),
        n_treatment=int(treated.sum()),
        srm_p=srm_p,
        ctr_control=float(ca / na),
        ctr_treatment=float(cb / nb),
        ctr_z=z,
        ctr_p=p_ctr,
        engagement_diff=diff,
        engagement_p=p_eng,
        cuped_diff=cdiff,
        cuped_p=p_cuped,
        cuped_theta=theta,
        variance_reduction=reduction,
        required_n_per_arm=n_req,
        required_n_per_arm_cuped=sample_size_means(diff, sd_adj) if diff else float("inf"),
    )
    arrays = {
        "treated": treated,
        "clicks": clicks,
        "pre_clicks": pre.clicks.astype(float),
        "cuped": adjusted,
    }
    return result, arrays


def plan_ab_test(
    pilot: PeriodOutcome, relative_lift: float, alpha: float = 0.05, power: float = 0.8
) -> dict[str, float]:
    """Power analysis before launch, from a pilot (pre-period) of the control experience.

    The CTR z-test counts impressions, so the required impressions per arm are converted to
    visitors with the pilot's mean impressions per visitor.
    """
    p1 = float(pilot.clicks.sum() / pilot.impressions.sum())
    p2 = p1 * (1 + relative_lift)
    impressions = sample_size_two_proportions(p1, p2, alpha, power)
    per_visitor = float(pilot.impressions.mean())
    return {
        "baseline_ctr": p1,
        "target_ctr": p2,
        "relative_lift": relative_lift,
        "impressions_per_arm": impressions,
        "visitors_per_arm": impressions / per_visitor,
        "impressions_per_visitor": per_visitor,
    }
