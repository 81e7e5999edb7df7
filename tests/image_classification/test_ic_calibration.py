"""Temperature scaling fixes a known miscalibration of a 10-class model; evaluation counts correctly."""

from __future__ import annotations

import numpy as np
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
    assert evaluation.subset_accuracy(y, pred, y == 2) == 0.0
    assert evaluation.subset_accuracy(y, pred, None) is None
