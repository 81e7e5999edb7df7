"""Build a model by its recipe name: the one place that maps names to classes."""

from __future__ import annotations

from typing import Any

import pandas as pd

from recsys.models.base import Recommender
from recsys.models.content import ContentTFIDF
from recsys.models.ease import EASE
from recsys.models.hybrid import Hybrid
from recsys.models.knn import ItemKNN
from recsys.models.mf import BPR, ExplicitMF, ImplicitALS
from recsys.models.popularity import MostPopular

MODEL_NAMES = (
    "MostPopular",
    "ItemKNN",
    "EASE",
    "ALS",
    "BPR",
    "ExplicitMF",
    "ContentTFIDF",
    "Hybrid",
)


def make_model(
    name: str, items: pd.DataFrame, ease: EASE | None = None, **params: Any
) -> Recommender:
    """An unfitted model; the hybrid blends ``ease`` (shared, fitted once per dataset) and content."""
    if name == "MostPopular":
        return MostPopular(**params)
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
        return Hybrid(ease or EASE(), ContentTFIDF(items), **params)
    raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODEL_NAMES)}")
