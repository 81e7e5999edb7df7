"""The offline experiment in one place: tune each model on validation, refit, evaluate on test.

Kept out of the notebook so the notebook narrates and plots while this stays testable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from recsys.comparison import ModelComparison, compare_models
from recsys.data import RatingsData, genre_matrix, load_movielens, synthetic_movielens
from recsys.evaluation import (
    EvaluationResult,
    evaluable_users,
    evaluate,
    results_table,
    seen_in_lists,
    sklearn_ndcg,
)
from recsys.models.base import Recommender
from recsys.models.ease import EASE
from recsys.models.registry import make_model
from recsys.recipes import Recipe
from recsys.splitting import Split, cold_item_split, split_per_user, validation_split
from recsys.tuning import grid_search


def load_data(recipe: Recipe, path: str | os.PathLike[str] | None = None) -> RatingsData:
    """The recipe's dataset: synthetic for smoke runs, else a MovieLens variant (local or download)."""
    if recipe.dataset == "synthetic":
        return synthetic_movielens(recipe.synthetic_users, recipe.synthetic_items, seed=recipe.seed)
    return load_movielens(path, recipe.dataset)


@dataclass
class ColdStartResult:
    """Each model's metrics when the test items had no training interactions at all."""

    table: pd.DataFrame  # one row per model: the evaluation summary

    def to_metrics(self) -> list[dict[str, Any]]:
        return self.table.reset_index(names="model").to_dict(orient="records")


@dataclass
class OfflineExperiment:
    """Tuned parameters, validation scores and test results for every model in the recipe."""

    recipe: Recipe
    data: RatingsData
    split: Split
    best_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    validation_scores: dict[str, float] = field(default_factory=dict)  # NDCG@k, or RMSE
    results: dict[str, EvaluationResult] = field(default_factory=dict)
    tuning_tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    grid_edges: dict[str, dict[str, str]] = field(default_factory=dict)  # see tuning.grid_edges
    _ease_by_l2: dict[float, EASE] = field(default_factory=dict, repr=False)

    @property
    def metric(self) -> str:
        """The metric models are ranked and compared on."""
        return f"ndcg@{self.recipe.k}"

    def build(self, name: str) -> Recommender:
        """An unfitted model with its tuned parameters (hybrids share the tuned EASE)."""
        return self._make(name, **self.best_params[name])

    def _make(self, name: str, **params: Any) -> Recommender:
        return make_model(name, self.data.items, ease=self._shared_ease(), **params)

    def _shared_ease(self) -> EASE:
        """One EASE per l2 for all hybrids, so a grid over the blend fits the inverse once."""
        l2 = float(self.best_params.get("EASE", {}).get("l2", 500.0))
        return self._ease_by_l2.setdefault(l2, EASE(l2=l2))

    def tuning_summary(self) -> pd.DataFrame:
        """What validation chose for each model, its validation score, and any choice at a grid
        edge (the optimum may lie outside the grid)."""
        edges = {
            name: ", ".join(f"{p} ({side})" for p, side in self.grid_edges.get(name, {}).items())
            for name in self.best_params
        }
        return pd.DataFrame(
            {
                f"validation score (NDCG@{self.recipe.k}; RMSE where tuned on it)": (
                    self.validation_scores
                ),
                "chosen parameters": self.best_params,
                "at grid edge": edges,
            }
        )

    @cached_property
    def table(self) -> pd.DataFrame:
        """Test metrics per model with 95% bootstrap CIs over users, best first."""
        metrics = tuple(f"{m}@{self.recipe.k}" for m in ("ndcg", "precision", "recall", "map"))
        return results_table(self.results, metrics, self.recipe.n_bootstrap, self.recipe.seed)

    def compare(self) -> ModelComparison:
        """Every pair of models, user by user (paired tests, bootstrap CIs, Holm)."""
        r = self.recipe
        pairs = compare_models(self.results, self.metric, r.n_permutations, r.n_bootstrap, r.seed)
        return ModelComparison(self.results, pairs, self.metric)

    def reference_check(self) -> pd.DataFrame:
        """Per model: our NDCG@k beside scikit-learn's ``ndcg_score`` on the same top-k lists,
        and how many listed items the user had already seen in training (must be none)."""
        train = self.split.train_matrix()
        relevance = self.split.relevance(self.recipe.relevance_threshold)
        rows = {}
        for name, r in self.results.items():
            if not np.array_equal(r.users, evaluable_users(relevance)):
                raise ValueError(f"{name} was not evaluated on this experiment's split")
            reference, full = sklearn_ndcg(r.recommendations, relevance[r.users], self.recipe.k)
            ours = float(r.per_user[self.metric][full].mean())
            rows[name] = {
                f"{self.metric} (ours)": ours,
                f"{self.metric} (scikit-learn)": reference,
                "abs diff": abs(ours - reference),
                "users checked": int(full.sum()),
                "training items listed": seen_in_lists(r.recommendations, train[r.users]),
            }
        return pd.DataFrame.from_dict(rows, orient="index")

    def cold_start(self) -> ColdStartResult:
        """Re-fit ``recipe.cold_models`` after removing every training rating of some items."""
        r = self.recipe
        split = cold_item_split(self.split, r.cold_item_fraction, seed=r.seed)
        rows = {name: evaluate(self.build(name), split, r.k).summary() for name in r.cold_models}
        return ColdStartResult(pd.DataFrame(rows).T)

    def to_metrics(self) -> dict[str, Any]:
        r = self.recipe
        return {
            "protocol": {
                "split": r.split_method,
                "train_fraction": r.train_fraction,
                "k": r.k,
                "seed": r.seed,
                "relevance_threshold": r.relevance_threshold,
            },
            "best_params": self.best_params,
            "validation_ndcg": self.validation_scores,
            "grid_edges": self.grid_edges,
            "tuning_grids": {
                name: table.to_dict(orient="records") for name, table in self.tuning_tables.items()
            },
            "test": self.table.reset_index().to_dict(orient="records"),
        }


