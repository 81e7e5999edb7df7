"""Temperature scaling (Guo et al. 2017): one scalar T divides the logits, fitted on validation.

Accuracy is unchanged (argmax and the 0.5 threshold are invariant to T > 0); only confidence
moves. ``logits`` is (n, C) for C classes, or (n,) binary log-odds of the positive class, which
is the two-class case with logits (0, z): softmax((0, z) / T) = sigmoid(z / T).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
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
