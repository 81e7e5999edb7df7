"""Project-specific figures (the generic forest plot and style come from mlshared.plotting)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from mlshared.plotting import PALETTE, plot_forest
from recsys.comparison import ModelComparison
from recsys.robustness import RobustnessResult
from recsys.sequential import SequentialSimulation


def plot_metric_table(table: pd.DataFrame, metric: str = "ndcg@10") -> Figure:
    """Each model's mean metric with its 95% bootstrap CI, best at the top."""
    t = table.sort_values(metric)
    fig, ax = plt.subplots(figsize=(6.5, 0.4 * len(t) + 1.4))
    err = np.vstack([t[metric] - t[f"{metric} low"], t[f"{metric} high"] - t[metric]])
    ax.barh(t.index, t[metric], xerr=err, color="#3366cc", alpha=0.8, capsize=3)
    ax.set(xlabel=f"mean {metric} (95% bootstrap CI)", title=f"Models on {metric}")
    fig.tight_layout()
    return fig


def plot_robustness(result: RobustnessResult) -> Figure:
    """Left: each model's metric on every split, mean +- sd over the random splits and the
    temporal split apart; right: each model's rank on each split (1 = best)."""
    metric, models = result.metric, result.ranking[::-1]  # best at the top
    values, ranks = result.values(), result.ranks()
    method = result.scores.drop_duplicates("split").set_index("split")["method"][values.index]
    random, temporal = values[method == "random"], values[method == "temporal"]
    fig, axes = plt.subplots(
        1, 2, figsize=(12, 0.42 * len(models) + 1.8), gridspec_kw={"width_ratios": [3, 2]}
    )
    y = np.arange(len(models))
    for j, model in enumerate(models):
        axes[0].scatter(random[model], np.full(len(random), j), color="grey", s=12, alpha=0.6)
    axes[0].errorbar(
        random[models].mean(), y, xerr=random[models].std(ddof=1), fmt="o", color=PALETTE[0],
        capsize=4, label=f"mean ± sd, {len(random)} random splits (dots: each split)",
    )  # fmt: skip
    if len(temporal):
        axes[0].scatter(temporal[models].iloc[0], y, marker="D", color=PALETTE[1], label="temporal")
    axes[0].set(yticks=y, yticklabels=models, xlabel=metric, title=f"{metric} across splits")
    axes[0].legend(fontsize=8, loc="lower right")
    grid = ranks[models].T.to_numpy()
    axes[1].imshow(grid, cmap="Blues_r", aspect="auto", origin="lower", vmin=1, vmax=len(models))
    axes[1].grid(False)
    for (i, j), rank in np.ndenumerate(grid):
        colour = "white" if rank <= len(models) / 2 else "black"
        axes[1].text(j, i, str(rank), ha="center", va="center", color=colour, fontsize=8)
    axes[1].set(
        yticks=y, yticklabels=models, xticks=np.arange(len(ranks)), title="rank on each split"
    )
    axes[1].set_xticklabels(ranks.index, rotation=45, ha="right", fontsize=8)
    fig.tight_layout()
    return fig


def plot_pairwise_forest(comparison: ModelComparison) -> Figure:
    """Every pair's mean difference with its bootstrap CI."""
    t = comparison.table
    labels = [f"{a} - {b}" for a, b in zip(t.model_a, t.model_b, strict=True)]
    return plot_forest(
        labels, t["diff"], t.ci_low, t.ci_high, xlabel=f"difference in mean {comparison.metric}"
    )


