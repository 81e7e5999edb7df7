"""One plotting style and the handful of figures every project needs.

Functions return a matplotlib Figure and never call ``plt.show()``, so notebooks display
them inline and scripts can save them with :func:`save_figure`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from cycler import cycler
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from sklearn.metrics import confusion_matrix

from mlshared.classification_metrics import reliability_bins

PALETTE = ["#3366cc", "#dc3912", "#ff9900", "#109618", "#990099", "#0099c6", "#dd4477", "#66aa00"]

_STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 120,
    "savefig.bbox": "tight",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.titleweight": "bold",
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.frameon": False,
    "font.size": 10,
    "axes.prop_cycle": cycler(color=PALETTE),
    "image.cmap": "viridis",
}


def apply_style() -> None:
    """Apply the portfolio's plot style to every later figure."""
    mpl.style.use(_STYLE)


def plot_training_curves(
    history: Mapping[str, Sequence[float]], title: str = "Training curves"
) -> Figure:
    """Plot a Keras-style history: one panel per metric, ``val_`` curves beside their train twin."""
    if not history:
        raise ValueError("history is empty: nothing to plot")
    metrics = [name for name in history if not name.startswith("val_")]
    metrics += [name[4:] for name in history if name.startswith("val_") and name[4:] not in history]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.3), squeeze=False)
    for ax, name in zip(axes[0], metrics, strict=True):
        for key, style in ((name, "-"), (f"val_{name}", "--")):
            if key in history:
                values = np.asarray(history[key], dtype=float)
                ax.plot(np.arange(1, len(values) + 1), values, style, marker="o", ms=3, label=key)
        ax.set(title=name, xlabel="epoch")
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_confusion_matrices(
    y_true: np.typing.ArrayLike,
    y_pred: np.typing.ArrayLike,
    class_names: Sequence[str],
    title: str = "Confusion matrix",
) -> Figure:
    """Counts and row-normalised (recall per true class) confusion matrices side by side,
    drawn as seaborn heat maps."""
    import seaborn as sns

    labels = np.arange(len(class_names))
    counts = confusion_matrix(y_true, y_pred, labels=labels)
    with np.errstate(invalid="ignore", divide="ignore"):
        normalised = np.nan_to_num(counts / counts.sum(axis=1, keepdims=True))
    size = max(4.0, 0.45 * len(class_names) + 2.5)
    fig, axes = plt.subplots(1, 2, figsize=(2 * size + 1, size))
    for ax, matrix, fmt, name in (
        (axes[0], counts, "d", "counts"),
        (axes[1], normalised, ".2f", "normalised by true class"),
    ):
        sns.heatmap(
            matrix,
            ax=ax,
            cmap="Blues",
            annot=True,
            fmt=fmt,
            annot_kws={"fontsize": 7 if len(class_names) > 6 else 9},
            xticklabels=list(class_names),
            yticklabels=list(class_names),
            square=True,
            cbar_kws={"fraction": 0.046, "pad": 0.04},
        )
        ax.set(xlabel="predicted", ylabel="true", title=f"{title} ({name})")
        ax.tick_params(axis="x", labelrotation=45)
        ax.tick_params(axis="y", labelrotation=0)
    fig.tight_layout()
    return fig


