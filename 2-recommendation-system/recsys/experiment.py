"""The offline experiment in one place: tune each model on validation, refit, evaluate on test.

Kept out of the notebook so the notebook narrates and plots while this stays testable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys.data import RatingsData, genre_matrix
from recsys.evaluation import EvaluationResult, evaluate
from recsys.models.base import Recommender
from recsys.models.registry import make_model
from recsys.recipes import Recipe
from recsys.splitting import Split, validation_split
from recsys.tuning import grid_search


@dataclass
class OfflineExperiment:
    """Tuned parameters, validation scores and test results for every model in the recipe."""

    best_params: dict[str, dict]
    validation_scores: dict[str, float]  # NDCG@K, or RMSE for models tuned on RMSE
    results: dict[str, EvaluationResult]
    tuning_tables: dict[str, pd.DataFrame]

    def build(self, name: str, data: RatingsData) -> Recommender:
        """A fresh, unfitted model with its tuned parameters (for the A/B simulation)."""
        return make_model(name, data.items, ease_l2=self._ease_l2(), **self.best_params[name])

    def _ease_l2(self) -> float:
        return float(self.best_params.get("EASE", {}).get("l2", 500.0))


def run_offline_experiment(recipe: Recipe, data: RatingsData, split: Split) -> OfflineExperiment:
    """Grid-search on a validation split carved from train only, then refit on all of train."""
    validation = validation_split(split, recipe.train_fraction, seed=recipe.seed + 1)
    features = genre_matrix(data.items)
    exp = OfflineExperiment({}, {}, {}, {})
    for name in recipe.models:  # EASE is tuned before the hybrid that reuses its l2
        tuned = grid_search(
            lambda name=name, **p: make_model(name, data.items, ease_l2=exp._ease_l2(), **p),
            recipe.grids[name],
            validation,
            recipe.k,
            recipe.tuning_metric.get(name, "ndcg"),
        )
        exp.best_params[name] = tuned.best_params
        exp.validation_scores[name] = tuned.best_score
        exp.tuning_tables[name] = tuned.table
        exp.results[name] = evaluate(
            exp.build(name, data), split, recipe.k, recipe.relevance_threshold, features
        )
    return exp


def ranked_models(results: dict[str, EvaluationResult], metric: str = "ndcg@10") -> list[str]:
    """Model names, best mean metric first."""
    return sorted(results, key=lambda n: -float(np.mean(results[n].per_user[metric])))
