"""Figures and tables for the notebook and README: data summary, feature analysis, member
comparison, confusion matrices, reliability, training curves, the cross-dataset matrix. Kept
here so the notebook stays thin."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from misinfo.evaluation import CrossDatasetMatrix
from misinfo.features import FEATURE_DESCRIPTIONS
from misinfo.labels import FAKE, LABEL_NAMES
from misinfo.models import FeatureModel, TfidfLogReg


def split_summary(splits: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Rows and share of fake per split."""
    return pd.DataFrame(
        {s: {"rows": len(df), "fake_share": float(df["label"].mean())} for s, df in splits.items()}
    ).T


def feature_class_summary(features: pd.DataFrame, y: np.ndarray) -> pd.DataFrame:
    """Median per class and a standardised mean difference (fake - real) / pooled sd per
    feature, sorted by |difference|: which styles differ between the classes, and how much."""
    y = np.asarray(y).astype(int)
    rows = {}
    for col in features.columns:
        a, b = features.loc[y == FAKE, col], features.loc[y != FAKE, col]
        pooled = np.sqrt((a.var() + b.var()) / 2) or 1.0
        rows[col] = {
            "median_real": b.median(),
            "median_fake": a.median(),
            "std_mean_diff": (a.mean() - b.mean()) / pooled,
            "description": FEATURE_DESCRIPTIONS.get(col, ""),
        }
    df = pd.DataFrame(rows).T
    df["std_mean_diff"] = df["std_mean_diff"].astype(float)
    return df.reindex(df["std_mean_diff"].abs().sort_values(ascending=False).index)


def plot_feature_distributions(
    features: pd.DataFrame, y: np.ndarray, names: Sequence[str], clip_quantile: float = 0.99
) -> Figure:
    """Histograms of each named feature by class (clipped at the 99th percentile so one long
    article does not flatten the plot)."""
    import matplotlib.pyplot as plt

    y = np.asarray(y).astype(int)
    ncols = 3
    nrows = int(np.ceil(len(names) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 2.8 * nrows), squeeze=False)
    for ax, name in zip(axes.ravel(), names, strict=False):
        col = features[name].to_numpy(dtype=float)
        hi = np.quantile(col, clip_quantile)
        lo = col.min()
        bins = np.linspace(lo, hi if hi > lo else lo + 1, 30)
        for cls in (1 - FAKE, FAKE):
            ax.hist(
                np.clip(col[y == cls], lo, hi),
                bins=bins,
                alpha=0.55,
                density=True,
                label=LABEL_NAMES[cls],
            )
        ax.set_title(name, fontsize=9)
    for ax in axes.ravel()[len(names) :]:
        ax.axis("off")
    axes[0, 0].legend()
    fig.suptitle("Text features by class (train split)")
    fig.tight_layout()
    return fig


def feature_importance(
    model: FeatureModel, features: pd.DataFrame, y: np.ndarray, seed: int = 0, repeats: int = 5
) -> pd.DataFrame:
    """Standardised logistic-regression coefficient and permutation importance (drop in
    ROC-AUC on the given split when a feature is shuffled) per feature."""
    from sklearn.inspection import permutation_importance

    x = model.inputs(features)
    res = permutation_importance(
        model.pipeline, x, np.asarray(y), scoring="roc_auc", n_repeats=repeats, random_state=seed
    )
    coef = model.coefficients()
    df = pd.DataFrame(
        {
            "coefficient": coef.reindex(features.columns),
            "permutation_auc_drop": res.importances_mean,
            "permutation_sd": res.importances_std,
        },
        index=features.columns,
    )
    return df.sort_values("permutation_auc_drop", ascending=False)


def plot_feature_importance(importance: pd.DataFrame, top: int = 12) -> Figure:
    """Bar chart: permutation importance with error bars, and the signed coefficient."""
    import matplotlib.pyplot as plt

    df = importance.head(top)[::-1]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 0.35 * len(df) + 1.5), sharey=True)
    a1.barh(df.index, df["permutation_auc_drop"], xerr=df["permutation_sd"], color="tab:blue")
    a1.set(xlabel="ROC-AUC drop when shuffled (test)", title="Permutation importance")
    colors = ["tab:red" if c > 0 else "tab:green" for c in df["coefficient"]]
    a2.barh(df.index, df["coefficient"], color=colors)
    a2.axvline(0, color="grey", lw=0.8)
    a2.set(xlabel="standardised coefficient (+ = toward fake)", title="Logistic-regression weight")
    fig.tight_layout()
    return fig


