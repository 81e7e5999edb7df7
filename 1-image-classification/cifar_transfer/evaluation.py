"""Test-set evaluation built on ``mlshared.classification_metrics``, plus CIFAR-specific views
(most-confused pairs, misclassified examples), and calibration (``mlshared.calibration``:
temperature, vector scaling, Dirichlet) fitted on validation logits. ``evaluate`` is the one
call a run makes; its :class:`EvaluationResult` reports itself."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cifar_transfer.data import CifarSplits
from mlshared import classification_metrics as cm
from mlshared.calibration import (
    CALIBRATORS,
    Calibrator,
    apply_temperature,
    cross_fitted_proba,
    fit_calibrator,
)


def summarize(y: np.ndarray, proba: np.ndarray, n_bins: int = 15) -> dict[str, float]:
    """Accuracy, top-2, NLL, Brier and ECE in one dict (mlshared does the maths)."""
    return {k: float(v) for k, v in cm.classification_summary(y, proba, n_bins=n_bins, k=2).items()}


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
    """Test metrics before and after calibration, with the views the notebook shows.

    Every calibrator in ``calibrators`` was fitted on the validation logits (never on test
    images); ``chosen`` is the one with the lowest cross-fitted validation NLL
    (``val_calibration``), and "after" means after it.
    """

    y_test: np.ndarray
    class_names: tuple[str, ...]
    test_logits: np.ndarray
    calibrators: dict[str, Calibrator]
    val_calibration: pd.DataFrame
    chosen: str
    val_accuracy: float
    seconds: float
    seed: int = 0

    @property
    def calibrator(self) -> Calibrator:
        """The chosen calibrator."""
        return self.calibrators[self.chosen]

    @property
    def proba_before(self) -> np.ndarray:
        """Test probabilities of the raw logits."""
        return apply_temperature(self.test_logits)

    @property
    def proba_after(self) -> np.ndarray:
        """Test probabilities after the chosen calibrator."""
        return self.calibrator.predict_proba(self.test_logits)

    @property
    def y_pred(self) -> np.ndarray:
        """Predicted classes of the raw logits (the headline accuracy's)."""
        return self.test_logits.argmax(axis=1)

    def summaries(self) -> dict[str, dict[str, float]]:
        """Accuracy, top-2, NLL, Brier and ECE of the raw logits and after each calibrator."""
        out = {"before": summarize(self.y_test, self.proba_before)}
        for name, calibrator in self.calibrators.items():
            out[name] = summarize(self.y_test, calibrator.predict_proba(self.test_logits))
        return out

    def table(self) -> pd.DataFrame:
        """The summaries side by side."""
        return pd.DataFrame(self.summaries())

    def reliability_curves(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """``(labels, probabilities)`` before and after calibration, for a reliability diagram."""
        return {
            "before": (self.y_test, self.proba_before),
            f"after ({self.chosen})": (self.y_test, self.proba_after),
        }

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
        temperature = self.calibrators.get("temperature")
        return {
            "test": summaries["before"],
            "test_calibrated": summaries[self.chosen],
            "calibrator": self.chosen,
            "test_by_calibrator": {k: v for k, v in summaries.items() if k != "before"},
            "val_calibration": self.val_calibration.reset_index(names="calibrator").to_dict(
                "records"
            ),
            "temperature": getattr(temperature, "temperature", None),
            "val_accuracy": self.val_accuracy,
            "most_confused": self.most_confused().to_dict("records"),
            "per_class": self.per_class().reset_index(names="class").to_dict("records"),
            "seconds": self.seconds,
        }


def compare_calibrators(
    val_logits: np.ndarray, y_val: np.ndarray, names: tuple[str, ...] = CALIBRATORS, seed: int = 0
) -> pd.DataFrame:
    """Cross-fitted (5-fold) validation NLL and ECE of each calibrator, and of the raw logits."""
    rows = {"none": summarize(y_val, apply_temperature(val_logits))}
    for name in names:
        rows[name] = summarize(y_val, cross_fitted_proba(name, val_logits, y_val, seed=seed))
    return pd.DataFrame(rows).T[["nll", "ece", "brier", "accuracy"]]


def evaluate(
    test_logits: np.ndarray,
    val_logits: np.ndarray,
    splits: CifarSplits,
    names: tuple[str, ...] = CALIBRATORS,
    seed: int = 0,
) -> EvaluationResult:
    """Metrics of the test logits (the recipe's prediction rule on the complete model), with
    every calibrator in ``names`` fitted on the validation logits; the one with the lowest
    cross-fitted validation NLL is the one "after" refers to."""
    start = time.perf_counter()
    if len(test_logits) != len(splits.y_test) or len(val_logits) != len(splits.y_val):
        raise ValueError(
            f"logits rows ({len(test_logits)} test, {len(val_logits)} validation) do not match "
            f"the splits ({len(splits.y_test)}, {len(splits.y_val)})"
        )
    val_table = compare_calibrators(val_logits, splits.y_val, names, seed)
    chosen = str(val_table.drop(index="none")["nll"].idxmin())
    return EvaluationResult(
        y_test=splits.y_test,
        class_names=splits.class_names,
        test_logits=test_logits,
        calibrators={name: fit_calibrator(name, val_logits, splits.y_val) for name in names},
        val_calibration=val_table,
        chosen=chosen,
        val_accuracy=cm.accuracy(splits.y_val, val_logits.argmax(1)),
        seconds=time.perf_counter() - start,
        seed=seed,
    )
