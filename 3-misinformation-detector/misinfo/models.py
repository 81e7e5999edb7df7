"""Members behind one interface: ``fit(texts, y)``, ``decision_function(texts)`` (log-odds of
"fake") and ``predict_proba(texts)`` ((n, 2): [p_real, p_fake]), and the typed registry that
saves and loads each kind of member.

Log-odds are the common currency because temperature scaling and stacking work on them.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self, runtime_checkable

import numpy as np
import pandas as pd
from scipy.special import expit

from misinfo.artifacts import load_skops, save_skops
from misinfo.features import FEATURE_NAMES, text_features


class MemberKind(StrEnum):
    """The kinds of member a manifest may name; each maps to the class that saves and loads it."""

    TFIDF = "tfidf"
    FEATURES = "features"
    TRANSFORMER = "transformer"

    def member_class(self) -> type[SavedMember]:
        """The class behind this kind (the transformer class is imported only when needed:
        torch is heavy and the quick models do not use it)."""
        if self is MemberKind.TFIDF:
            return TfidfLogReg
        if self is MemberKind.FEATURES:
            return FeatureModel
        from misinfo.transformer import TransformerClassifier

        return TransformerClassifier


@runtime_checkable
class Member(Protocol):
    """What the ensemble, calibration, evaluation and the Detector need from a model."""

    name: str

    def decision_function(self, texts: Sequence[str]) -> np.ndarray: ...

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray: ...


class SavedMember(Member, Protocol):
    """A member that knows its kind and how it is written to / read from an artifacts folder."""

    kind: ClassVar[MemberKind]

    @staticmethod
    def artifact_name(name: str) -> str: ...

    def save(self, path: str | Path) -> Path: ...

    @classmethod
    def load(
        cls, path: str | Path, name: str = "", max_length: int = 256, quantize_int8: bool = False
    ) -> Self: ...


def two_column(p_fake: np.ndarray) -> np.ndarray:
    """(n,) p_fake -> (n, 2) [p_real, p_fake]."""
    p_fake = np.asarray(p_fake, dtype=float)
    return np.column_stack([1.0 - p_fake, p_fake])


def slim_vectorizer(vectorizer: Any) -> None:
    """Make a fitted TfidfVectorizer small and fast to load with skops: drop ``stop_words_``
    (terms cut by min_df/max_features, introspection only) and store the vocabulary's indices
    as Python ints (skops writes numpy ints as one .npy file each; README, "Artifacts")."""
    vectorizer.stop_words_ = None
    vectorizer.vocabulary_ = {str(k): int(v) for k, v in vectorizer.vocabulary_.items()}


class _SkopsPipeline:
    """Persistence shared by the scikit-learn members: one pipeline in a skops file."""

    kind: ClassVar[MemberKind]
    name: str
    pipeline: Any

    @staticmethod
    def artifact_name(name: str) -> str:
        """File name of the member in an artifacts folder."""
        return f"{name}.skops"

    def save(self, path: str | Path) -> Path:
        """Write the pipeline as a skops file (no pickle)."""
        return save_skops(self.pipeline, path)

    @classmethod
    def load(
        cls, path: str | Path, name: str = "", max_length: int = 256, quantize_int8: bool = False
    ) -> Self:
        """Load from a skops file with the trusted-types check (``max_length`` and
        ``quantize_int8`` concern transformers; accepted so every kind loads the same way)."""
        obj = cls.__new__(cls)
        obj.pipeline = load_skops(path)
        obj.name = name or str(cls.kind)
        return obj


# analyzer -> n-gram range: words (the baseline, explainable word by word) or characters inside
# word boundaries (robust to spelling variants, hashtags and handles in social-media posts)
TFIDF_NGRAMS: dict[str, tuple[int, int]] = {"word": (1, 2), "char_wb": (2, 5)}


class TfidfLogReg(_SkopsPipeline):
    """TF-IDF (word 1-2 grams or character 2-5 grams, sublinear tf) + logistic regression: the
    baseline, and (on words) the model whose weights explain a prediction word by word."""

    kind = MemberKind.TFIDF

    def __init__(
        self,
        c: float = 4.0,
        max_features: int = 200_000,
        min_df: int = 2,
        seed: int = 0,
        name: str = "tfidf",
        analyzer: str = "word",
    ) -> None:
        if analyzer not in TFIDF_NGRAMS:
            raise ValueError(f"analyzer must be one of {sorted(TFIDF_NGRAMS)}, not {analyzer!r}")
        self.name = name
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline

        self.pipeline = Pipeline(
            [
                (
                    "tfidf",
                    TfidfVectorizer(
                        analyzer=analyzer,
                        ngram_range=TFIDF_NGRAMS[analyzer],
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
        return two_column(expit(self.decision_function(texts)))

    @property
    def analyzer(self) -> str:
        """The vectorizer's analyzer, "word" or "char_wb" (read from the pipeline, so a loaded
        member knows it too)."""
        return str(self.pipeline.named_steps["tfidf"].analyzer)

    def explain(self, text: str, top_k: int = 15) -> list[tuple[str, float]]:
        """Signed contributions toward "fake" (weight x tf-idf value) per word; a bigram's
        contribution is split evenly over its two words so the app can highlight words."""
        if self.analyzer != "word":
            raise ValueError(f"{self.name} weighs character n-grams: explain() needs a word model")
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


class FeatureModel(_SkopsPipeline):
    """Logistic regression on standardised style features (features.py): interpretable by
    construction, and a different view of the text than word identities."""

    kind = MemberKind.FEATURES

    def __init__(self, c: float = 1.0, seed: int = 0, name: str = "features") -> None:
        self.name = name
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
        self.pipeline.fit(self.inputs(f), np.asarray(y))
        return self

    @staticmethod
    def inputs(features: pd.DataFrame) -> np.ndarray:
        """The matrix the pipeline sees: log1p on heavy-tailed counts, so a linear model is not
        dominated by a few long texts (also what permutation importance must shuffle)."""
        f = features[FEATURE_NAMES].copy()
        for col in _LOG_COLUMNS:
            f[col] = np.log1p(f[col].clip(lower=0))
        return f.to_numpy(dtype=float)

    def decision_function(
        self, texts: Sequence[str], features: pd.DataFrame | None = None
    ) -> np.ndarray:
        """Log-odds of fake."""
        f = text_features(texts) if features is None else features
        return self.pipeline.decision_function(self.inputs(f)).astype(float)

    def predict_proba(
        self, texts: Sequence[str], features: pd.DataFrame | None = None
    ) -> np.ndarray:
        """(n, 2) uncalibrated probabilities."""
        return two_column(expit(self.decision_function(texts, features)))

    def coefficients(self) -> pd.Series:
        """Standardised coefficients (positive = toward fake), sorted by magnitude."""
        coef = pd.Series(self.pipeline.named_steps["lr"].coef_[0], index=FEATURE_NAMES)
        return coef.reindex(coef.abs().sort_values(ascending=False).index)