def plot_metric_comparison(
    table: pd.DataFrame, metrics: Sequence[str] = ("accuracy", "macro_f1", "roc_auc")
) -> Figure:
    """Grouped bars of the test metrics per model."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.6 * len(table) + 3, 3.4))
    width = 0.8 / len(metrics)
    x = np.arange(len(table))
    for i, m in enumerate(metrics):
        ax.bar(x + i * width, table[m].astype(float), width, label=m)
    ax.set_xticks(x + width * (len(metrics) - 1) / 2, table.index)
    lo = float(np.nanmin(table[list(metrics)].to_numpy(dtype=float)))
    ax.set_ylim(max(0.0, lo - 0.1), 1.0)
    ax.axhline(0.5, color="grey", ls=":", lw=1)
    ax.legend(ncol=len(metrics), fontsize=8)
    ax.set_title("Test metrics per model")
    fig.tight_layout()
    return fig


def confusion_figures(
    y: np.ndarray, p_fake: Mapping[str, np.ndarray], names: Sequence[str], threshold: float = 0.5
) -> dict[str, Figure]:
    """Confusion matrices (counts and recall per class) of the named models."""
    from mlshared.plotting import plot_confusion_matrices

    return {
        f"confusion_{name}": plot_confusion_matrices(
            y,
            (np.asarray(p_fake[name]) >= threshold).astype(int),
            list(LABEL_NAMES),
            title=f"Confusion matrix: {name}",
        )
        for name in names
    }


def reliability_figure(
    y: np.ndarray, before: Mapping[str, np.ndarray], after: Mapping[str, np.ndarray]
) -> Figure:
    """Reliability curves: the ensemble before and after temperature scaling, and every model
    after it."""
    from mlshared.plotting import plot_reliability_diagram

    curves = {
        "ensemble (uncalibrated)": (y, before["ensemble"]),
        "ensemble (temperature)": (y, after["ensemble"]),
    }
    curves |= {f"{m} (temperature)": (y, p) for m, p in after.items() if m != "ensemble"}
    return plot_reliability_diagram(curves)


def training_curve_figures(histories: Mapping[str, list[dict[str, float]]]) -> dict[str, Figure]:
    """One loss-curve figure per fine-tuned member (training windows and validation epochs)."""
    from mlshared.plotting import plot_training_curves

    return {
        f"training_{name}": plot_training_curves(
            transformer_history(history), title=f"{name} fine-tuning"
        )
        for name, history in histories.items()
    }


def transformer_history(history: list[dict[str, float]]) -> dict[str, list[float]]:
    """Member training log -> the Keras-style dict mlshared.plot_training_curves expects
    (train loss per logging window; valid loss per epoch under ``val_loss``)."""
    out: dict[str, list[float]] = {"loss": [h["train_loss"] for h in history if "train_loss" in h]}
    val = [h["valid_loss"] for h in history if "valid_loss" in h]
    if val:
        out["val_loss"] = val
    return out


def top_terms_table(tfidf: TfidfLogReg, k: int = 12) -> pd.DataFrame:
    """The k terms with the largest weights toward fake and toward real, side by side."""
    terms = tfidf.top_terms(k)
    fake = terms[terms["pushes_toward"] == "fake"].reset_index(drop=True)
    real = terms[terms["pushes_toward"] == "real"].reset_index(drop=True)
    return pd.DataFrame(
        {
            "toward_fake": fake["term"],
            "weight_fake": fake["weight"],
            "toward_real": real["term"],
            "weight_real": real["weight"],
        }
    )


def plot_cross_dataset_matrix(
    matrix: CrossDatasetMatrix, metric: str = "macro_f1", model: str = "ensemble"
) -> Figure:
    """Heat maps (seaborn) of the cross-dataset matrix: ``metric`` of ``model`` and the share
    flagged out of domain, rows = trained on, columns = tested on (the diagonal is in-domain)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    panels = {
        f"{model} {metric}": (matrix.matrix(metric, model), "viridis", (0.0, 1.0)),
        "share flagged out of domain": (matrix.matrix("ood_flagged", model), "rocket_r", (0, 1)),
    }
    size = max(len(matrix.matrix(metric, model).columns), 2)
    fig, axes = plt.subplots(1, 2, figsize=(2 * (1.3 * size + 2.2), 1.1 * size + 1.4))
    for ax, (title, (values, cmap, (lo, hi))) in zip(axes, panels.items(), strict=True):
        sns.heatmap(
            values.astype(float),
            annot=True,
            fmt=".2f",
            cmap=cmap,
            vmin=lo,
            vmax=hi,
            square=True,
            cbar=True,
            ax=ax,
        )
        ax.set(title=title, xlabel="tested on", ylabel="trained on")
        ax.grid(False)
    fig.suptitle("Cross-dataset matrix (diagonal: in-domain test split)")
    fig.tight_layout()
    return fig
