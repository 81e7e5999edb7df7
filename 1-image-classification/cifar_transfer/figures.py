"""Project-specific figures (the generic ones come from ``mlshared.plotting``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from mlshared import plotting

if TYPE_CHECKING:
    from cifar_transfer.explanation_quality import RandomisationResult


def plot_perturbation_curves(
    curves: Mapping[str, Mapping[str, np.ndarray]], title: str = "Deletion and insertion"
) -> Figure:
    """Mean class probability vs fraction of pixels deleted / inserted, one line per method."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for ax, mode in zip(axes, ("deletion", "insertion"), strict=True):
        for method, by_mode in curves.items():
            mean = by_mode[mode].mean(axis=0)
            x = np.linspace(0, 1, len(mean))
            style = "--" if method.startswith("random") else "-"
            ax.plot(x, mean, style, label=method)
        ax.set_xlabel(f"fraction of pixels {'deleted' if mode == 'deletion' else 'inserted'}")
        ax.set_title(mode)
    axes[0].set_ylabel("probability of explained class")
    axes[1].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_randomisation(
    results: Mapping[str, RandomisationResult], title: str = "Cascading model randomisation"
) -> Figure:
    """Spearman similarity to the trained model's maps as layers are randomised top-down."""
    fig, ax = plt.subplots(figsize=(10, 3.8))
    for method, result in results.items():
        stages: Sequence[str] = result.stages
        ax.plot(range(len(stages)), result.spearman, marker="o", label=method)
    ax.set_xticks(range(len(stages)))
    ax.set_xticklabels(stages, rotation=60, ha="right", fontsize=7)
    ax.axhline(0.0, color="grey", lw=0.8)
    ax.set_ylabel("Spearman rank correlation\nwith original maps")
    ax.set_xlabel("randomised down to (cumulative)")
    ax.legend(fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_method_comparison(
    images: np.ndarray, overlays: Mapping[str, np.ndarray], titles: Sequence[str]
) -> Figure:
    """Rows = images, columns = the image and each method's overlay (``cams.overlay``)."""
    n, cols = len(images), len(overlays) + 1
    fig, axes = plt.subplots(n, cols, figsize=(1.8 * cols, 1.8 * n), squeeze=False)
    for i in range(n):
        axes[i, 0].imshow(np.clip(images[i], 0, 255).astype(np.uint8))
        axes[i, 0].set_title(titles[i], fontsize=7)
        for j, (method, method_overlays) in enumerate(overlays.items(), start=1):
            axes[i, j].imshow(method_overlays[i])
            if i == 0:
                axes[i, j].set_title(method, fontsize=8)
    for ax in axes.ravel():
        ax.axis("off")
    fig.tight_layout()
    return fig


def robustness_grid(table: pd.DataFrame, value: str) -> pd.DataFrame:
    """One metric of :func:`robustness.evaluate_corruptions`'s table as corruption x level
    (JPEG's levels are its qualities; the clean row is left out)."""
    rows = table[table["corruption"] != "clean"].copy()
    rows["level"] = [
        f"q{int(p)}" if c == "jpeg" else f"s{s}"
        for c, s, p in zip(rows["corruption"], rows["severity"], rows["parameter"], strict=True)
    ]
    grid = rows.pivot(index="corruption", columns="level", values=value)
    severities = sorted(c for c in grid.columns if c.startswith("s"))
    qualities = sorted((c for c in grid.columns if c.startswith("q")), key=lambda c: -int(c[1:]))
    return grid[severities + qualities]


def plot_robustness(table: pd.DataFrame, title: str = "Common corruptions") -> Figure:
    """Accuracy and calibrated ECE under each corruption and level, as two seaborn heat maps,
    with the clean values in the title."""
    clean = table[table["corruption"] == "clean"].iloc[0]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    plotting.plot_heatmap(
        100 * robustness_grid(table, "accuracy"),
        "accuracy (%)",
        fmt=".1f",
        cmap="viridis",
        ax=axes[0],
    )
    plotting.plot_heatmap(
        100 * robustness_grid(table, "ece_calibrated"),
        "ECE after calibration (%)",
        fmt=".1f",
        cmap="magma_r",
        ax=axes[1],
    )
    fig.suptitle(
        f"{title} (clean: accuracy {clean['accuracy']:.1%}, ECE {clean['ece_calibrated']:.1%})"
    )
    fig.tight_layout()
    return fig
