"""Build a model by its recipe name: the one place that maps names to classes."""

from __future__ import annotations

from typing import Any

import pandas as pd

from recsys.models.base import Recommender
from recsys.models.baselines import MostPopular, Random
from recsys.models.bpr import BPR
from recsys.models.content import ContentTFIDF
from recsys.models.ease import EASE
from recsys.models.hybrid import Hybrid
from recsys.models.mf import ExplicitMF, ImplicitALS, ImplicitBPR
from recsys.models.knn import ItemKNN, RP3beta, UserKNN
from recsys.spark_als import SparkALS

# Built from their parameters alone; ContentTFIDF and Hybrid also need the item table.
_BY_PARAMS: dict[str, type[Recommender]] = {
    "Random": Random,
    "MostPopular": MostPopular,
    "ItemKNN": ItemKNN,
    "UserKNN": UserKNN,
    "RP3beta": RP3beta,
    "EASE": EASE,
    "ALS": ImplicitALS,
    "BPR": BPR,
    "ImplicitBPR": ImplicitBPR,
    "ExplicitMF": ExplicitMF,
}
MODEL_NAMES = (*_BY_PARAMS, "ContentTFIDF", "Hybrid")
# Built by name but left out of the default recipe: they need an optional extra (pyspark + Java).
OPTIONAL_MODELS: dict[str, type[Recommender]] = {"SparkALS": SparkALS}


def make_model(
    name: str, items: pd.DataFrame, ease: EASE | None = None, **params: Any
) -> Recommender:
    """An unfitted model; the hybrid blends ``ease`` (shared, fitted once per dataset) and content."""
    by_params = _BY_PARAMS | OPTIONAL_MODELS
    if name in by_params:
        return by_params[name](**params)
    if name == "ContentTFIDF":
        return ContentTFIDF(items, **params)
    if name == "Hybrid":
        return Hybrid(ease or EASE(), ContentTFIDF(items), **params)
    known = ", ".join((*MODEL_NAMES, *OPTIONAL_MODELS))
    raise ValueError(f"unknown model {name!r}; choose from {known}")
