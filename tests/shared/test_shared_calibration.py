"""Temperature scaling: recovers a known over-confidence, in binary and multi-class form."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit, softmax
from sklearn.metrics import log_loss

from mlshared import calibration


def test_binary_temperature_recovers_known_scale_and_matches_sklearn_log_loss() -> None:
    rng = np.random.default_rng(0)
    true_z = rng.normal(0, 2, 20_000)
    y = (rng.random(true_z.size) < expit(true_z)).astype(int)
    overconfident = 3.0 * true_z
    t = calibration.fit_temperature(overconfident, y)
    assert t == pytest.approx(3.0, rel=0.1)
    nll_t = calibration.nll_at_temperature(overconfident, y, t)
    assert nll_t < calibration.nll_at_temperature(overconfident, y)
    p = calibration.apply_temperature(overconfident, t)
    assert nll_t == pytest.approx(log_loss(y, p), rel=1e-6)


def test_multiclass_temperature_recovers_scale_and_matches_sklearn() -> None:
    rng = np.random.default_rng(1)
    z = rng.normal(0, 1.5, size=(4000, 5))
    y = (rng.random((4000, 1)) > np.cumsum(softmax(z, axis=1), axis=1)).sum(axis=1)
    t = calibration.fit_temperature(2.5 * z, y)
    assert t == pytest.approx(2.5, rel=0.1)
    p = calibration.apply_temperature(2.5 * z, t)
    assert np.allclose(p.sum(axis=1), 1.0)
    assert calibration.nll_at_temperature(2.5 * z, y, t) == pytest.approx(
        log_loss(y, p, labels=range(5)), rel=1e-6
    )


def test_binary_log_odds_are_the_two_class_case() -> None:
    z = np.array([-3.0, -0.2, 0.0, 1.7, 5.0])
    y = np.array([0, 1, 0, 1, 1])
    two_class = np.column_stack([np.zeros_like(z), z])
    assert np.allclose(
        calibration.apply_temperature(z, 2.0), calibration.apply_temperature(two_class, 2.0)[:, 1]
    )
    assert calibration.nll_at_temperature(z, y, 2.0) == pytest.approx(
        calibration.nll_at_temperature(two_class, y, 2.0)
    )


def test_argmax_is_unchanged_and_single_class_keeps_t_one() -> None:
    z = np.random.default_rng(2).normal(size=(50, 4))
    assert np.array_equal(calibration.apply_temperature(z, 0.3).argmax(1), z.argmax(1))
    assert calibration.fit_temperature(z[:, 0], np.ones(50, dtype=int)) == 1.0


def test_bad_inputs_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="positive"):
        calibration.apply_temperature(np.zeros(3), 0.0)
    with pytest.raises(ValueError, match="NaN"):
        calibration.apply_temperature(np.array([np.nan, 1.0]))
    with pytest.raises(ValueError, match="shape"):
        calibration.nll_at_temperature(np.zeros((3, 2)), np.zeros(4, dtype=int))
