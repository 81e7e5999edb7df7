"""Paired comparisons, confidence intervals and multiple-testing corrections.

Thin wrappers over SciPy and statsmodels where they exist, so that every project reports the
same tests the same way; the paired randomisation test is written here because it must be
vectorised (each batch of sign flips is one matrix product over all users) and must use
the (b + 1) / (B + 1) p-value, which never reports an impossible p = 0.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy import special, stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestPower

Alternative = Literal["two-sided", "greater", "less"]

# Resampled values per batch of the bootstrap (and of its BCa jackknife) and of the sign-flip
# test: the number of resamples per batch shrinks as the sample grows, so memory stays linear in
# the sample size (the BCa jackknife alone used to hold n x (n - 1) indices).
RESAMPLE_BATCH_ELEMENTS = 1 << 21


@dataclass(frozen=True)
class ConfidenceInterval:
    """A point estimate with its interval; ``confidence`` is e.g. 0.95."""

    estimate: float
    low: float
    high: float
    confidence: float


@dataclass(frozen=True)
class TestResult:
    """A test statistic and p-value, with the test's name and any extra numbers it produced."""

    name: str
    statistic: float
    p_value: float
    details: dict[str, float] = field(default_factory=dict)


def _vector(values: np.typing.ArrayLike, name: str) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    if v.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {v.shape}")
    if v.size == 0:
        raise ValueError(f"{name} is empty: a statistic needs at least one value")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return v


def _pair(a: np.typing.ArrayLike, b: np.typing.ArrayLike) -> np.ndarray:
    x, y = _vector(a, "a"), _vector(b, "b")
    if x.shape != y.shape:
        raise ValueError(f"paired samples must have equal length, got {x.size} and {y.size}")
    return x - y


def _nearly_constant(d: np.ndarray, a: np.typing.ArrayLike, b: np.typing.ArrayLike) -> bool:
    """True when the differences are equal up to the rounding error of subtracting a and b.

    ``(a + 0.1) - a`` is not exactly constant in floating point, and a t statistic or d_z
    computed from that rounding noise is a meaningless 1e15.
    """
    scale = max(
        np.max(np.abs(np.asarray(a, dtype=float))), np.max(np.abs(np.asarray(b, dtype=float)))
    )
    return bool(np.ptp(d) <= 1e-12 * scale)


