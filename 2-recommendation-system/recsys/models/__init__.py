"""Recommenders behind one ``fit`` / ``score`` / ``recommend`` interface (see ``base``)."""

from recsys.models.base import Recommender, top_k
from recsys.models.content import ContentTFIDF
from recsys.models.ease import EASE
from recsys.models.hybrid import Hybrid
from recsys.models.knn import ItemKNN
from recsys.models.mf import BPR, ExplicitMF, ImplicitALS
from recsys.models.popularity import MostPopular

__all__ = [
    "BPR",
    "EASE",
    "ContentTFIDF",
    "ExplicitMF",
    "Hybrid",
    "ImplicitALS",
    "ItemKNN",
    "MostPopular",
    "Recommender",
    "top_k",
]
