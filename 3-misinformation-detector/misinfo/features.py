"""Hand-crafted text features: style signals a reader can inspect (length, punctuation,
shouting, readability, sentiment, numbers). Used by the feature model and shown in the app
next to the training distribution."""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import pandas as pd

FEATURE_NAMES: list[str] = [
    "n_chars",
    "n_words",
    "avg_word_len",
    "punct_ratio",
    "exclamations",
    "questions",
    "quotes",
    "capitals_ratio",
    "all_caps_words",
    "number_density",
    "proper_noun_density",
    "first_person_ratio",
    "second_person_ratio",
    "url_count",
    "flesch_reading_ease",
    "sentiment_compound",
    "sentiment_pos",
    "sentiment_neg",
    "subjectivity",
]
FEATURE_DESCRIPTIONS: dict[str, str] = {
    "n_chars": "characters",
    "n_words": "words",
    "avg_word_len": "mean word length (letters)",
    "punct_ratio": "punctuation characters / characters",
    "exclamations": "'!' per 100 words",
    "questions": "'?' per 100 words",
    "quotes": "quotation marks per 100 words",
    "capitals_ratio": "upper-case letters / letters",
    "all_caps_words": "share of words in ALL CAPS (2+ letters)",
    "number_density": "numeric tokens / words",
    "proper_noun_density": "capitalised words not starting a sentence / words (named-entity proxy)",
    "first_person_ratio": "I/we/me/us/my/our / words",
    "second_person_ratio": "you/your / words",
    "url_count": "URLs and @handles",
    "flesch_reading_ease": "Flesch reading ease (pyphen syllables; higher = easier)",
    "sentiment_compound": "VADER compound sentiment (-1..1)",
    "sentiment_pos": "VADER positive share",
    "sentiment_neg": "VADER negative share",
    "subjectivity": "1 - VADER neutral share (emotive-language proxy)",
}

_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]*|\d[\d,.]*")
_NUMBER = re.compile(r"^\d[\d,.]*$")
_URL = re.compile(r"https?://\S+|www\.\S+|@\w+")
_SENT_START = re.compile(r"(?:^|[.!?]\s+)([A-Z][a-z]+)")
_PUNCT = set(string.punctuation) | {"“", "”", "‘", "’", "—", "–"}
_FIRST = {"i", "we", "me", "us", "my", "our", "mine", "ours"}
_SECOND = {"you", "your", "yours"}


@lru_cache(maxsize=1)
def _vader():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


@lru_cache(maxsize=1)
def _hyphenator():
    import pyphen

    return pyphen.Pyphen(lang="en_US")


_SENTENCE_END = re.compile(r"[.!?]+(?:\s|$)")


def _readability(text: str, words: list[str]) -> float:
    """Flesch reading ease, textstat's formula, with pyphen syllable counts (textstat's own
    fallback). Why not textstat directly: for English it needs NLTK's cmudict, a download that
    fails offline, and features must be computed identically everywhere a model runs."""
    alpha = [w for w in words if w[0].isalpha()]
    if not alpha:
        return 0.0
    hy = _hyphenator()
    syllables = sum(len(hy.positions(w.lower())) + 1 for w in alpha)
    sentences = max(len(_SENTENCE_END.findall(text)), 1)
    return 206.835 - 1.015 * (len(alpha) / sentences) - 84.6 * (syllables / len(alpha))


def _one(text: str) -> list[float]:
    n_chars = len(text)
    words = _WORD.findall(text)
    n_words = len(words)
    per_word = max(n_words, 1)
    per_100 = 100.0 / per_word
    letters = [c for c in text if c.isalpha()]
    n_letters = max(len(letters), 1)
    lower = [w.lower() for w in words]
    alpha_words = [w for w in words if w[0].isalpha()]
    sentence_starts = len(_SENT_START.findall(text))
    capitalised = sum(1 for w in alpha_words if w[0].isupper())
    vs = _vader().polarity_scores(text[:5000])
    return [
        float(n_chars),
        float(n_words),
        float(np.mean([len(w) for w in alpha_words])) if alpha_words else 0.0,
        sum(1 for c in text if c in _PUNCT) / max(n_chars, 1),
        text.count("!") * per_100,
        text.count("?") * per_100,
        sum(text.count(q) for q in ('"', "“", "”")) * per_100,
        sum(1 for c in letters if c.isupper()) / n_letters,
        sum(1 for w in alpha_words if len(w) >= 2 and w.isupper()) / per_word,
        sum(1 for w in words if _NUMBER.match(w)) / per_word,
        max(capitalised - sentence_starts, 0) / per_word,
        sum(1 for w in lower if w in _FIRST) / per_word,
        sum(1 for w in lower if w in _SECOND) / per_word,
        float(len(_URL.findall(text))),
        _readability(text, words),
        vs["compound"],
        vs["pos"],
        vs["neg"],
        1.0 - vs["neu"] if n_words else 0.0,
    ]


def text_features(texts: Sequence[str]) -> pd.DataFrame:
    """One row of FEATURE_NAMES per text (empty text gives zeros, never an error)."""
    if isinstance(texts, str):
        raise TypeError("text_features expects a sequence of texts, not a single string")
    rows = [_one("" if t is None else str(t)) for t in texts]
    return pd.DataFrame(rows, columns=FEATURE_NAMES, dtype=float)


def feature_quantiles(
    features: pd.DataFrame, quantiles: Sequence[float] = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
) -> dict[str, dict[str, float]]:
    """Per-feature quantiles plus mean/std of the training data, stored in the manifest so the
    app can say where a new text sits relative to what the models saw."""
    out: dict[str, dict[str, float]] = {}
    for name in features.columns:
        col = features[name].to_numpy(dtype=float)
        stats = {f"q{round(q * 100):02d}": float(np.quantile(col, q)) for q in quantiles}
        stats["mean"] = float(col.mean())
        stats["std"] = float(col.std())
        out[name] = stats
    return out
