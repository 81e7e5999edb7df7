"""Classification and calibration metrics on predicted probabilities.

Every function takes integer labels ``y_true`` of shape (n,) and probabilities ``proba`` of
shape (n, C); a binary problem may pass the positive-class probability as shape (n,).
Inputs are validated up front so a shape mistake is an error, not a silently wrong number.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_fscore_support

_EPS = 1e-12


def _labels(y_true: np.typing.ArrayLike) -> np.ndarray:
    y = np.asarray(y_true)
    if y.ndim != 1:
        raise ValueError(f"y_true must be 1-D integer labels, got shape {y.shape}")
    if y.size == 0:
        raise ValueError("y_true is empty: metrics need at least one example")
    if not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.equal(np.mod(y, 1), 0)):
            raise ValueError("y_true must hold integer class labels")
        y = y.astype(int)
    return y


def as_probability_matrix(proba: np.typing.ArrayLike) -> np.ndarray:
    """Return probabilities as (n, C); a 1-D positive-class vector becomes two columns."""
    p = np.asarray(proba, dtype=float)
    if p.ndim == 1:
        p = np.column_stack([1.0 - p, p])
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"proba must have shape (n, C>=2) or (n,), got {np.shape(proba)}")
    if not np.all(np.isfinite(p)):
        raise ValueError("proba contains NaN or infinite values")
    if np.any(p < -1e-9) or np.any(p > 1 + 1e-9):
        raise ValueError("proba must lie in [0, 1]; pass probabilities, not logits")
    if not np.allclose(p.sum(axis=1), 1.0, atol=1e-4):
        raise ValueError("each row of proba must sum to 1; apply softmax to logits first")
    return p


def _checked(
    y_true: np.typing.ArrayLike, proba: np.typing.ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    y = _labels(y_true)
    p = as_probability_matrix(proba)
    if len(y) != len(p):
        raise ValueError(f"y_true has {len(y)} labels but proba has {len(p)} rows")
    if y.min() < 0 or y.max() >= p.shape[1]:
        raise ValueError(f"labels must be in [0, {p.shape[1] - 1}] to index proba's columns")
    return y, p


def accuracy(y_true: np.typing.ArrayLike, y_pred: np.typing.ArrayLike) -> float:
    """Fraction of exact label matches."""
    y = _labels(y_true)
    pred = np.asarray(y_pred)
    if pred.shape != y.shape:
        raise ValueError(f"y_pred shape {pred.shape} does not match y_true shape {y.shape}")
    return float(np.mean(y == pred))


def top_k_accuracy(y_true: np.typing.ArrayLike, proba: np.typing.ArrayLike, k: int = 2) -> float:
    """Fraction of examples whose true label is among the k most probable classes.

    Ties at the k-th place are broken in favour of the higher class index, the same
    convention as ``sklearn.metrics.top_k_accuracy_score``.
    """
    y, p = _checked(y_true, proba)
    if not 1 <= k <= p.shape[1]:
        raise ValueError(f"k must be in [1, {p.shape[1]}], got {k}")
    # sklearn sorts ascending (stable) and reverses, so among tied scores the higher class wins.
    topk = np.argsort(p, axis=1, kind="stable")[:, ::-1][:, :k]
    return float(np.mean(np.any(topk == y[:, None], axis=1)))


def per_class_report(
    y_true: np.typing.ArrayLike,
    y_pred: np.typing.ArrayLike,
    class_names: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Precision, recall, F1 and support per class, plus macro and weighted averages.

    A class that is never predicted gets precision 0 (scikit-learn's ``zero_division=0``),
    stated here because it lowers the macro average.
    """
    y = _labels(y_true)
    pred = np.asarray(y_pred)
    n_classes = len(class_names) if class_names is not None else int(max(y.max(), pred.max()) + 1)
    labels = np.arange(n_classes)
    names = list(class_names) if class_names is not None else [str(i) for i in labels]
    p, r, f, s = precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
    table = pd.DataFrame({"precision": p, "recall": r, "f1": f, "support": s}, index=names)
    for average in ("macro", "weighted"):
        pa, ra, fa, _ = precision_recall_fscore_support(
            y, pred, labels=labels, average=average, zero_division=0
        )
        table.loc[f"{average} avg"] = [pa, ra, fa, s.sum()]
    table["support"] = table["support"].astype(int)
    return table


def negative_log_likelihood(y_true: np.typing.ArrayLike, proba: np.typing.ArrayLike) -> float:
    """Mean negative log-probability of the true class (natural log), clipped at 1e-12."""
    y, p = _checked(y_true, proba)
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], _EPS, 1.0))))


def brier_score(y_true: np.typing.ArrayLike, proba: np.typing.ArrayLike) -> float:
    """Mean over examples of the squared error summed over classes (Brier 1950).

    For a binary (n,) input this is twice scikit-learn's ``brier_score_loss``, which only
    counts the positive class; the multi-class form is used so 2- and 10-class numbers share
    a definition.
    """
    y, p = _checked(y_true, proba)
    onehot = np.zeros_like(p)
    onehot[np.arange(len(y)), y] = 1.0
    return float(np.mean(np.sum((p - onehot) ** 2, axis=1)))


def reliability_bins(
    y_true: np.typing.ArrayLike, proba: np.typing.ArrayLike, n_bins: int = 15
) -> pd.DataFrame:
    """Top-label confidence vs accuracy in equal-width bins over (0, 1].

    Bins are right-closed, ``(lo, hi]``, as in Guo et al. (2017); empty bins are kept with
    count 0 so plots show where the model never lands.
    """
    if n_bins < 1:
        raise ValueError("n_bins must be at least 1")
    y, p = _checked(y_true, proba)
    confidence = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    count = np.bincount(index, minlength=n_bins)
    conf_sum = np.bincount(index, weights=confidence, minlength=n_bins)
    acc_sum = np.bincount(index, weights=correct, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.where(count > 0, conf_sum / np.maximum(count, 1), np.nan)
        mean_acc = np.where(count > 0, acc_sum / np.maximum(count, 1), np.nan)
    return pd.DataFrame(
        {
            "lower": edges[:-1],
            "upper": edges[1:],
            "count": count,
            "confidence": mean_conf,
            "accuracy": mean_acc,
        }
    )


def expected_calibration_error(
    y_true: np.typing.ArrayLike, proba: np.typing.ArrayLike, n_bins: int = 15
) -> float:
    """ECE: bin-size-weighted mean |accuracy - confidence| of the top label (Guo et al., 2017)."""
    bins = reliability_bins(y_true, proba, n_bins)
    filled = bins[bins["count"] > 0]
    gap = np.abs(filled["accuracy"] - filled["confidence"])
    return float(np.sum(gap * filled["count"]) / filled["count"].sum())


def classification_summary(
    y_true: np.typing.ArrayLike,
    proba: np.typing.ArrayLike,
    n_bins: int = 15,
    k: int = 2,
) -> dict[str, float]:
    """The headline numbers of a probabilistic classifier in one dict."""
    y, p = _checked(y_true, proba)
    pred = p.argmax(axis=1)
    report = per_class_report(y, pred, [str(i) for i in range(p.shape[1])])
    summary = {
        "accuracy": accuracy(y, pred),
        "macro_f1": float(report.loc["macro avg", "f1"]),
        "nll": negative_log_likelihood(y, p),
        "brier": brier_score(y, p),
        "ece": expected_calibration_error(y, p, n_bins),
        "n": len(y),
    }
    if p.shape[1] > k:
        summary[f"top{k}_accuracy"] = top_k_accuracy(y, p, k)
    return summary
