"""Team-draft interleaving (Radlinski et al. 2008) versus an A/B test on the same click model.

Interleaving shows each user a merge of both rankings and credits clicks to the ranker that
contributed the clicked item, so every user compares A and B: a paired design, which is why it
needs far fewer users than splitting them into two arms.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

from recsys.abtest import Population, PreferenceModel, sample_size_means, simulate_clicks


def team_draft(
    recs_a: np.ndarray, recs_b: np.ndarray, k: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Merge two (n, K) rankings row-wise; returns (merged items, team: 0 = A, 1 = B, -1 pad).

    Each round a coin decides which team picks first; each team adds its best item not yet
    shown. The loop runs over rounds and picks (at most 2K steps), never over users.
    """
    n = recs_a.shape[0]
    merged = np.full((n, k), -1, dtype=np.int64)
    team = np.full((n, k), -1, dtype=np.int64)
    filled = np.zeros(n, dtype=np.int64)
    pointers = np.zeros((2, n), dtype=np.int64)
    lists = (recs_a, recs_b)
    rows = np.arange(n)
    while np.any(filled < k):
        a_first = rng.random(n) < 0.5
        for pick in range(2):
            who = np.where(a_first, pick, 1 - pick)  # 0 = A picks now
            for t in (0, 1):
                sel = rows[(who == t) & (filled < k)]
                if sel.size == 0:
                    continue
                item = _next_unused(lists[t], pointers[t], sel, merged)
                ok = item >= 0
                sel, item = sel[ok], item[ok]
                merged[sel, filled[sel]] = item
                team[sel, filled[sel]] = t
                filled[sel] += 1
        exhausted = (pointers[0] >= recs_a.shape[1]) & (pointers[1] >= recs_b.shape[1])
        filled[exhausted] = k  # nothing left to add: leave padding
    return merged, team


def _next_unused(
    ranking: np.ndarray, pointer: np.ndarray, rows: np.ndarray, merged: np.ndarray
) -> np.ndarray:
    """Advance each selected row's pointer past items already in its merged list."""
    out = np.full(rows.size, -1, dtype=np.int64)
    pending = np.ones(rows.size, dtype=bool)
    width = ranking.shape[1]
    while np.any(pending):
        r = rows[pending]
        p = pointer[r]
        done = p >= width
        cand = np.where(done, -1, ranking[r, np.minimum(p, width - 1)])
        used = (merged[r] == cand[:, None]).any(axis=1) & (cand >= 0)
        take = ~used & ~done & (cand >= 0)
        idx = np.flatnonzero(pending)
        out[idx[take]] = cand[take]
        pointer[r] = p + 1
        pending[idx[take | done]] = False
    return out


@dataclass
class InterleavingComparison:
    """Users needed for 80% power: interleaving vs A/B, on the same click model and rankers."""

    interleaving_mean_delta: float
    interleaving_sd_delta: float
    interleaving_n: float
    ab_mean_diff: float
    ab_sd: float
    ab_n_per_arm: float
    b_win_share: float

    @property
    def ab_total_n(self) -> float:
        return 2 * self.ab_n_per_arm

    @property
    def ratio(self) -> float:
        """How many times more users the A/B test needs than interleaving."""
        return self.ab_total_n / self.interleaving_n

    def sample_sizes(self, cuped_variance_reduction: float = 0.0) -> dict[str, float]:
        """Users each design needs; CUPED scales the A/B variance, hence its n, by 1 - reduction."""
        return {
            "A/B (Welch, both arms)": self.ab_total_n,
            "A/B + CUPED (both arms)": self.ab_total_n * (1 - cuped_variance_reduction),
            "team-draft interleaving": self.interleaving_n,
        }

    def to_metrics(self) -> dict[str, Any]:
        return asdict(self) | {"ab_total_n": self.ab_total_n, "ratio": self.ratio}


def compare_with_ab(
    population: Population,
    recs_a: np.ndarray,
    recs_b: np.ndarray,
    preference: PreferenceModel,
    k: int = 10,
    alpha: float = 0.05,
    power: float = 0.8,
    seed: int = 0,
) -> InterleavingComparison:
    """Pilot both designs on the whole population, then size each for the same power.

    Interleaving: per-user delta = clicks credited to B - to A, a one-sample test of mean 0,
    n = ((z_a + z_b) sd / mean)^2. A/B: per-user clicks in each arm, Welch, n per arm.
    """
    rng = np.random.default_rng(seed)
    merged, team = team_draft(recs_a[population.users], recs_b[population.users], k, rng)
    _, clicks = simulate_clicks(population, merged, preference, rng)
    delta = (clicks * (team == 1)).sum(axis=1) - (clicks * (team == 0)).sum(axis=1)
    clicks_a = simulate_clicks(population, recs_a[population.users], preference, rng)[1].sum(axis=1)
    clicks_b = simulate_clicks(population, recs_b[population.users], preference, rng)[1].sum(axis=1)
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    mean_delta, sd_delta = float(delta.mean()), float(delta.std(ddof=1))
    ab_diff = float(clicks_b.mean() - clicks_a.mean())
    ab_sd = float(np.sqrt((clicks_a.var(ddof=1) + clicks_b.var(ddof=1)) / 2))
    decided = delta != 0
    return InterleavingComparison(
        interleaving_mean_delta=mean_delta,
        interleaving_sd_delta=sd_delta,
        interleaving_n=float((z * sd_delta / mean_delta) ** 2),
        ab_mean_diff=ab_diff,
        ab_sd=ab_sd,
        ab_n_per_arm=sample_size_means(ab_diff, ab_sd, alpha, power),
        b_win_share=float(np.mean(delta[decided] > 0)) if decided.any() else 0.5,
    )
