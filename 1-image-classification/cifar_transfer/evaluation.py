"""Test-set evaluation built on ``mlshared.classification_metrics``, plus CIFAR-specific views
(pixel-exact subset, most-confused pairs, misclassified examples), and temperature scaling
(``mlshared.calibration``) fitted on validation logits. ``evaluate`` is the one call a run
makes; its :class:`EvaluationResult` reports itself."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cifar_transfer.data import CifarSplits
from cifar_transfer.model import predict_logits
from mlshared import classification_metrics as cm
from mlshared.calibration import apply_temperature, fit_temperature, nll_at_temperature


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


@dataclass
class EvaluationResult:
    """Test metrics before and after temperature scaling, with the views the notebook shows.

    ``val_logits`` maps "clean" / "test-like" to validation logits; the temperature is fitted
    on the test-like ones (never on test images).
    """

    y_test: np.ndarray
    class_names: tuple[str, ...]
    test_logits: np.ndarray
    temperature: float
    val_accuracy: dict[str, float]
    val_nll: dict[str, float]
    exact_mask: np.ndarray | None
    n_val_jpeg: int
    seconds: float
    seed: int = 0

    @property
    def proba_before(self) -> np.ndarray:
        """Test probabilities at temperature 1."""
        return apply_temperature(self.test_logits)

    @property
    def proba_after(self) -> np.ndarray:
        """Test probabilities after temperature scaling."""
        return apply_temperature(self.test_logits, self.temperature)

    @property
    def y_pred(self) -> np.ndarray:
        """Predicted classes (scaling never changes them)."""
        return self.test_logits.argmax(axis=1)

    def summaries(self) -> dict[str, dict[str, float]]:
        """Accuracy, top-2, NLL, Brier and ECE before / after scaling, on all test images and
        on the pixel-exact subset when one is known."""
        out = {"before": summarize(self.y_test, self.proba_before)}
        out["after"] = summarize(self.y_test, self.proba_after)
        if self.exact_mask is not None:
            exact = self.exact_mask
            out["pixel-exact before"] = summarize(self.y_test[exact], self.proba_before[exact])
            out["pixel-exact after"] = summarize(self.y_test[exact], self.proba_after[exact])
        return out

    def table(self) -> pd.DataFrame:
        """The summaries side by side."""
        return pd.DataFrame(self.summaries())

    def reliability_curves(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """``(labels, probabilities)`` before and after scaling, for a reliability diagram."""
        after = f"after (T={self.temperature:.2f})"
        return {"before": (self.y_test, self.proba_before), after: (self.y_test, self.proba_after)}

    def per_class(self) -> pd.DataFrame:
        """Precision, recall and F1 per class."""
        return cm.per_class_report(self.y_test, self.y_pred, self.class_names)

    def most_confused(self, top: int = 5) -> pd.DataFrame:
        """The largest confusions (see :func:`most_confused_pairs`)."""
        return most_confused_pairs(self.y_test, self.y_pred, self.class_names, top)

    def misclassified(self, limit: int = 16) -> np.ndarray:
        """A reproducible sample of wrong predictions, most confident first."""
        return misclassified_indices(self.y_test, self.proba_after, limit, self.seed)

    def shown_indices(self, n: int) -> np.ndarray:
        """Test images for a CAM grid: the first correct ones, then wrong ones (half each)."""
        correct = np.flatnonzero(self.y_pred == self.y_test)[: n // 2]
        return np.concatenate([correct, self.misclassified()[: n - len(correct)]])

    def sample_indices(self, n: int) -> np.ndarray:
        """A seeded random sample of ``n`` test images (all of them when there are fewer)."""
        size = min(n, len(self.y_test))
        return np.random.default_rng(self.seed).choice(len(self.y_test), size=size, replace=False)

    def titles(self, indices: np.ndarray) -> list[str]:
        """Calibrated "pred p / true" captions."""
        return image_titles(self.y_test, self.proba_after, indices, self.class_names)

    def to_metrics(self) -> dict[str, Any]:
        """Everything the README quotes from this step, for the metrics JSON."""
        summaries = self.summaries()
        exact = self.exact_mask
        return {
            "test": summaries["before"],
            "test_calibrated": summaries["after"],
            "temperature": self.temperature,
            "test_accuracy_pixel_exact": subset_accuracy(self.y_test, self.y_pred, exact),
            "test_pixel_exact": None
            if exact is None
            else {
                "before": summaries["pixel-exact before"],
                "after": summaries["pixel-exact after"],
            },
            "n_pixel_exact": None if exact is None else int(exact.sum()),
            "val_accuracy": self.val_accuracy,
            "n_val_jpeg": self.n_val_jpeg,
            "val_nll": self.val_nll,
            "most_confused": self.most_confused().to_dict("records"),
            "per_class": self.per_class().reset_index(names="class").to_dict("records"),
            "seconds": self.seconds,
        }


def evaluate(
    model: Any, val_logits: dict[str, np.ndarray], splits: CifarSplits, seed: int = 0
) -> EvaluationResult:
    """Run the complete model on the test images (images in, logits out) and fit the
    temperature on the test-like validation logits (``TrainedClassifier.val_logits``)."""
    start = time.perf_counter()
    test_logits = predict_logits(model, splits.x_test)
    val = val_logits["test-like"]
    temperature = fit_temperature(val, splits.y_val)
    return EvaluationResult(
        y_test=splits.y_test,
        class_names=splits.class_names,
        test_logits=test_logits,
        temperature=temperature,
        val_accuracy={
            k: float((v.argmax(1) == splits.y_val).mean()) for k, v in val_logits.items()
        },
        val_nll={
            "before": nll_at_temperature(val, splits.y_val, 1.0),
            "after": nll_at_temperature(val, splits.y_val, temperature),
        },
        exact_mask=splits.test_exact_mask,
        n_val_jpeg=0 if splits.val_jpeg_rows is None else int(splits.val_jpeg_rows.sum()),
        seconds=time.perf_counter() - start,
        seed=seed,
    )
