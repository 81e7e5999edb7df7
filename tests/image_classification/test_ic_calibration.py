"""Temperature scaling fixes a known miscalibration of a 10-class model; evaluation counts
correctly and picks its calibrator on validation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import softmax

from cifar_transfer import evaluation
from mlshared import calibration


def _overconfident(n: int = 4000, scale: float = 3.0, seed: int = 0):
    """Labels drawn from softmax(z); the model reports scale * z, i.e. is overconfident."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.5, size=(n, 5))
    y = np.array([rng.choice(5, p=p) for p in softmax(z, axis=1)])
    return scale * z, y


def test_ic_temperature_recovers_scale_and_lowers_nll() -> None:
    logits, y = _overconfident()
    t = calibration.fit_temperature(logits, y)
    assert 2.6 < t < 3.4
    assert calibration.nll_at_temperature(logits, y, t) < calibration.nll_at_temperature(
        logits, y, 1.0
    )
    held_out, y_held = _overconfident(seed=1)
    before = evaluation.summarize(y_held, calibration.apply_temperature(held_out))
    after = evaluation.summarize(y_held, calibration.apply_temperature(held_out, t))
    assert after["nll"] < before["nll"] and after["ece"] < before["ece"]
    assert after["accuracy"] == before["accuracy"]


def test_ic_most_confused_pairs() -> None:
    y = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    pred = np.array([1, 1, 0, 1, 0, 0, 1, 1, 1])
    table = evaluation.most_confused_pairs(y, pred, ["a", "b", "c"], top=2)
    assert table.iloc[0][["true", "predicted", "count"]].tolist() == ["c", "b", 3]
    assert table.iloc[1][["true", "predicted", "count"]].tolist() == ["a", "b", 2]
    assert abs(table.iloc[0]["share_of_true"] - 0.75) < 1e-12


def test_ic_evaluate_fits_every_calibrator_on_validation_and_picks_by_held_out_nll() -> None:
    from cifar_transfer.data import synthetic_splits

    splits = synthetic_splits(n_train_per_class=2, n_eval_per_class=40)
    rng = np.random.default_rng(2)
    z_val, z_test = (rng.normal(0, 1.5, size=(len(y), 10)) for y in (splits.y_val, splits.y_test))
    z_val[np.arange(len(z_val)), splits.y_val] += 2.0  # informative, and 3x overconfident
    z_test[np.arange(len(z_test)), splits.y_test] += 2.0
    result = evaluation.evaluate(3 * z_test, 3 * z_val, splits)
    assert set(result.calibrators) == {"temperature", "vector", "dirichlet"}
    table = result.val_calibration
    assert list(table.index) == ["none", "temperature", "vector", "dirichlet"]
    assert result.chosen == table.drop(index="none")["nll"].idxmin()
    assert table.loc[result.chosen, "nll"] < table.loc["none", "nll"]
    summaries = result.summaries()
    assert summaries[result.chosen]["ece"] < summaries["before"]["ece"]  # held-out test rows
    metrics = result.to_metrics()
    assert metrics["calibrator"] == result.chosen and 2.0 < metrics["temperature"] < 4.5
    with pytest.raises(ValueError, match="do not match"):
        evaluation.evaluate(z_test[:5], z_val, splits)
