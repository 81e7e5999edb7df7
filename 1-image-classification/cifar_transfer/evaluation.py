"""Test-set evaluation built on ``mlshared.classification_metrics``, plus CIFAR-specific views
(pixel-exact subset, most-confused pairs, misclassified examples)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlshared import classification_metrics as cm


def predict_logits(model: Any, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Logits for a uint8/float image array, batched through a compiled call (not ``predict``,
    whose per-call overhead dominates on small arrays)."""
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def run(batch: Any) -> Any:
        return tf.cast(model(tf.cast(batch, tf.float32), training=False), tf.float32)

    out = [run(images[i : i + batch_size]).numpy() for i in range(0, len(images), batch_size)]
    return np.concatenate(out).astype(np.float64)


def summarize(y: np.ndarray, proba: np.ndarray, n_bins: int = 15) -> dict[str, float]:
    """Accuracy, top-2, NLL, Brier and ECE in one dict (mlshared does the maths)."""
    return {k: float(v) for k, v in cm.classification_summary(y, proba, n_bins=n_bins, k=2).items()}


def subset_accuracy(y: np.ndarray, y_pred: np.ndarray, mask: np.ndarray | None) -> float | None:
    """Accuracy on the rows where ``mask`` is true (the pixel-exact test images)."""
    if mask is None or not np.any(mask):
        return None
    return cm.accuracy(np.asarray(y)[mask], np.asarray(y_pred)[mask])


def most_confused_pairs(
    y: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str], top: int = 5
) -> pd.DataFrame:
    """The largest off-diagonal confusion counts, with the share of the true class they take."""
    n = len(class_names)
    counts = np.zeros((n, n), dtype=np.int64)
    np.add.at(counts, (np.asarray(y), np.asarray(y_pred)), 1)
    support = counts.sum(axis=1)
    rows = [
        {
            "true": class_names[i],
            "predicted": class_names[j],
            "count": int(counts[i, j]),
            "share_of_true": float(counts[i, j] / max(support[i], 1)),
        }
        for i in range(n)
        for j in range(n)
        if i != j and counts[i, j] > 0
    ]
    frame = pd.DataFrame(rows, columns=["true", "predicted", "count", "share_of_true"])
    return (
        frame.sort_values("count", ascending=False, kind="stable").head(top).reset_index(drop=True)
    )


def misclassified_indices(
    y: np.ndarray, proba: np.ndarray, limit: int = 16, seed: int = 0
) -> np.ndarray:
    """A reproducible sample of wrong predictions, most confident first (the instructive ones)."""
    y_pred = proba.argmax(axis=1)
    wrong = np.flatnonzero(y_pred != y)
    if len(wrong) > 4 * limit:
        wrong = np.random.default_rng(seed).choice(wrong, 4 * limit, replace=False)
    order = np.argsort(-proba[wrong].max(axis=1), kind="stable")
    return wrong[order][:limit]


def image_titles(
    y: np.ndarray, proba: np.ndarray, indices: np.ndarray, class_names: Sequence[str]
) -> list[str]:
    """ "pred p / true" captions for an image grid."""
    titles = []
    for i in indices:
        pred = int(proba[i].argmax())
        titles.append(f"{class_names[pred]} {proba[i, pred]:.2f}\n(true {class_names[int(y[i])]})")
    return titles
