"""Offline significance testing: every pair of models on per-user metric differences.

Users are the unit: each user's metric under model A is paired with the same user's metric
under model B, which removes the large between-user variance from the comparison.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlshared.statistics import (
    holm_correction,
    minimum_detectable_effect,
    paired_bootstrap_ci,
    paired_effect_size,
    paired_permutation_test,
    paired_t_test,
)
from recsys.evaluation import EvaluationResult


def _aligned(results: Mapping[str, EvaluationResult], metric: str) -> dict[str, np.ndarray]:
    users = next(iter(results.values())).users
    for name, r in results.items():
        if not np.array_equal(r.users, users):
            raise ValueError(f"{name} was evaluated on different users; pairs must match")
    return {name: r.per_user[metric] for name, r in results.items()}


def compare_pair(
    a: np.ndarray,
    b: np.ndarray,
    n_permutations: int = 10_000,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> dict[str, float]:
    """Paired t, randomisation test, bootstrap CI, d_z and MDE for the difference a - b."""
    d = np.asarray(a, float) - np.asarray(b, float)
    row: dict[str, float] = {"mean_a": float(np.mean(a)), "mean_b": float(np.mean(b))}
    ci = paired_bootstrap_ci(a, b, n_resamples=n_resamples, seed=seed)
    row |= {"diff": float(d.mean()), "ci_low": ci.low, "ci_high": ci.high}
    if np.all(d == d[0]):  # identical models: nothing to test
        return row | {
            "t": 0.0,
            "p_t": 1.0,
            "p_perm": 1.0,
            "d_z": 0.0,
            "mde": 0.0,
            "n_users": d.size,
        }
    t_test = paired_t_test(a, b)
    row |= {
        "t": t_test.statistic,
        "p_t": t_test.p_value,
        "p_perm": paired_permutation_test(a, b, n_permutations, seed=seed).p_value,
        "d_z": paired_effect_size(a, b),
        "mde": minimum_detectable_effect(float(d.std(ddof=1)), d.size),
        "n_users": d.size,
    }
    return row


def compare_models(
    results: Mapping[str, EvaluationResult],
    metric: str = "ndcg@10",
    n_permutations: int = 10_000,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> pd.DataFrame:
    """All pairs (A listed before B, A - B), with Holm-adjusted randomisation p-values."""
    values = _aligned(results, metric)
    rows = []
    for a, b in itertools.combinations(values, 2):
        stats = compare_pair(values[a], values[b], n_permutations, n_resamples, seed)
        rows.append({"model_a": a, "model_b": b} | stats)
    table = pd.DataFrame(rows)
    table["p_holm"] = holm_correction(table["p_perm"].to_numpy())
    table["p_t_holm"] = holm_correction(table["p_t"].to_numpy())
    return table


def per_user_differences(
    results: Mapping[str, EvaluationResult], a: str, b: str, metric: str = "ndcg@10"
) -> np.ndarray:
    """Per-user metric(a) - metric(b), for the distribution plot."""
    values = _aligned({a: results[a], b: results[b]}, metric)
    return values[a] - values[b]


def verdict(
    results: Mapping[str, EvaluationResult],
    table: pd.DataFrame,
    metric: str = "ndcg@10",
    alpha: float = 0.05,
) -> str:
    """One plain sentence, generated from the numbers: who is best and how sure we are."""
    means = {name: float(r.per_user[metric].mean()) for name, r in results.items()}
    best, runner = ranked_models(results, metric)[:2]
    row = table[
        ((table.model_a == best) & (table.model_b == runner))
        | ((table.model_a == runner) & (table.model_b == best))
    ].iloc[0]
    sign = 1.0 if row.model_a == best else -1.0
    diff, low, high = sign * row["diff"], *sorted((sign * row.ci_low, sign * row.ci_high))
    n_sig = int((table.p_holm < alpha).sum())
    certainty = (
        f"the difference is statistically significant after Holm correction (p = {row.p_holm:.2g})"
        if row.p_holm < alpha
        else f"but the difference is NOT significant after Holm correction (p = {row.p_holm:.2g}), "
        "so we cannot tell these two apart with this many users"
    )
    return (
        f"{best} is the best model on {metric.upper()} ({means[best]:.3f}); it beats the runner-up "
        f"{runner} ({means[runner]:.3f}) by {diff:+.3f} (95% bootstrap CI {low:+.3f} to {high:+.3f}, "
        f"d_z = {abs(row.d_z):.2f}, {int(row.n_users)} users), {certainty}. "
        f"{n_sig} of {len(table)} model pairs differ at Holm-adjusted p < {alpha}."
    )


def ranked_models(results: Mapping[str, EvaluationResult], metric: str = "ndcg@10") -> list[str]:
    """Model names, best mean metric first (ties keep the results' order)."""
    return sorted(results, key=lambda name: -float(np.mean(results[name].per_user[metric])))


@dataclass
class ModelComparison:
    """All pairwise comparisons of one experiment's models on one metric."""

    results: Mapping[str, EvaluationResult]
    table: pd.DataFrame  # one row per pair, as ``compare_models`` returns it
    metric: str = "ndcg@10"

    @property
    def ranking(self) -> list[str]:
        return ranked_models(self.results, self.metric)

    @property
    def best(self) -> str:
        return self.ranking[0]

    @property
    def runner_up(self) -> str:
        return self.ranking[1]

    def p_holm(self, a: str, b: str) -> float:
        """Holm-adjusted randomisation p-value of the pair (a, b), in either order."""
        t = self.table
        row = t[((t.model_a == a) & (t.model_b == b)) | ((t.model_a == b) & (t.model_b == a))]
        if row.empty:
            raise KeyError(f"no comparison of {a!r} with {b!r}; models: {', '.join(self.results)}")
        return float(row["p_holm"].iloc[0])

    def best_vs_runner_up(self) -> np.ndarray:
        """Per-user metric(best) - metric(runner-up)."""
        return per_user_differences(self.results, self.best, self.runner_up, self.metric)

    def verdict(self, alpha: float = 0.05) -> str:
        return verdict(self.results, self.table, self.metric, alpha)

    def to_metrics(self) -> dict[str, Any]:
        return {"pairwise": self.table.to_dict(orient="records"), "verdict": self.verdict()}