def run_offline_experiment(
    recipe: Recipe,
    data: RatingsData,
    split: Split | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
) -> OfflineExperiment:
    """Split per the recipe (unless given), grid-search on a validation split carved from train
    only, then refit every model on all of train and evaluate it on test.

    With ``params`` (model -> parameters, e.g. another split's tuned choice) nothing is tuned:
    each model is fitted with its given parameters and evaluated, and no validation score exists.
    """
    if split is None:
        split = split_per_user(
            data.ratings,
            data.n_users,
            data.n_items,
            recipe.train_fraction,
            recipe.split_method,
            recipe.seed,
        )
    features = genre_matrix(data.items)
    exp = OfflineExperiment(recipe, data, split)
    if params is not None:
        missing = [name for name in recipe.models if name not in params]
        if missing:
            raise ValueError(
                f"params has no entry for {missing}; give {{}} for a model without any"
            )
        exp.best_params = {name: dict(params[name]) for name in recipe.models}
    else:
        validation = validation_split(
            split, recipe.train_fraction, recipe.seed + 1, recipe.split_method
        )
    for name in recipe.models:  # EASE is tuned before the hybrid that reuses its l2
        if params is None:
            tuned = grid_search(
                lambda name=name, **p: exp._make(name, **p),
                recipe.grids[name],
                validation,
                recipe.k,
                recipe.tuning_metric.get(name, "ndcg"),
                recipe.grid_limits.get(name),
                name,
            )
            exp.best_params[name] = tuned.best_params
            exp.validation_scores[name] = tuned.best_score
            exp.tuning_tables[name] = tuned.table
            exp.grid_edges[name] = tuned.edges
        exp.results[name] = evaluate(
            exp.build(name), split, recipe.k, recipe.relevance_threshold, features
        )
    return exp
