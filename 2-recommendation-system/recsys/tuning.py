"""Grid search on a validation split carved from training data, so test stays untouched."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from recsys.evaluation import evaluate
from recsys.models.base import Recommender
from recsys.splitting import Split


@dataclass
class TuningResult:
    """Best parameters and the whole grid's validation scores."""

    best_params: dict[str, Any]
    best_score: float
    table: pd.DataFrame


def grid_search(
    factory: Callable[..., Recommender],
    grid: Mapping[str, Sequence[Any]],
    validation: Split,
    k: int = 10,
    metric: str = "ndcg",
) -> TuningResult:
    """Fit ``factory(**params)`` for every grid point on ``validation``; keep the best.

    ``metric`` is a ranking metric name (higher is better, e.g. "ndcg") or "rmse" (lower is
    better: the explicit-rating model is tuned for what it is for, predicting stars).
    """
    rows = []
    names = list(grid)
    for values in itertools.product(*(grid[n] for n in names)):
        params = dict(zip(names, values, strict=True))
        result = evaluate(factory(**params), validation, k)
        key = metric if metric == "rmse" else f"{metric}@{k}"
        rows.append(params | {metric: result.summary()[key], "fit_s": result.fit_seconds})
    table = pd.DataFrame(rows)
    best = table[metric].idxmin() if metric == "rmse" else table[metric].idxmax()
    best_params = {n: table.loc[best, n] for n in names}
    best_params = {n: v.item() if hasattr(v, "item") else v for n, v in best_params.items()}
    return TuningResult(best_params, float(table.loc[best, metric]), table)
