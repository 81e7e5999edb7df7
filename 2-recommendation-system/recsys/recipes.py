"""Every knob of a run, one frozen recipe per run mode; the notebook overrides fields by name.

``recipe_for(mode, **overrides)`` is the only way in, so a typo in a field name or a mode is an
error naming the valid choices instead of a silently ignored setting.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlshared.run import pick_recipe
from recsys.data import LOADERS
from recsys.models.registry import MODEL_NAMES, OPTIONAL_MODELS

# Validation grids of the full recipe (smoke keeps one point per model for speed). Each grid was
# widened (twice at most) past every optimum an ML-100K cpu run chose at one of its edges; what
# still sits at an edge, there or on another dataset, is reported (tuning.grid_edges).
GRIDS: dict[str, dict[str, list[Any]]] = {
    "Random": {},
    "MostPopular": {},
    "ItemKNN": {"k": [50, 100, 200, 400], "shrinkage": [0.0, 10.0, 50.0, 200.0]},
    "UserKNN": {"k": [50, 100, 200], "shrinkage": [0.0, 10.0, 50.0]},
    "RP3beta": {"alpha": [0.25, 0.5, 1.0], "beta": [0.3, 0.5, 0.7], "k": [100, 200, 400, 800]},
    "EASE": {"l2": [200.0, 500.0, 1000.0, 2000.0]},
    "ALS": {
        "factors": [8, 16, 32, 64],
        "regularization": [5.0, 10.0, 50.0],
        "alpha": [1.0, 2.0, 5.0],
    },
    # A linearly decaying learning rate: on ML-100K's validation split it lifted the best NDCG@10
    # from 0.247 (constant rate, 64 factors) to 0.254 (128 factors, 200 epochs).
    "BPR": {
        "factors": [64, 128],
        "learning_rate": [0.02, 0.03, 0.05],
        "regularization": [0.01],
        "iterations": [100, 200],
        "lr_schedule": ["linear"],
    },
    "ImplicitBPR": {  # its epochs tuned too: implicit's BPR degrades with more of them
        "factors": [64],
        "learning_rate": [0.0025, 0.005, 0.01, 0.05],
        "regularization": [0.0001, 0.001, 0.01],
        "iterations": [25, 50, 100, 200],
    },
    # Not 128 factors: a negligible RMSE gain for most of a cpu run's time (README, "Tuning").
    "ExplicitMF": {"factors": [16, 32, 64], "l2": [0.05, 0.1, 0.2, 0.4]},
    "ContentTFIDF": {"genre_weight": [1, 2, 4, 8]},
    "Hybrid": {"cf_weight": [0.7, 0.85, 0.95, 1.0], "beta": [0.1, 0.5, 2.0, 10.0]},
}
# Hard bounds of a parameter: an optimum on one is where it is, not a sign of a narrow grid.
GRID_LIMITS: dict[str, dict[str, tuple[float, float]]] = {
    "ItemKNN": {"shrinkage": (0.0, float("inf"))},
    "UserKNN": {"shrinkage": (0.0, float("inf"))},
    "Hybrid": {"cf_weight": (0.0, 1.0), "beta": (0.0, float("inf"))},
}

Grids = Mapping[str, Mapping[str, Sequence[Any]]]


@dataclass(frozen=True)
class Recipe:
    """Data, protocol, tuning grids and simulation sizes for one run mode."""

    name: str
    dataset: str = "ml-100k"  # a MovieLens variant (recsys.data.DATASETS) or "synthetic"
    seed: int = 42
    k: int = 10
    train_fraction: float = 0.75
    split_method: str = "random"
    relevance_threshold: float | None = None
    models: tuple[str, ...] = MODEL_NAMES
    grids: Grids = field(default_factory=lambda: {n: dict(g) for n, g in GRIDS.items()})
    # What each model is tuned for on validation (ranking models: NDCG@k; explicit MF: RMSE).
    tuning_metric: Mapping[str, str] = field(default_factory=lambda: {"ExplicitMF": "rmse"})
    grid_limits: Mapping[str, Mapping[str, tuple[float, float]]] = field(
        default_factory=lambda: {n: dict(g) for n, g in GRID_LIMITS.items()}
    )
    # Robustness: the comparison repeated on per-user random splits with these seeds (the main
    # split's seed among them is reused, not refitted), plus a temporal split if asked; the
    # parameters tuned on the main split are reused unless retune_per_split.
    split_seeds: tuple[int, ...] = (42, 43, 44, 45, 46)
    temporal_split: bool = True
    retune_per_split: bool = False
    n_permutations: int = 10_000
    n_bootstrap: int = 10_000
    synthetic_users: int = 300
    synthetic_items: int = 400
    cold_item_fraction: float = 0.1
    cold_models: tuple[str, ...] = ("MostPopular", "EASE", "ContentTFIDF", "Hybrid")
    ab_control: str = "ItemKNN"  # the "production" model; the treatment is the best offline model
    ab_relative_lift: float = 0.05  # smallest CTR lift worth detecting, for the power analysis
    ab_visitors: int = 40_000
    aa_sims: int = 2_000
    aa_users_per_arm: int = 2_000
    aa_max_looks: int = 50

    def __post_init__(self) -> None:
        for name in ("models", "cold_models", "split_seeds"):  # OVERRIDES may give lists
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.dataset not in ("synthetic", *LOADERS):
            raise ValueError(
                f"unknown dataset {self.dataset!r}; choose from synthetic, {', '.join(LOADERS)}"
            )
        known = (*MODEL_NAMES, *OPTIONAL_MODELS)
        unknown = [m for m in (*self.models, *self.cold_models) if m not in known]
        if unknown:
            raise ValueError(f"unknown models {unknown}; choose from {', '.join(known)}")
        if len(set(self.split_seeds)) < len(self.split_seeds):
            raise ValueError(f"split_seeds repeats a seed: {self.split_seeds}")
        if len(self.split_seeds) + self.temporal_split < 2:
            raise ValueError(
                "robustness needs at least two splits: give two or more distinct split_seeds, "
                "or one and temporal_split=True"
            )
        ungridded = [m for m in self.models if m not in self.grids]
        if ungridded:
            raise ValueError(f"models {ungridded} have no entry in grids (use {{}} for none)")

    def as_dict(self) -> dict[str, Any]:
        """Plain values for the metrics JSON."""
        return dataclasses.asdict(self)


FULL = Recipe(name="full")
CPU = dataclasses.replace(FULL, name="cpu")  # the real run is small enough for a laptop CPU
_SMOKE_GRIDS = {name: {p: v[:1] for p, v in grid.items()} for name, grid in GRIDS.items()}
SMOKE = Recipe(
    name="smoke",
    dataset="synthetic",
    grids=_SMOKE_GRIDS
    | {
        "ALS": {"factors": [16], "regularization": [1.0], "alpha": [2.0]},
        "BPR": {
            "factors": [16],
            "learning_rate": [0.05],
            "regularization": [0.01],
            "iterations": [20],
            "lr_schedule": ["linear"],
        },
        "ImplicitBPR": {
            "factors": [16],
            "learning_rate": [0.05],
            "regularization": [0.01],
            "iterations": [30],
        },
    },
    split_seeds=(42, 43),
    n_permutations=2_000,
    n_bootstrap=2_000,
    ab_visitors=5_000,
    aa_sims=1_000,
    aa_users_per_arm=500,
    aa_max_looks=10,
)

RECIPES: dict[str, Recipe] = {r.name: r for r in (FULL, CPU, SMOKE)}


def recipe_for(mode: str, **overrides: Any) -> Recipe:
    """The recipe of a run mode with some fields replaced, e.g. ``recipe_for("cpu", k=20)``."""
    return pick_recipe(RECIPES, mode, **overrides)
