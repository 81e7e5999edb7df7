"""Calibrators: temperature recovers a known over-confidence (binary and multi-class); vector
scaling and Dirichlet calibration match generic references and fix what one temperature cannot."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import expit, log_softmax, softmax
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


def _miscalibrated(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels drawn from softmax(z); the observed logits distort z per class (scale, bias)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 2, size=(n, 3))
    y = np.array([rng.choice(3, p=p) for p in softmax(z, axis=1)])
    observed = (z - np.array([0.5, -0.3, 0.0])) / np.array([0.5, 1.0, 2.0])
    return observed, y, z


def test_shared_vector_scaling_matches_a_generic_optimiser_of_the_same_nll() -> None:
    observed, y, _ = _miscalibrated(600)
    fitted = calibration.fit_vector_scaling(observed, y)

    def nll(params: np.ndarray) -> float:
        return float(
            -log_softmax(observed * params[:3] + params[3:], axis=1)[np.arange(600), y].mean()
        )

    reference = minimize(
        nll,
        np.r_[np.ones(3), np.zeros(3)],
        method="Nelder-Mead",
        options={"xatol": 1e-8, "fatol": 1e-12, "maxiter": 20000, "maxfev": 20000},
    )
    ours = fitted.predict_proba(observed)
    theirs = softmax(observed * reference.x[:3] + reference.x[3:], axis=1)
    np.testing.assert_allclose(ours, theirs, atol=1e-4)
    assert nll(np.r_[fitted.weights, fitted.bias]) <= reference.fun + 1e-9


def test_shared_vector_scaling_recovers_per_class_scales_one_temperature_cannot() -> None:
    observed, y, z = _miscalibrated(20000, seed=1)
    fitted = calibration.fit_vector_scaling(observed, y)
    np.testing.assert_allclose(fitted.weights, [0.5, 1.0, 2.0], rtol=0.1)
    t = calibration.fit_temperature(observed, y)
    vector_nll = float(-np.log(fitted.predict_proba(observed)[np.arange(len(y)), y]).mean())
    assert vector_nll < calibration.nll_at_temperature(observed, y, t) - 0.01
    assert vector_nll == pytest.approx(calibration.nll_at_temperature(z, y), abs=0.01)


def test_shared_dirichlet_without_penalty_matches_statsmodels_mnlogit() -> None:
    import statsmodels.api as sm

    observed, y, _ = _miscalibrated(2000, seed=2)
    ours = calibration.fit_dirichlet(observed, y, strengths=None)
    features = sm.add_constant(log_softmax(observed, axis=1))
    reference = sm.MNLogit(y, features).fit(disp=0, method="newton", maxiter=100)
    np.testing.assert_allclose(ours.predict_proba(observed), reference.predict(features), atol=2e-3)
    assert ours.l2_strength == float("inf")


def test_shared_dirichlet_cross_validates_its_penalty_and_beats_raw_logits_held_out() -> None:
    observed, y, _ = _miscalibrated(6000, seed=3)
    fitted = calibration.fit_dirichlet(observed[:3000], y[:3000])
    assert fitted.l2_strength in (0.01, 0.1, 1.0, 10.0, 100.0)
    held_out = fitted.predict_proba(observed[3000:])
    nll = float(-np.log(held_out[np.arange(3000), y[3000:]]).mean())
    assert nll < calibration.nll_at_temperature(observed[3000:], y[3000:]) - 0.05


def test_shared_richer_calibrators_refuse_what_they_cannot_fit() -> None:
    observed, y, _ = _miscalibrated(100)
    with pytest.raises(ValueError, match="C >= 2"):
        calibration.fit_vector_scaling(observed[:, 0], y)
    with pytest.raises(ValueError, match="never occur"):
        calibration.fit_dirichlet(observed, np.zeros(100, dtype=int))
    with pytest.raises(ValueError, match="labels must lie"):
        calibration.fit_vector_scaling(observed, np.full(100, 3))
    fitted = calibration.fit_vector_scaling(observed, y)
    with pytest.raises(ValueError, match="expected"):
        fitted.logits(np.zeros((2, 4)))


def test_shared_cross_fitting_scores_each_calibrator_on_rows_it_never_saw() -> None:
    observed, y, _ = _miscalibrated(1500, seed=4)
    for name in calibration.CALIBRATORS:
        calibrator = calibration.fit_calibrator(name, observed, y)
        proba = calibration.cross_fitted_proba(name, observed, y)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
        in_sample = log_loss(y, calibrator.predict_proba(observed))
        assert log_loss(y, proba) >= in_sample - 1e-9  # held-out rows cannot do better here
    t = calibration.fit_calibrator("temperature", observed, y)
    np.testing.assert_allclose(t.logits(observed), observed / t.temperature)
    with pytest.raises(ValueError, match="unknown calibrator"):
        calibration.fit_calibrator("platt", observed, y)
