"""Classical members behind one interface: ``fit(texts, y)``, ``decision_function(texts)``
(log-odds of "fake") and ``predict_proba(texts)`` ((n, 2): [p_real, p_fake]).

Log-odds are the common currency because temperature scaling and stacking work on them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, Self, runtime_checkable

import numpy as np
import pandas as pd

from misinfo.artifacts import load_skops, save_skops
from misinfo.features import FEATURE_NAMES, text_features


@runtime_checkable
class Member(Protocol):
    """What the ensemble, calibration, evaluation and the Detector need from a model."""

    name: str

    def decision_function(self, texts: Sequence[str]) -> np.ndarray: ...

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray: ...


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function."""
    z = np.asarray(z, dtype=float)
    return np.where(
        z >= 0, 1.0 / (1.0 + np.exp(-np.abs(z))), np.exp(-np.abs(z)) / (1.0 + np.exp(-np.abs(z)))
    )


def logit(p: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Inverse of sigmoid with clipping, for members that only give probabilities."""
    p = np.clip(np.asarray(p, dtype=float), eps, 1 - eps)
    return np.log(p / (1 - p))


def two_column(p_fake: np.ndarray) -> np.ndarray:
    """(n,) p_fake -> (n, 2) [p_real, p_fake]."""
    p_fake = np.asarray(p_fake, dtype=float)
    return np.column_stack([1.0 - p_fake, p_fake])


def slim_vectorizer(vectorizer: Any) -> None:
    """Make a fitted TfidfVectorizer small and fast to load with skops: drop ``stop_words_``
    (terms cut by min_df/max_features, introspection only) and store the vocabulary's indices
    as Python ints (numpy ints become one .npy file each: 23 MB and 12 s to load for LIAR)."""
    vectorizer.stop_words_ = None
    vectorizer.vocabulary_ = {str(k): int(v) for k, v in vectorizer.vocabulary_.items()}


class _SkopsPipeline:
    """Persistence shared by the scikit-learn members: one pipeline in a skops file."""

    pipeline: Any

    def save(self, path: str | Path) -> Path:
        """Write the pipeline as a skops file (no pickle)."""
        return save_skops(self.pipeline, path)

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Load from a skops file with the trusted-types check."""
        obj = cls.__new__(cls)
        obj.pipeline = load_skops(path)
        return obj


class TfidfLogReg(_SkopsPipeline):
    """TF-IDF (word 1-2 grams, sublinear tf) + logistic regression: the baseline, and the
    model whose weights explain a prediction word by word."""

    name = "tfidf"

    def __init__(
        self, c: float = 4.0, max_features: int = 200_000, min_df: int = 2, seed: int = 0
    ) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline

        self.pipeline = Pipeline(
            [
                (
                    "tfidf",
                    TfidfVectorizer(
                        ngram_range=(1, 2),
                        min_df=min_df,
                        max_features=max_features,
                        sublinear_tf=True,
                        strip_accents="unicode",
                        lowercase=True,
                    ),
                ),
                (
                    "lr",
                    LogisticRegression(
                        C=c, max_iter=2000, class_weight="balanced", random_state=seed
                    ),
                ),
            ]
        )

    def fit(self, texts: Sequence[str], y: np.ndarray) -> TfidfLogReg:
        """Fit on raw texts."""
        self.pipeline.fit(list(texts), np.asarray(y))
        slim_vectorizer(self.pipeline.named_steps["tfidf"])
        return self

    def decision_function(self, texts: Sequence[str]) -> np.ndarray:
        """Log-odds of fake."""
        return self.pipeline.decision_function(list(texts)).astype(float)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(n, 2) uncalibrated probabilities."""
        return two_column(sigmoid(self.decision_function(texts)))

    def explain(self, text: str, top_k: int = 15) -> list[tuple[str, float]]:
        """Signed contributions toward "fake" (weight x tf-idf value) per word; a bigram's
        contribution is split evenly over its two words so the app can highlight words."""
        vec = self.pipeline.named_steps["tfidf"]
        coef = self.pipeline.named_steps["lr"].coef_[0]
        row = vec.transform([text]).tocoo()
        vocab = vec.get_feature_names_out()
        words: dict[str, float] = {}
        for j, value in zip(row.col, row.data, strict=True):
            contribution = float(coef[j] * value)
            parts = str(vocab[j]).split(" ")
            for part in parts:
                words[part] = words.get(part, 0.0) + contribution / len(parts)
        ranked = sorted(words.items(), key=lambda kv: abs(kv[1]), reverse=True)
        return ranked[:top_k]

    def top_terms(self, k: int = 20) -> pd.DataFrame:
        """Largest weights toward fake and toward real (global view of what the model learned)."""
        vocab = self.pipeline.named_steps["tfidf"].get_feature_names_out()
        coef = self.pipeline.named_steps["lr"].coef_[0]
        order = np.argsort(coef)
        rows = [(vocab[i], coef[i], "real") for i in order[:k]] + [
            (vocab[i], coef[i], "fake") for i in order[::-1][:k]
        ]
        return pd.DataFrame(rows, columns=["term", "weight", "pushes_toward"])


_LOG_COLUMNS = ["n_chars", "n_words", "url_count", "exclamations", "questions", "quotes"]


def _prepare(features: pd.DataFrame) -> np.ndarray:
    """log1p on heavy-tailed counts so a linear model is not dominated by a few long texts."""
    f = features[FEATURE_NAMES].copy()
    for col in _LOG_COLUMNS:
        f[col] = np.log1p(f[col].clip(lower=0))
    return f.to_numpy(dtype=float)


class FeatureModel(_SkopsPipeline):
    """Logistic regression on standardised style features (features.py): interpretable by
    construction, and a different view of the text than word identities."""

    name = "features"

    def __init__(self, c: float = 1.0, seed: int = 0) -> None:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler

        self.pipeline = Pipeline(
            [
                ("scale", StandardScaler()),
                (
                    "lr",
                    LogisticRegression(
                        C=c, max_iter=2000, class_weight="balanced", random_state=seed
                    ),
                ),
            ]
        )

    def fit(
        self, texts: Sequence[str], y: np.ndarray, features: pd.DataFrame | None = None
    ) -> FeatureModel:
        """Fit on texts (or precomputed ``features`` to avoid recomputing them)."""
        f = text_features(texts) if features is None else features
        self.pipeline.fit(_prepare(f), np.asarray(y))
        return self

    def decision_function(
        self, texts: Sequence[str], features: pd.DataFrame | None = None
    ) -> np.ndarray:
        """Log-odds of fake."""
        f = text_features(texts) if features is None else features
        return self.pipeline.decision_function(_prepare(f)).astype(float)

    def predict_proba(
        self, texts: Sequence[str], features: pd.DataFrame | None = None
    ) -> np.ndarray:
        """(n, 2) uncalibrated probabilities."""
        return two_column(sigmoid(self.decision_function(texts, features)))

    def coefficients(self) -> pd.Series:
        """Standardised coefficients (positive = toward fake), sorted by magnitude."""
        coef = pd.Series(self.pipeline.named_steps["lr"].coef_[0], index=FEATURE_NAMES)
        return coef.reindex(coef.abs().sort_values(ascending=False).index)