def plot_heatmap(
    frame: pd.DataFrame,
    title: str,
    fmt: str = ".2f",
    cmap: str = "viridis",
    colorbar_label: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """One annotated seaborn heat map of a numeric table (rows x columns as laid out), on a
    new figure or on ``ax`` (several heat maps side by side)."""
    import seaborn as sns

    if frame.empty:
        raise ValueError("nothing to plot: the table is empty")
    if ax is None:
        size = (0.9 * frame.shape[1] + 3.0, 0.45 * frame.shape[0] + 1.6)
        ax = plt.subplots(figsize=size)[1]
    fig = ax.get_figure()
    assert isinstance(fig, Figure), "pass an Axes of a top-level figure"
    sns.heatmap(
        frame.astype(float),
        ax=ax,
        annot=True,
        fmt=fmt,
        cmap=cmap,
        cbar_kws={"label": colorbar_label} if colorbar_label else None,
    )
    ax.set_title(title)
    ax.tick_params(axis="y", labelrotation=0)
    fig.tight_layout()
    return fig


def plot_confidence_histograms(
    curves: Mapping[str, tuple[np.typing.ArrayLike, np.typing.ArrayLike]],
    bins: int = 20,
    title: str = "Top-label confidence, right and wrong predictions",
) -> Figure:
    """One panel per ``(y_true, proba)`` pair: seaborn histograms of the top-label
    confidence of right and wrong predictions (how separable mistakes are by confidence)."""
    import seaborn as sns

    fig, axes = plt.subplots(
        1, len(curves), figsize=(4.6 * len(curves), 3.4), squeeze=False, sharey=True
    )
    for ax, (name, (y_true, proba)) in zip(axes[0], curves.items(), strict=True):
        p = np.asarray(proba, dtype=float)
        frame = pd.DataFrame(
            {
                "confidence": p.max(axis=1),
                "prediction": np.where(p.argmax(axis=1) == np.asarray(y_true), "right", "wrong"),
            }
        )
        sns.histplot(
            frame,
            x="confidence",
            hue="prediction",
            hue_order=["right", "wrong"],
            bins=np.linspace(0, 1, bins + 1),
            stat="count",
            element="step",
            ax=ax,
        )
        ax.set(title=name, yscale="log")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_reliability_diagram(
    curves: Mapping[str, tuple[np.typing.ArrayLike, np.typing.ArrayLike]],
    n_bins: int = 15,
    title: str = "Reliability diagram",
) -> Figure:
    """Accuracy vs confidence per bin for one or more (y_true, proba) pairs, with ECE in the legend.

    A second panel shows how many examples fall in each bin, because a gap in a nearly
    empty bin means little.
    """
    from mlshared.classification_metrics import expected_calibration_error

    fig, (ax, ax_count) = plt.subplots(
        2, 1, figsize=(5.2, 6.0), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls=":", label="perfect calibration")
    width = 1.0 / n_bins / max(len(curves), 1)
    for i, (name, (y_true, proba)) in enumerate(curves.items()):
        bins = reliability_bins(y_true, proba, n_bins)
        ece = expected_calibration_error(y_true, proba, n_bins)
        filled = bins[bins["count"] > 0]
        ax.plot(
            filled["confidence"],
            filled["accuracy"],
            marker="o",
            ms=4,
            label=f"{name} (ECE {ece:.2%})",
        )
        ax_count.bar(bins["lower"] + width * (i + 0.5), bins["count"], width=width, label=name)
    ax.set(ylabel="accuracy", title=title, xlim=(0, 1), ylim=(0, 1))
    ax.legend(loc="upper left")
    ax_count.set(xlabel="confidence (top label)", ylabel="count")
    ax_count.set_yscale("log")
    fig.tight_layout()
    return fig


def plot_forest(
    labels: Sequence[str],
    estimates: np.typing.ArrayLike,
    lows: np.typing.ArrayLike,
    highs: np.typing.ArrayLike,
    reference: float = 0.0,
    xlabel: str = "difference",
    title: str = "Differences with 95% confidence intervals",
) -> Figure:
    """Forest plot: one row per comparison, intervals that exclude ``reference`` in colour."""
    est, lo, hi = (np.asarray(v, dtype=float) for v in (estimates, lows, highs))
    if not (len(labels) == est.size == lo.size == hi.size):
        raise ValueError("labels, estimates, lows and highs must have the same length")
    if np.any(lo > est) or np.any(hi < est):
        raise ValueError("each interval must contain its estimate (low <= estimate <= high)")
    rows = np.arange(len(labels))[::-1]
    fig, ax = plt.subplots(figsize=(6.5, 0.4 * len(labels) + 1.4))
    excludes = (lo > reference) | (hi < reference)
    colours = [PALETTE[0] if excluded else "grey" for excluded in excludes]
    ax.hlines(rows, lo, hi, colors=colours, lw=2)
    ax.scatter(est, rows, c=colours, zorder=3, s=25)
    ax.axvline(reference, color="black", lw=1, ls="--")
    ax.set_yticks(rows)
    ax.set_yticklabels(labels)
    ax.set(xlabel=xlabel, title=title)
    ax.grid(axis="y", visible=False)
    fig.tight_layout()
    return fig


def plot_image_grid(
    images: np.typing.ArrayLike,
    titles: Sequence[str] | None = None,
    heatmaps: np.typing.ArrayLike | None = None,
    ncols: int = 8,
    alpha: float = 0.45,
    cmap: str = "jet",
    title: str | None = None,
) -> Figure:
    """Grid of images (N, H, W[, 3]) in [0, 1] or [0, 255], optionally with heat maps (N, h, w) on top.

    Heat maps are resized to the image size by bilinear interpolation in ``imshow`` (via
    ``extent``), so a 7x7 class-activation map lines up with its 224x224 image.
    """
    imgs = np.asarray(images)
    if imgs.ndim not in (3, 4) or len(imgs) == 0:
        raise ValueError(f"images must be a non-empty array (N, H, W[, C]), got shape {imgs.shape}")
    if imgs.ndim == 4 and imgs.shape[-1] == 1:
        imgs = imgs[..., 0]  # single-channel images are drawn in grey
    if imgs.max() > 1.0:
        imgs = imgs / 255.0
    maps = None if heatmaps is None else np.asarray(heatmaps, dtype=float)
    if maps is not None and len(maps) != len(imgs):
        raise ValueError(f"{len(maps)} heat maps for {len(imgs)} images")
    if titles is not None and len(titles) != len(imgs):
        raise ValueError(f"{len(titles)} titles for {len(imgs)} images")
    ncols = min(ncols, len(imgs))
    nrows = int(np.ceil(len(imgs) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.7 * ncols, 1.9 * nrows), squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if i >= len(imgs):
            continue
        height, width = imgs[i].shape[:2]
        extent = (0, width, height, 0)
        ax.imshow(np.clip(imgs[i], 0, 1), extent=extent, cmap=None if imgs.ndim == 4 else "gray")
        if maps is not None:
            ax.imshow(maps[i], cmap=cmap, alpha=alpha, extent=extent, interpolation="bilinear")
        if titles is not None:
            ax.set_title(titles[i], fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def save_figure(fig: Figure, directory: str | os.PathLike[str], name: str) -> Path:
    """Save ``fig`` as ``<directory>/<name>.png`` (name slugified) and return the path."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")
    if not slug:
        raise ValueError(f"figure name {name!r} has no usable characters")
    path = Path(directory) / (slug if slug.endswith(".png") else f"{slug}.png")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
