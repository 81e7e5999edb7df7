"""Ensembles over members' calibrated log-odds: weighted soft voting (weights fitted on
validation) and stacking (logistic regression on validation log-odds). Out-of-fold
predictions on the validation set choose between them and fit the ensemble's temperature,
so no number used for selection or calibration comes from data the combiner was fitted on."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, logit

from mlshared.calibration import apply_temperature, fit_temperature, nll_at_temperature

VOTE_EPS = (
    1e-6  # averaged probabilities are clipped to [eps, 1 - eps] so their log-odds stay finite
)


def ensemble_key(members: Iterable[str]) -> str:
    """Key of the ensemble fitted for exactly this set of members (order does not matter)."""
    return "+".join(sorted(members))


def soft_vote(z: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Log-odds of the weighted average of the members' probabilities."""
    p = expit(np.asarray(z, dtype=float)) @ np.asarray(weights, dtype=float)
    return logit(np.clip(p, VOTE_EPS, 1 - VOTE_EPS))


def fit_voting_weights(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Non-negative weights summing to 1 that minimise NLL of the averaged probability."""
    m = z.shape[1]
    if m == 1:
        return np.ones(1)

    def loss(theta: np.ndarray) -> float:
        w = np.exp(theta - theta.max())
        w /= w.sum()
        return nll_at_temperature(soft_vote(z, w), y)

    res = minimize(
        loss,
        np.zeros(m),
        method="Nelder-Mead",
        options={"xatol": 1e-4, "fatol": 1e-7, "maxiter": 2000},
    )
    w = np.exp(res.x - res.x.max())
    return w / w.sum()


def fit_stacker(z: np.ndarray, y: np.ndarray, c: float = 1.0) -> tuple[float, np.ndarray]:
    """Logistic regression on member log-odds; returns (intercept, coefficients)."""
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=c, max_iter=1000)
    lr.fit(z, y)
    return float(lr.intercept_[0]), lr.coef_[0].astype(float)


@dataclass
class Ensemble:
    """Combiner stored as plain JSON numbers (no pickle)."""

    members: list[str]
    method: str  # "voting" or "stacking"
    weights: list[float] = field(default_factory=list)
    intercept: float = 0.0
    coef: list[float] = field(default_factory=list)
    temperature: float = 1.0
    selection: dict[str, float] = field(default_factory=dict)

    def raw_log_odds(self, z: np.ndarray) -> np.ndarray:
        """Ensemble log-odds (before the ensemble temperature) from calibrated member log-odds."""
        z = np.asarray(z, dtype=float).reshape(len(z), -1)
        if self.method == "voting":
            return soft_vote(z, np.asarray(self.weights))
        return self.intercept + z @ np.asarray(self.coef)

    def p_fake(self, z: np.ndarray) -> np.ndarray:
        """Calibrated ensemble probability of fake."""
        return apply_temperature(self.raw_log_odds(z), self.temperature)

    def to_dict(self) -> dict[str, Any]:
        """For ensemble.json."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Ensemble:
        """From ensemble.json."""
        return cls(**data)


def _oof(z: np.ndarray, y: np.ndarray, method: str, folds: int, seed: int) -> np.ndarray:
    from sklearn.model_selection import StratifiedKFold

    out = np.zeros(len(y))
    n_splits = max(2, min(folds, int(np.bincount(y.astype(int)).min())))
    for tr, te in StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed).split(z, y):
        if method == "voting":
            w = fit_voting_weights(z[tr], y[tr])
            out[te] = soft_vote(z[te], w)
        else:
            b, a = fit_stacker(z[tr], y[tr])
            out[te] = b + z[te] @ a
    return out


def fit_ensemble(
    z_valid: np.ndarray,
    y_valid: np.ndarray,
    members: list[str],
    method: str = "auto",
    folds: int = 5,
    seed: int = 0,
) -> tuple[Ensemble, dict[str, np.ndarray]]:
    """Fit voting and stacking on validation (calibrated member log-odds), pick ``method``
    (or, for "auto", the lower out-of-fold NLL), fit the ensemble temperature on out-of-fold
    log-odds. Returns the ensemble and the out-of-fold log-odds of each method."""
    z = np.asarray(z_valid, dtype=float).reshape(len(y_valid), -1)
    y = np.asarray(y_valid).astype(int)
    oof = {m: _oof(z, y, m, folds, seed) for m in ("voting", "stacking")}
    nll = {m: nll_at_temperature(v, y) for m, v in oof.items()}
    chosen = min(nll, key=lambda m: nll[m]) if method == "auto" else method
    if chosen not in ("voting", "stacking"):
        raise ValueError(f"method must be voting, stacking or auto, got {method!r}")
    ens = Ensemble(
        members=list(members), method=chosen, selection={f"oof_nll_{k}": v for k, v in nll.items()}
    )
    ens.weights = fit_voting_weights(z, y).tolist()
    ens.intercept, coef = fit_stacker(z, y)
    ens.coef = coef.tolist()
    ens.temperature = fit_temperature(oof[chosen], y)
    return ens, oof
