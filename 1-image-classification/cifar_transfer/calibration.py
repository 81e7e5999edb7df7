"""Temperature scaling (Guo et al. 2017) fitted on the validation split.

One scalar T divides the logits: accuracy is unchanged (argmax is invariant), only the
confidence moves. It is fitted by minimising validation NLL, never on the test set.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax


def softmax_with_temperature(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Class probabilities from logits divided by ``temperature``."""
    return softmax(np.asarray(logits, dtype=np.float64) / temperature, axis=1)


def nll_at_temperature(logits: np.ndarray, y: np.ndarray, temperature: float) -> float:
    """Mean negative log-likelihood of ``y`` under temperature-scaled logits."""
    log_p = log_softmax(np.asarray(logits, dtype=np.float64) / temperature, axis=1)
    return float(-log_p[np.arange(len(y)), y].mean())


def fit_temperature(
    logits: np.ndarray, y: np.ndarray, bounds: tuple[float, float] = (0.05, 20.0)
) -> float:
    """The T minimising validation NLL, searched on log T (NLL is smooth and unimodal there)."""
    y = np.asarray(y, dtype=np.int64)
    result = minimize_scalar(
        lambda log_t: nll_at_temperature(logits, y, float(np.exp(log_t))),
        bounds=(np.log(bounds[0]), np.log(bounds[1])),
        method="bounded",
        options={"xatol": 1e-5},
    )
    return float(np.exp(result.x))