def plot_per_user_differences(diff: np.ndarray, a: str, b: str, metric: str = "ndcg@10") -> Figure:
    """Distribution of per-user differences: most users tie, the mean hides a wide spread."""
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    ax.hist(diff, bins=41, color="#3366cc", alpha=0.8)
    ax.axvline(0, color="black", lw=1, ls="--")
    ax.axvline(diff.mean(), color="#dc3912", lw=2, label=f"mean {diff.mean():+.4f}")
    share = (np.mean(diff > 0), np.mean(diff == 0), np.mean(diff < 0))
    ax.set(
        xlabel=f"per-user {metric}: {a} - {b}",
        ylabel="users",
        title=f"{a} better for {share[0]:.0%}, tie {share[1]:.0%}, worse {share[2]:.0%}",
    )
    ax.legend()
    fig.tight_layout()
    return fig


def plot_power_curves(
    n_grid: np.ndarray, curves: dict[str, np.ndarray], n_planned: float, unit: str = "impressions"
) -> Figure:
    """Power of the CTR z-test against the sample size per arm, for several relative lifts."""
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for label, power in curves.items():
        ax.plot(n_grid, power, label=label)
    ax.axhline(0.8, color="grey", ls="--", lw=1)
    ax.axvline(n_planned, color="black", ls=":", lw=1, label=f"planned n = {n_planned:,.0f}")
    ax.set(xscale="log", xlabel=f"{unit} per arm", ylabel="power", title="Power of the CTR z-test")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_sequential(
    aa: SequentialSimulation, ab: SequentialSimulation, alpha: float = 0.05
) -> Figure:
    """Left: A/A false-positive rate vs number of looks; right: power under a real effect."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, sim, title in (
        (axes[0], aa, f"A/A: false positives ({aa.n_sims:,} simulations)"),
        (axes[1], ab, f"A/B with +{ab.effect:.0%} effect: power"),
    ):
        ax.plot(sim.looks, sim.naive_rejection, "o-", label="naive z-test at every look")
        ax.plot(sim.looks, sim.group_sequential_rejection, "s-", label="group-sequential (Pocock)")
        ax.plot(sim.looks, sim.msprt_rejection, "^-", label="mSPRT (always valid)")
        ax.set(xscale="log", xlabel="number of looks", ylabel="rejection rate", title=title)
    axes[0].axhline(alpha, color="black", ls="--", lw=1, label=f"nominal {alpha:.0%}")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_cuped(pre: np.ndarray, post: np.ndarray, adjusted: np.ndarray, reduction: float) -> Figure:
    """Pre-period vs experiment clicks, and the metric's spread before/after CUPED."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    rng = np.random.default_rng(0)
    show = rng.choice(pre.size, size=min(pre.size, 3000), replace=False)
    jitter = rng.uniform(-0.3, 0.3, size=(2, show.size))
    axes[0].scatter(pre[show] + jitter[0], post[show] + jitter[1], s=4, alpha=0.3)
    axes[0].set(
        xlabel="pre-period clicks (covariate)",
        ylabel="experiment clicks",
        title=f"corr = {np.corrcoef(pre, post)[0, 1]:.2f}",
    )
    bins = np.linspace(min(adjusted.min(), post.min()), np.percentile(post, 99.5), 50)
    axes[1].hist(post, bins=bins, alpha=0.6, label=f"raw (sd {post.std():.2f})")
    axes[1].hist(adjusted, bins=bins, alpha=0.6, label=f"CUPED (sd {adjusted.std():.2f})")
    axes[1].set(xlabel="per-user engagement", title=f"CUPED variance reduction {reduction:.0%}")
    axes[1].legend()
    fig.tight_layout()
    return fig


def plot_sample_sizes(sizes: dict[str, float]) -> Figure:
    """Users each design needs for 80% power to detect the same difference."""
    fig, ax = plt.subplots(figsize=(6.5, 3.0))
    ax.barh(
        list(sizes), list(sizes.values()), color=["#3366cc", "#ff9900", "#109618"][: len(sizes)]
    )
    for y, v in enumerate(sizes.values()):
        ax.text(v, y, f" {v:,.0f}", va="center")
    ax.set(xscale="log", xlabel="users needed (80% power, alpha 5%)", title="Interleaving vs A/B")
    fig.tight_layout()
    return fig
