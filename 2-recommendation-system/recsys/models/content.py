"""TF-IDF content-based recommender over titles, genres and (where present) tags.

It needs no other user's data, so it can rank items nobody has rated yet (item cold start).
"""

from __future__ import annotations

import re
from typing import Self

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from recsys.models.base import Recommender, binarize

_YEAR = re.compile(r"\(\d{4}\)")


def item_documents(items: pd.DataFrame, genre_weight: int = 2) -> list[str]:
    """One text per item: title words without the year, genre tokens (repeated), tags."""
    docs = []
    for title, genres, tags in zip(items["title"], items["genres"], items["tags"], strict=True):
        genre_tokens = " ".join(
            f"genre_{re.sub(r'[^a-z]', '', g.lower())}" for g in str(genres).split("|") if g
        )
        docs.append(f"{_YEAR.sub('', str(title))} {' '.join([genre_tokens] * genre_weight)} {tags}")
    return docs


class ContentTFIDF(Recommender):
    """score(u, j) = cos-TF-IDF profile of u's rated items . TF-IDF vector of j."""

    name = "ContentTFIDF"

    def __init__(self, items: pd.DataFrame, genre_weight: int = 2, min_df: int = 1) -> None:
        self.items = items
        self.genre_weight, self.min_df = genre_weight, min_df

    def __repr__(self) -> str:
        return f"ContentTFIDF(genre_weight={self.genre_weight}, min_df={self.min_df})"

    def fit(self, train: sp.csr_matrix) -> Self:
        vectorizer = TfidfVectorizer(min_df=self.min_df, sublinear_tf=True, stop_words="english")
        self.features_ = vectorizer.fit_transform(item_documents(self.items, self.genre_weight))
        self.vocabulary_size_ = len(vectorizer.vocabulary_)
        self.train_ = binarize(train)
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        profile = self.train_[users] @ self.features_
        return np.asarray((profile @ self.features_.T).todense())
