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


def make_model(
    name: str, items: pd.DataFrame, ease: EASE | None = None, **params: Any
) -> Recommender:
    """An unfitted model; the hybrid blends ``ease`` (shared, fitted once per dataset) and content."""
    if name in _BY_PARAMS:
        return _BY_PARAMS[name](**params)
    if name == "ContentTFIDF":
        return ContentTFIDF(items, **params)
    if name == "Hybrid":
        return Hybrid(ease or EASE(), ContentTFIDF(items), **params)
    raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODEL_NAMES)}")
