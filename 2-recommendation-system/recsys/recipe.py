"""Every knob of a run, chosen by run mode; the notebook's parameters cell shows and overrides it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from recsys.models import (
    BPR,
    EASE,
    ContentTFIDF,
    ExplicitMF,
    Hybrid,
    ImplicitALS,
    ItemKNN,
    MostPopular,
    Recommender,
)

# Validation grids (the full recipe; smoke uses the first value of each for speed).
GRIDS: dict[str, dict[str, list[Any]]] = {
    "MostPopular": {},
    "ItemKNN": {"k": [50, 100, 200], "shrinkage": [0.0, 10.0, 50.0]},
    "EASE": {"l2": [200.0, 500.0, 1000.0, 2000.0]},
    "ALS": {"factors": [16, 32, 64], "regularization": [5.0, 10.0, 50.0], "alpha": [2.0, 5.0]},
    "BPR": {"factors": [32, 64], "learning_rate": [0.01, 0.05], "regularization": [0.001, 0.01]},
    "ExplicitMF": {"factors": [16, 32], "l2": [0.05, 0.1, 0.2, 0.4]},
    "ContentTFIDF": {"genre_weight": [1, 2, 4]},
    "Hybrid": {"cf_weight": [0.7, 0.85, 0.95, 1.0], "beta": [2.0, 10.0]},
}


# What each model is tuned for on validation (ranking models: NDCG@K; explicit MF: RMSE).
TUNING_METRIC: dict[str, str] = {"ExplicitMF": "rmse"}


def make_model(
    name: str, items: pd.DataFrame, ease_l2: float = 500.0, **params: Any
) -> Recommender:
    """Build a model by name; the hybrid blends EASE (with its tuned l2) and TF-IDF content."""
    if name == "MostPopular":
        return MostPopular()
    if name == "ItemKNN":
        return ItemKNN(**params)
    if name == "EASE":
        return EASE(**params)
    if name == "ALS":
        return ImplicitALS(**params)
    if name == "BPR":
        return BPR(**params)
    if name == "ExplicitMF":
        return ExplicitMF(**params)
    if name == "ContentTFIDF":
        return ContentTFIDF(items, **params)
    if name == "Hybrid":
        return Hybrid(EASE(l2=ease_l2), ContentTFIDF(items), **params)
    raise ValueError(f"unknown model {name!r}; choose from {sorted(GRIDS)}")


@dataclass
class Recipe:
    """Data size, protocol and simulation sizes for one run mode."""

    mode: str
    k: int = 10
    seed: int = 42
    train_fraction: float = 0.75
    split_method: str = "random"
    relevance_threshold: float | None = None
    models: list[str] = field(default_factory=lambda: list(GRIDS))
    grids: dict[str, dict[str, list[Any]]] = field(default_factory=lambda: dict(GRIDS))
    n_permutations: int = 10_000
    n_bootstrap: int = 10_000
    synthetic_users: int = 300
    synthetic_items: int = 400
    ab_control: str = "ItemKNN"  # the "production" model; the treatment is the best offline model
    ab_visitors: int = 40_000
    aa_sims: int = 2_000
    aa_users_per_arm: int = 2_000
    aa_max_looks: int = 50


def recipe_for(mode: str) -> Recipe:
    """cpu/full: the real ML-100K run with full grids; smoke: tiny grids and simulations."""
    if mode == "smoke":
        smoke_grids = {name: {p: v[:1] for p, v in grid.items()} for name, grid in GRIDS.items()}
        smoke_grids["ALS"] = {"factors": [16], "regularization": [1.0], "alpha": [2.0]}
        smoke_grids["BPR"] = {
            "factors": [16],
            "learning_rate": [0.05],
            "regularization": [0.01],
            "iterations": [30],
        }
        return Recipe(
            mode=mode,
            grids=smoke_grids,
            n_permutations=2_000,
            n_bootstrap=2_000,
            ab_visitors=5_000,
            aa_sims=1_000,
            aa_users_per_arm=500,
            aa_max_looks=10,
        )
    return Recipe(mode=mode)
