"""Post-hoc calibration of logits, fitted on validation NLL.

- Temperature scaling (Guo et al. 2017): one scalar T divides the logits. Accuracy is unchanged
  (argmax and the 0.5 threshold are invariant to T > 0); only confidence moves. ``logits`` is
  (n, C) for C classes, or (n,) binary log-odds of the positive class, which is the two-class
  case with logits (0, z): softmax((0, z) / T) = sigmoid(z / T).
- Vector scaling (Guo et al. 2017): a scale and a bias per class, ``z * w + b``. It can fix
  calibration errors that differ by class, and it can change the argmax.
- Dirichlet calibration (Kull et al. 2019): a full matrix on the log-probabilities plus a bias,
  i.e. multinomial logistic regression on ``log_softmax(z)``; scikit-learn fits it, with the
  L2 strength chosen by cross-validated NLL.

Temperature is the safe default (2C or C^2 + C parameters need more validation data); the two
richer ones are for when one temperature cannot reach a calibration target.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize, minimize_scalar
from scipy.special import expit, log_softmax, softmax


def _logits(logits: np.typing.ArrayLike) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim not in (1, 2) or z.shape[0] == 0:
        raise ValueError(f"logits must be a non-empty (n,) or (n, C) array, got shape {z.shape}")
    if not np.all(np.isfinite(z)):
        raise ValueError("logits contain NaN or infinite values")
    return z


def _temperature(temperature: float) -> float:
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    return float(temperature)


def apply_temperature(logits: np.typing.ArrayLike, temperature: float = 1.0) -> np.ndarray:
    """Probabilities from logits / T: (n, C) softmax, or (n,) sigmoid for binary log-odds."""
    z = _logits(logits) / _temperature(temperature)
    return expit(z) if z.ndim == 1 else softmax(z, axis=1)


def nll_at_temperature(
    logits: np.typing.ArrayLike, y: np.typing.ArrayLike, temperature: float = 1.0
) -> float:
    """Mean negative log-likelihood (natural log) of integer labels under logits / T."""
    z = _logits(logits) / _temperature(temperature)
    labels = np.asarray(y, dtype=np.int64)
    if labels.shape != (z.shape[0],):
        raise ValueError(f"y has shape {labels.shape}, expected ({z.shape[0]},)")
    if z.ndim == 1:
        # log(1 + e^z) - y z, the numerically stable binary cross-entropy
        return float(np.mean(np.logaddexp(0.0, z) - labels * z))
    return float(-log_softmax(z, axis=1)[np.arange(len(labels)), labels].mean())


def fit_temperature(
    logits: np.typing.ArrayLike, y: np.typing.ArrayLike, bounds: tuple[float, float] = (0.05, 20.0)
) -> float:
    """The T minimising NLL, searched on log T (smooth and unimodal there).

    With a single class in ``y`` there is nothing to calibrate against (NLL falls as T shrinks
    without bound), so T = 1 is returned unchanged.
    """
    z = _logits(logits)
    labels = np.asarray(y, dtype=np.int64)
    if np.unique(labels).size < 2:
        return 1.0
    result = minimize_scalar(
        lambda log_t: nll_at_temperature(z, labels, float(np.exp(log_t))),
        bounds=(np.log(bounds[0]), np.log(bounds[1])),
        method="bounded",
        options={"xatol": 1e-5},
    )
    return float(np.exp(result.x))


def _multiclass(logits: np.typing.ArrayLike, y: np.typing.ArrayLike) -> tuple[np.ndarray, ...]:
    z = _logits(logits)
    if z.ndim != 2 or z.shape[1] < 2:
        raise ValueError(f"this calibrator needs (n, C) logits with C >= 2, got shape {z.shape}")
    labels = np.asarray(y, dtype=np.int64)
    if labels.shape != (z.shape[0],):
        raise ValueError(f"y has shape {labels.shape}, expected ({z.shape[0]},)")
    if labels.min() < 0 or labels.max() >= z.shape[1]:
        raise ValueError(f"labels must lie in 0..{z.shape[1] - 1}")
    return z, labels


@dataclass(frozen=True)
class VectorScaling:
    """Calibrated logits ``z * weights + bias`` (one scale and one bias per class)."""

    weights: np.ndarray
    bias: np.ndarray

    def logits(self, logits: np.typing.ArrayLike) -> np.ndarray:
        """The calibrated logits."""
        z = _logits(logits)
        if z.ndim != 2 or z.shape[1] != len(self.weights):
            raise ValueError(f"expected (n, {len(self.weights)}) logits, got shape {z.shape}")
        return z * self.weights + self.bias

    def predict_proba(self, logits: np.typing.ArrayLike) -> np.ndarray:
        """Calibrated probabilities."""
        return softmax(self.logits(logits), axis=1)


def fit_vector_scaling(
    logits: np.typing.ArrayLike, y: np.typing.ArrayLike, l2: float = 0.0
) -> VectorScaling:
    """Scales and biases minimising the mean NLL (+ ``l2`` times the squared distance of the
    scales from 1 and the biases from 0), by L-BFGS with the exact gradient, started at the
    identity."""
    z, labels = _multiclass(logits, y)
    n, c = z.shape
    onehot = np.eye(c)[labels]

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = params[:c], params[c:]
        log_p = log_softmax(z * w + b, axis=1)
        residual = (np.exp(log_p) - onehot) / n  # d mean NLL / d calibrated logits
        value = -np.sum(onehot * log_p) / n + l2 * (np.sum((w - 1) ** 2) + np.sum(b**2))
        grad = np.concatenate(
            [np.sum(residual * z, axis=0) + 2 * l2 * (w - 1), residual.sum(0) + 2 * l2 * b]
        )
        return float(value), grad

    start = np.concatenate([np.ones(c), np.zeros(c)])
    result = minimize(loss, start, jac=True, method="L-BFGS-B", options={"maxiter": 1000})
    return VectorScaling(weights=result.x[:c], bias=result.x[c:])


@dataclass(frozen=True)
class DirichletCalibrator:
    """Calibrated logits ``log_softmax(z) @ weights.T + bias`` (Dirichlet calibration)."""

    weights: np.ndarray  # (C, C)
    bias: np.ndarray  # (C,)
    l2_strength: float  # scikit-learn's C that cross-validation chose (inverse strength)

    def logits(self, logits: np.typing.ArrayLike) -> np.ndarray:
        """The calibrated logits."""
        z = _logits(logits)
        if z.ndim != 2 or z.shape[1] != len(self.bias):
            raise ValueError(f"expected (n, {len(self.bias)}) logits, got shape {z.shape}")
        return log_softmax(z, axis=1) @ self.weights.T + self.bias

    def predict_proba(self, logits: np.typing.ArrayLike) -> np.ndarray:
        """Calibrated probabilities."""
        return softmax(self.logits(logits), axis=1)


def fit_dirichlet(
    logits: np.typing.ArrayLike,
    y: np.typing.ArrayLike,
    strengths: tuple[float, ...] | None = (0.01, 0.1, 1.0, 10.0, 100.0),
    cv: int = 5,
    seed: int = 0,
) -> DirichletCalibrator:
    """Multinomial logistic regression on the log-probabilities (scikit-learn, lbfgs).

    ``strengths``: candidate inverse L2 strengths (scikit-learn's ``C``), chosen by ``cv``-fold
    cross-validated NLL; None fits without a penalty. Every class must occur in ``y``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    z, labels = _multiclass(logits, y)
    missing = sorted(set(range(z.shape[1])) - set(labels.tolist()))
    if missing:
        raise ValueError(f"classes {missing} never occur in y: cannot fit their biases")
    features = log_softmax(z, axis=1)
    chosen = float("inf")  # C = inf: no penalty (scikit-learn's spelling since 1.8)
    if strengths is not None:
        folds = StratifiedKFold(cv, shuffle=True, random_state=seed)
        scores = {
            c: cross_val_score(
                LogisticRegression(C=c, max_iter=2000),
                features,
                labels,
                cv=folds,
                scoring="neg_log_loss",
            ).mean()
            for c in strengths
        }
        chosen = float(max(scores, key=scores.__getitem__))
    model = LogisticRegression(C=chosen, max_iter=2000).fit(features, labels)
    return DirichletCalibrator(
        weights=np.asarray(model.coef_), bias=np.asarray(model.intercept_), l2_strength=chosen
    )


@dataclass(frozen=True)
class TemperatureScaling:
    """Calibrated logits ``z / temperature`` (the calibrator form of :func:`fit_temperature`)."""

    temperature: float

    def logits(self, logits: np.typing.ArrayLike) -> np.ndarray:
        """The calibrated logits."""
        return _logits(logits) / _temperature(self.temperature)

    def predict_proba(self, logits: np.typing.ArrayLike) -> np.ndarray:
        """Calibrated probabilities."""
        return apply_temperature(logits, self.temperature)


Calibrator = TemperatureScaling | VectorScaling | DirichletCalibrator
CALIBRATORS = ("temperature", "vector", "dirichlet")


def fit_calibrator(name: str, logits: np.typing.ArrayLike, y: np.typing.ArrayLike) -> Calibrator:
    """Fit the calibrator called ``name`` (one of :data:`CALIBRATORS`) on validation logits."""
    if name == "temperature":
        return TemperatureScaling(fit_temperature(logits, y))
    if name == "vector":
        return fit_vector_scaling(logits, y)
    if name == "dirichlet":
        return fit_dirichlet(logits, y)
    raise ValueError(f"unknown calibrator {name!r}; choose from {CALIBRATORS}")


def cross_fitted_proba(
    name: str, logits: np.typing.ArrayLike, y: np.typing.ArrayLike, folds: int = 5, seed: int = 0
) -> np.ndarray:
    """Probabilities for every validation row from a calibrator fitted on the other folds.

    Why: a calibrator scored on the rows it was fitted on looks better the more parameters it
    has; cross-fitting compares temperature (1 parameter) with vector scaling (2C) and
    Dirichlet (C^2 + C) fairly, without touching the test set.
    """
    from sklearn.model_selection import StratifiedKFold

    z, labels = _multiclass(logits, y)
    out = np.empty_like(z)
    for fit_rows, held_out in StratifiedKFold(folds, shuffle=True, random_state=seed).split(
        z, labels
    ):
        calibrator = fit_calibrator(name, z[fit_rows], labels[fit_rows])
        out[held_out] = calibrator.predict_proba(z[held_out])
    return out
