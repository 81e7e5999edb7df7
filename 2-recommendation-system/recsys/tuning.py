"""Grid search on a validation split carved from training data, so test stays untouched.

A grid made for one dataset can be too narrow for another (a larger catalogue wants more
regularisation, a sparser one fewer neighbours). When the chosen value of a parameter sits at
the end of its grid the optimum may lie outside it, so the search says so: in the result, and
as a warning naming the parameter and what to add to the grid.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Real
from typing import Any

import pandas as pd

from recsys.evaluation import evaluate
from recsys.models.base import Recommender
from recsys.splitting import Split


class GridEdgeWarning(UserWarning):
    """The tuned optimum of a parameter sits at the end of its grid."""


@dataclass
class TuningResult:
    """Best parameters, the whole grid's validation scores, and the parameters chosen at an edge.

    ``edges`` maps a parameter to "lowest" or "highest" when its chosen value is the grid's
    smallest or largest (and not a hard limit the parameter cannot pass).
    """

    best_params: dict[str, Any]
    best_score: float
    table: pd.DataFrame
    edges: dict[str, str] = field(default_factory=dict)


def grid_edges(
    grid: Mapping[str, Sequence[Any]],
    chosen: Mapping[str, Any],
    limits: Mapping[str, tuple[float, float]] | None = None,
) -> dict[str, str]:
    """Numeric parameters whose chosen value is the lowest or highest of two or more grid values.

    ``limits`` gives hard bounds (e.g. a blend weight in [0, 1]): a value on its bound is where
    the optimum really is, not a sign that the grid was too narrow.
    """
    edges = {}
    for name, values in grid.items():
        numbers = sorted({v for v in values if isinstance(v, Real) and not isinstance(v, bool)})
        if len(numbers) < 2 or chosen[name] not in numbers:
            continue
        low, high = (limits or {}).get(name, (float("-inf"), float("inf")))
        if chosen[name] == numbers[0] and chosen[name] > low:
            edges[name] = "lowest"
        elif chosen[name] == numbers[-1] and chosen[name] < high:
            edges[name] = "highest"
    return edges


def grid_search(
    factory: Callable[..., Recommender],
    grid: Mapping[str, Sequence[Any]],
    validation: Split,
    k: int = 10,
    metric: str = "ndcg",
    limits: Mapping[str, tuple[float, float]] | None = None,
    label: str = "model",
) -> TuningResult:
    """Fit ``factory(**params)`` for every grid point on ``validation``; keep the best.

    ``metric`` is a ranking metric name (higher is better, e.g. "ndcg") or "rmse" (lower is
    better: the explicit-rating model is tuned for what it is for, predicting stars). A chosen
    value at the end of its grid (see ``grid_edges``) raises a ``GridEdgeWarning`` naming ``label``.
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
    edges = grid_edges(grid, best_params, limits)
    if edges:
        where = ", ".join(f"{n}={best_params[n]} is the {side}" for n, side in edges.items())
        warnings.warn(
            f"{label}: tuned optimum at the edge of its grid ({where} value tried); the best "
            "value may lie outside the grid, so extend it in the recipe's grids",
            GridEdgeWarning,
            stacklevel=2,
        )
    return TuningResult(best_params, float(table.loc[best, metric]), table, edges)
