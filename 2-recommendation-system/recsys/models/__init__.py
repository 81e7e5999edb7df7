"""Recommenders behind one ``fit`` / ``score`` / ``recommend`` interface (see ``base``)."""

from recsys.models.base import Recommender, top_k
from recsys.models.baselines import MostPopular, Random
from recsys.models.bpr import BPR
from recsys.models.content import ContentTFIDF
from recsys.models.ease import EASE
from recsys.models.hybrid import Hybrid
from recsys.models.mf import ExplicitMF, ImplicitALS, ImplicitBPR
from recsys.models.knn import ItemKNN, RP3beta, UserKNN

__all__ = [
    "BPR",
    "EASE",
    "RP3beta",
    "ContentTFIDF",
    "ExplicitMF",
    "Hybrid",
    "ImplicitALS",
    "ImplicitBPR",
    "ItemKNN",
    "MostPopular",
    "Random",
    "Recommender",
    "UserKNN",
    "top_k",
]
