"""Temperature scaling (Guo et al. 2017) on log-odds: one scalar T per model, fitted on
validation by minimising the negative log-likelihood. It changes confidence, never the
ranking or (at threshold 0.5) the predicted label."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar


def binary_nll(y: np.ndarray, z: np.ndarray) -> float:
    """Mean negative log-likelihood of labels y under log-odds z (stable form)."""
    y = np.asarray(y, dtype=float)
    z = np.asarray(z, dtype=float)
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


def fit_temperature(
    z: np.ndarray, y: np.ndarray, bounds: tuple[float, float] = (0.05, 20.0)
) -> float:
    """Temperature T > 0 minimising NLL of sigmoid(z / T); searched on log T for stability."""
    z = np.asarray(z, dtype=float)
    y = np.asarray(y, dtype=float)
    if len(np.unique(y)) < 2:
        return 1.0
    res = minimize_scalar(
        lambda log_t: binary_nll(y, z / np.exp(log_t)),
        bounds=(np.log(bounds[0]), np.log(bounds[1])),
        method="bounded",
        options={"xatol": 1e-5},
    )
    return float(np.exp(res.x))


def apply_temperature(z: np.ndarray, temperature: float) -> np.ndarray:
    """Calibrated p_fake = sigmoid(z / T)."""
    from misinfo.models import sigmoid

    return sigmoid(np.asarray(z, dtype=float) / float(temperature))
