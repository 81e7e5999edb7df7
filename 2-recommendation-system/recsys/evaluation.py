"""Offline evaluation: full-catalogue top-K for every user with a held-out relevant item.

Seen (training) items are excluded, ties go to the lower item index, and per-user metric
vectors are kept because the paired statistics in ``comparison`` need them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.metrics import ndcg_score

from mlshared.ranking_metrics import (
    catalogue_coverage,
    intra_list_diversity,
    novelty,
    ranking_report,
)
from mlshared.run import Timer
from mlshared.statistics import bootstrap_ci
from recsys.models.base import Recommender
from recsys.splitting import Split


@dataclass
class EvaluationResult:
    """Per-user metric vectors for one model plus catalogue-level numbers."""

    model: str
    users: np.ndarray
    recommendations: np.ndarray
    per_user: dict[str, np.ndarray]
    coverage: float
    fit_seconds: float
    n_users_dropped: int
    extra: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, float]:
        """Means of the per-user metrics, plus coverage, fit time and any extras (RMSE)."""
        out = {name: float(v.mean()) for name, v in self.per_user.items()}
        out |= {"coverage": self.coverage, "fit_seconds": self.fit_seconds}
        return out | self.extra


def evaluable_users(relevance: sp.csr_matrix) -> np.ndarray:
    """Users with at least one relevant held-out item (recall and NDCG are undefined otherwise)."""
    return np.flatnonzero(np.diff(relevance.tocsr().indptr) > 0)


def item_popularity(train: sp.csr_matrix) -> np.ndarray:
    """Share of users who interacted with each item, add-one smoothed so novelty stays finite."""
    counts = np.asarray((train != 0).sum(axis=0)).ravel()
    return (counts + 1.0) / (train.shape[0] + 1.0)


def evaluate(
    model: Recommender,
    split: Split,
    k: int = 10,
    relevance_threshold: float | None = None,
    item_features: np.ndarray | None = None,
    fit: bool = True,
) -> EvaluationResult:
    """Fit (timed) on the split's train part, rank the full catalogue, score against test."""
    train = split.train_matrix()
    relevance = split.relevance(relevance_threshold)
    users = evaluable_users(relevance)
    timer = Timer()
    if fit:
        with timer:
            model.fit(train)
    recs = model.recommend(users, k, exclude=train)
    per_user = ranking_report(recs, relevance[users], k)
    per_user[f"novelty@{k}"] = novelty(recs, item_popularity(train))
    if item_features is not None:
        per_user[f"diversity@{k}"] = intra_list_diversity(recs, item_features)
    extra = {}
    if hasattr(model, "rmse") and len(split.test):
        extra["rmse"] = model.rmse(split.relevance())
    return EvaluationResult(
        model=model.name,
        users=users,
        recommendations=recs,
        per_user=per_user,
        coverage=catalogue_coverage(recs, split.n_items),
        fit_seconds=timer.seconds if fit else float("nan"),
        n_users_dropped=int(split.n_users - users.size),
        extra=extra,
    )


def results_table(
    results: dict[str, EvaluationResult],
    metrics: tuple[str, ...] = ("ndcg@10", "precision@10", "recall@10", "map@10"),
    n_resamples: int = 10_000,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per model: each metric's mean with a 95% bootstrap CI over users, plus extras."""
    rows = []
    for name, r in results.items():
        row: dict[str, object] = {"model": name}
        for m in metrics:
            ci = bootstrap_ci(r.per_user[m], n_resamples=n_resamples, seed=seed)
            row |= {m: ci.estimate, f"{m} low": ci.low, f"{m} high": ci.high}
        summary = r.summary()
        row |= {
            k: summary[k]
            for k in summary
            if k.startswith(("mrr", "hit_rate", "novelty", "diversity"))
        }
        row |= {"coverage": r.coverage, "fit_s": r.fit_seconds, "rmse": r.extra.get("rmse", np.nan)}
        rows.append(row)
    return pd.DataFrame(rows).set_index("model").sort_values(metrics[0], ascending=False)


def sklearn_ndcg(
    recs: np.ndarray, relevance: sp.csr_matrix, k: int, batch_rows: int = 1024
) -> tuple[float, np.ndarray]:
    """Mean binary-gain NDCG@k of these lists by scikit-learn's ``ndcg_score``, and the rows used.

    An independent computation to check ``ranking_report`` on a real run's own lists: listed
    items get scores k, k-1, ..., 1 and every other item 0, so scikit-learn's top k are exactly
    the list. Rows shorter than k (``-1`` padding) are left out (mask False): scikit-learn would
    fill their empty slots from the unlisted items.
    """
    recs = np.asarray(recs)
    full = np.all(recs >= 0, axis=1)
    rows = np.flatnonzero(full)
    if rows.size == 0:
        raise ValueError("no list has k items; scikit-learn's NDCG cannot check padded lists")
    scores = np.arange(recs.shape[1], 0, -1, dtype=float)
    total = 0.0
    for start in range(0, rows.size, batch_rows):
        batch = rows[start : start + batch_rows]
        y_score = np.zeros((batch.size, relevance.shape[1]))
        np.put_along_axis(y_score, recs[batch], scores[None, :], axis=1)
        y_true = (relevance[batch].toarray() > 0).astype(float)
        total += ndcg_score(y_true, y_score, k=k) * batch.size
    return total / rows.size, full


def seen_in_lists(recs: np.ndarray, seen: sp.csr_matrix) -> int:
    """How many listed items the row's user already has in ``seen`` (should be 0 for train)."""
    rows, cols = np.nonzero(np.asarray(recs) >= 0)
    return int(np.count_nonzero(sp.csr_matrix(seen)[rows, np.asarray(recs)[rows, cols]]))
