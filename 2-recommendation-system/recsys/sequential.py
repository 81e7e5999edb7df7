"""Sequential monitoring: why peeking at a fixed-horizon test lies, and two designs that do not.

mSPRT (always valid: look as often as you like) and a group-sequential design with Pocock or
O'Brien-Fleming boundaries (valid for the looks planned in advance, and it spends all of alpha).

Vectorised over simulations: every simulated experiment's running means and variances at each
look come from cumulative sums instead of a Python loop over simulations and looks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats


def msprt_statistic(diff: np.ndarray, var_diff: np.ndarray, tau2: float) -> np.ndarray:
    """Normal-mixture mSPRT likelihood ratio (Johari et al. 2017) for a difference in means.

    diff ~ N(theta, var_diff); mixing theta ~ N(0, tau2). Lambda = sqrt(v / (v + tau2)) *
    exp(tau2 diff^2 / (2 v (v + tau2))). Rejecting when Lambda >= 1/alpha at any time keeps the
    type-I error <= alpha however often one looks (Ville's inequality).
    """
    v = np.asarray(var_diff, float)
    log_lr = 0.5 * np.log(v / (v + tau2)) + tau2 * np.asarray(diff) ** 2 / (2 * v * (v + tau2))
    return np.exp(log_lr)


def always_valid_p(diff: np.ndarray, var_diff: np.ndarray, tau2: float) -> np.ndarray:
    """Running always-valid p-value min(1, 1 / max Lambda so far) along the last axis."""
    lam = msprt_statistic(diff, var_diff, tau2)
    return np.minimum(1.0, 1.0 / np.maximum.accumulate(lam, axis=-1))


def group_sequential_boundaries(
    n_looks: int,
    alpha: float = 0.05,
    kind: str = "pocock",
    n_sim: int = 200_000,
    seed: int = 12345,
) -> np.ndarray:
    """|z| critical values at ``n_looks`` equally spaced looks with overall type-I error alpha.

    Calibrated by simulating the z-statistic path (independent increments, Brownian motion):
    Pocock uses one constant boundary, O'Brien-Fleming c * sqrt(L / l) (strict early, lenient late).
    """
    if kind not in {"pocock", "obrien-fleming"}:
        raise ValueError("kind must be 'pocock' or 'obrien-fleming'")
    looks = np.arange(1, n_looks + 1)
    shape = np.ones(n_looks) if kind == "pocock" else np.sqrt(n_looks / looks)
    rng = np.random.default_rng(seed)
    paths = np.cumsum(rng.standard_normal((n_sim, n_looks)), axis=1) / np.sqrt(looks)
    c = np.quantile(np.max(np.abs(paths) / shape, axis=1), 1 - alpha)
    return c * shape


@dataclass
class SequentialSimulation:
    """Rejection rates by number of looks, for naive repeated z-tests and for mSPRT."""

    looks: np.ndarray
    naive_rejection: np.ndarray
    msprt_rejection: np.ndarray
    group_sequential_rejection: np.ndarray
    n_sims: int
    n_per_arm: int
    effect: float

    def to_metrics(self) -> dict[str, object]:
        return {
            "looks": self.looks.tolist(),
            "naive_rejection": self.naive_rejection.tolist(),
            "msprt_rejection": self.msprt_rejection.tolist(),
            "group_sequential_rejection": self.group_sequential_rejection.tolist(),
            "n_sims": self.n_sims,
            "n_per_arm": self.n_per_arm,
            "effect": self.effect,
        }


def peeking_table(aa: SequentialSimulation, effect: SequentialSimulation) -> pd.DataFrame:
    """Rejection rates by number of looks: false positives under A/A, power under a real effect."""
    if not np.array_equal(aa.looks, effect.looks):
        raise ValueError("the two simulations were checked at different numbers of looks")
    return pd.DataFrame(
        {
            "looks": aa.looks,
            "naive FPR": aa.naive_rejection,
            "Pocock FPR": aa.group_sequential_rejection,
            "mSPRT FPR": aa.msprt_rejection,
            "naive power": effect.naive_rejection,
            "Pocock power": effect.group_sequential_rejection,
            "mSPRT power": effect.msprt_rejection,
        }
    )


def _engagement(rng: np.random.Generator, shape: tuple[int, int], mean: float) -> np.ndarray:
    """Over-dispersed per-user click counts (gamma-Poisson), like real engagement."""
    return rng.poisson(rng.gamma(2.0, mean / 2.0, size=shape)).astype(float)


def simulate_sequential(
    n_sims: int = 1000,
    n_per_arm: int = 2000,
    max_looks: int = 50,
    look_counts: tuple[int, ...] | None = None,
    alpha: float = 0.05,
    baseline_mean: float = 1.0,
    effect: float = 0.0,
    tau2: float | None = None,
    seed: int = 0,
) -> SequentialSimulation:
    """Simulate A/A (effect=0) or A/B tests and check each at 1..max_looks evenly spaced looks.

    ``effect`` is the relative lift in mean engagement in arm B. ``tau2`` (the mixing variance)
    defaults to the squared difference a 10% lift would produce: the scale of effects we hope to
    detect, which is how Johari et al. suggest choosing it.
    """
    if look_counts is None:
        look_counts = tuple(k for k in range(1, max_looks + 1) if max_looks % k == 0)
    if any(max_looks % k for k in look_counts):
        raise ValueError("every entry of look_counts must divide max_looks")
    rng = np.random.default_rng(seed)
    a = _engagement(rng, (n_sims, n_per_arm), baseline_mean)
    b = _engagement(rng, (n_sims, n_per_arm), baseline_mean * (1 + effect))
    idx = (np.arange(1, max_looks + 1) * n_per_arm) // max_looks - 1
    n = idx + 1.0

    def running(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s1 = np.cumsum(x, axis=1)[:, idx]
        s2 = np.cumsum(x * x, axis=1)[:, idx]
        mean = s1 / n
        var = (s2 - n * mean**2) / np.maximum(n - 1, 1)
        return mean, var

    ma, va = running(a)
    mb, vb = running(b)
    diff = mb - ma
    var_diff = np.maximum((va + vb) / n, 1e-12)
    z = diff / np.sqrt(var_diff)
    if tau2 is None:
        tau2 = (0.1 * baseline_mean) ** 2
    lam = msprt_statistic(diff, var_diff, tau2)
    crit = stats.norm.ppf(1 - alpha / 2)
    naive, msprt, gs = [], [], []
    for k in look_counts:
        at = np.arange(1, k + 1) * (max_looks // k) - 1
        naive.append(np.mean(np.any(np.abs(z[:, at]) > crit, axis=1)))
        msprt.append(np.mean(np.any(lam[:, at] >= 1 / alpha, axis=1)))
        bound = group_sequential_boundaries(k, alpha, "pocock")
        gs.append(np.mean(np.any(np.abs(z[:, at]) > bound, axis=1)))
    return SequentialSimulation(
        np.array(look_counts),
        np.array(naive),
        np.array(msprt),
        np.array(gs),
        n_sims,
        n_per_arm,
        effect,
    )