def bootstrap_ci(
    values: np.typing.ArrayLike,
    statistic: Callable[..., float] = np.mean,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
    method: Literal["BCa", "percentile", "basic"] = "BCa",
) -> ConfidenceInterval:
    """Bootstrap interval of a statistic of one sample (``scipy.stats.bootstrap``).

    BCa by default: it corrects the bias and skew that per-user ranking metrics have.
    Constant data gives a zero-width interval instead of SciPy's NaN. Resamples are drawn in
    batches of ``RESAMPLE_BATCH_ELEMENTS // n`` (same result as one batch, bounded memory).
    The BCa interval of the mean takes SciPy's resamples and a closed-form jackknife
    (:func:`_bca_of_the_mean`): the same interval in time linear in n.
    """
    v = _vector(values, "values")
    estimate = float(statistic(v))
    if v.size < 2 or np.all(v == v[0]):
        return ConfidenceInterval(estimate, estimate, estimate, confidence)
    closed_form = method == "BCa" and statistic is np.mean
    result = stats.bootstrap(
        (v,),
        statistic,
        confidence_level=confidence,
        n_resamples=n_resamples,
        method="percentile" if closed_form else method,  # the same resamples either way
        rng=np.random.default_rng(seed),
        batch=max(1, RESAMPLE_BATCH_ELEMENTS // v.size),
        vectorized=statistic in (np.mean, np.median),
        **({"axis": -1} if statistic in (np.mean, np.median) else {}),
    )
    if closed_form:
        low, high = _bca_of_the_mean(v, result.bootstrap_distribution, confidence)
    else:
        low, high = result.confidence_interval
    return ConfidenceInterval(estimate, float(low), float(high), confidence)


def _bca_of_the_mean(
    values: np.ndarray, bootstrap_means: np.ndarray, confidence: float
) -> tuple[float, float]:
    """SciPy's BCa interval (Efron & Tibshirani 1993, 14.3) of the mean, jackknife in closed form.

    SciPy recomputes the statistic on all n leave-one-out samples, n x (n - 1) values: time
    quadratic in the users, the slowest step of an evaluation at scale. For the mean, leave-one-out
    values are (sum - v_i) / (n - 1), so the acceleration is sum(d^3) / (6 sum(d^2)^1.5) with
    d = v - mean.
    """
    mean = values.mean()
    below = np.count_nonzero(bootstrap_means < mean) + np.count_nonzero(bootstrap_means <= mean)
    z0 = special.ndtri(below / (2 * bootstrap_means.size))  # SciPy's "mean" percentile of score
    d = values - mean
    accel = np.sum(d**3) / (6 * np.sum(d**2) ** 1.5)
    z = z0 + special.ndtri((1 - confidence) / 2) * np.array([1.0, -1.0])
    with np.errstate(invalid="ignore"):  # an infinite z0 gives NaN levels, reported below
        levels = special.ndtr(z0 + z / (1 - accel * z))
    if not np.all(np.isfinite(levels)):  # every resample on one side of the mean
        warnings.warn(
            stats.DegenerateDataWarning("the BCa interval is undefined: degenerate resamples"),
            stacklevel=3,
        )
        return np.nan, np.nan
    low, high = np.quantile(bootstrap_means, levels)
    return float(low), float(high)


def paired_bootstrap_ci(
    a: np.typing.ArrayLike,
    b: np.typing.ArrayLike,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> ConfidenceInterval:
    """Bootstrap interval of the mean paired difference ``a - b`` (resampling pairs)."""
    return bootstrap_ci(_pair(a, b), np.mean, confidence, n_resamples, seed)


def paired_permutation_test(
    a: np.typing.ArrayLike,
    b: np.typing.ArrayLike,
    n_permutations: int = 10_000,
    seed: int = 0,
    alternative: Alternative = "two-sided",
    batch_size: int = 1_000,
) -> TestResult:
    """Randomisation test of a zero mean paired difference by random sign flips.

    p = (b + 1) / (B + 1), b = flips at least as extreme as observed (Phipson & Smyth 2010),
    so the p-value is valid for a finite number of permutations. Flips are drawn in batches of
    at most ``batch_size`` and ``RESAMPLE_BATCH_ELEMENTS // n`` rows, to bound memory.
    """
    d = _pair(a, b)
    if n_permutations < 1:
        raise ValueError("n_permutations must be positive")
    observed = d.mean()
    rng = np.random.default_rng(seed)
    extreme = 0
    tolerance = 1e-12 * max(1.0, abs(observed))
    remaining = n_permutations
    while remaining:
        m = min(batch_size, remaining, max(1, RESAMPLE_BATCH_ELEMENTS // d.size))
        signs = rng.integers(0, 2, size=(m, d.size), dtype=np.int8) * 2 - 1
        means = signs @ d / d.size
        if alternative == "two-sided":
            extreme += int(np.sum(np.abs(means) >= abs(observed) - tolerance))
        elif alternative == "greater":
            extreme += int(np.sum(means >= observed - tolerance))
        elif alternative == "less":
            extreme += int(np.sum(means <= observed + tolerance))
        else:
            raise ValueError(f"alternative must be two-sided, greater or less, got {alternative!r}")
        remaining -= m
    p = (extreme + 1) / (n_permutations + 1)
    return TestResult(
        "paired randomisation", float(observed), float(p), {"n_permutations": n_permutations}
    )


def paired_t_test(
    a: np.typing.ArrayLike, b: np.typing.ArrayLike, alternative: Alternative = "two-sided"
) -> TestResult:
    """Paired t-test (``scipy.stats.ttest_rel``)."""
    d = _pair(a, b)
    if _nearly_constant(d, a, b):
        raise ValueError("all paired differences are identical; the t statistic is undefined")
    result = stats.ttest_rel(a, b, alternative=alternative)
    return TestResult(
        "paired t", float(result.statistic), float(result.pvalue), {"df": float(d.size - 1)}
    )


def wilcoxon_test(
    a: np.typing.ArrayLike, b: np.typing.ArrayLike, alternative: Alternative = "two-sided"
) -> TestResult:
    """Wilcoxon signed-rank test (``scipy.stats.wilcoxon``; zero differences dropped, Wilcox)."""
    d = _pair(a, b)
    if np.all(d == 0):
        raise ValueError("all paired differences are zero; the Wilcoxon test is undefined")
    result = stats.wilcoxon(a, b, alternative=alternative)
    return TestResult("Wilcoxon signed-rank", float(result.statistic), float(result.pvalue))


def mcnemar_test(
    y_true: np.typing.ArrayLike,
    pred_a: np.typing.ArrayLike,
    pred_b: np.typing.ArrayLike,
    exact: bool | None = None,
) -> TestResult:
    """McNemar's test on which examples each classifier gets right (statsmodels).

    ``exact=None`` uses the exact binomial test when fewer than 25 examples disagree and the
    continuity-corrected chi-squared test otherwise.
    """
    y, pa, pb = np.asarray(y_true), np.asarray(pred_a), np.asarray(pred_b)
    if not (pa.shape == pb.shape == y.shape) or y.ndim != 1 or y.size == 0:
        raise ValueError("y_true, pred_a and pred_b must be non-empty 1-D arrays of equal length")
    a_right = pa == y
    b_right = pb == y
    only_a = int(np.sum(a_right & ~b_right))
    only_b = int(np.sum(~a_right & b_right))
    table = np.array(
        [[int(np.sum(a_right & b_right)), only_a], [only_b, int(np.sum(~a_right & ~b_right))]]
    )
    use_exact = (only_a + only_b) < 25 if exact is None else exact
    if only_a + only_b == 0:
        # No discordant pairs: no evidence either way (statsmodels' chi2 would give NaN).
        return TestResult(
            "McNemar (no disagreements)", 0.0, 1.0, {"only_a_correct": 0, "only_b_correct": 0}
        )
    result = mcnemar(table, exact=use_exact, correction=True)
    return TestResult(
        "McNemar exact" if use_exact else "McNemar chi2",
        float(result.statistic),
        float(result.pvalue),
        {"only_a_correct": only_a, "only_b_correct": only_b},
    )


def _p_values(p_values: np.typing.ArrayLike) -> np.ndarray:
    p = _vector(p_values, "p_values")
    if np.any(p < 0) or np.any(p > 1):
        raise ValueError("p-values must lie in [0, 1]")
    return p


def holm_correction(p_values: np.typing.ArrayLike) -> np.ndarray:
    """Holm step-down adjusted p-values (family-wise error control)."""
    p = _p_values(p_values)
    return multipletests(p, method="holm")[1]


def benjamini_hochberg(p_values: np.typing.ArrayLike) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (false-discovery-rate control)."""
    p = _p_values(p_values)
    return multipletests(p, method="fdr_bh")[1]


def paired_effect_size(a: np.typing.ArrayLike, b: np.typing.ArrayLike) -> float:
    """Cohen's d_z: mean paired difference over its standard deviation (ddof=1)."""
    d = _pair(a, b)
    if d.size < 2:
        raise ValueError("an effect size needs at least two pairs")
    sd = d.std(ddof=1)
    if sd == 0 or _nearly_constant(d, a, b):
        raise ValueError("paired differences have zero variance; d_z is undefined")
    return float(d.mean() / sd)


def minimum_detectable_effect(
    sd_diff: float, n: int, alpha: float = 0.05, power: float = 0.8
) -> float:
    """Smallest mean paired difference a two-sided paired t-test detects with this power.

    Solved with statsmodels' ``TTestPower`` for d_z, then scaled back by the sd of differences.
    """
    if sd_diff <= 0 or n < 2:
        raise ValueError("need sd_diff > 0 and n >= 2")
    d_z = TTestPower().solve_power(effect_size=None, nobs=n, alpha=alpha, power=power)
    return float(d_z * sd_diff)
