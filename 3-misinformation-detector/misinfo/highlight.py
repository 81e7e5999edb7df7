"""Safe HTML for the app's "why" panel: highlighted words, token strips, feature percentiles.

Everything the user typed is passed through ``html.escape`` before it is wrapped in a
``<span>``; the only markup in the output is built here from fixed strings and numbers.
That is what lets the app render the explanation as HTML without letting a pasted
``<script>`` or ``<img onerror=...>`` run in the reader's browser.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

# Words (letters/digits, with inner apostrophes), runs of whitespace, or anything else.
_TOKEN_RE = re.compile(r"\w+(?:['’]\w+)*|\s+|[^\w\s]+", re.UNICODE)

# Colour-blind-safe pair: orange pushes toward "fake", blue toward "real".
FAKE_RGB = (230, 97, 1)
REAL_RGB = (33, 102, 172)
_MAX_ALPHA = 0.75


def tokenize_for_display(text: str) -> list[str]:
    """Split text into words, whitespace and punctuation so that ``"".join`` gives it back."""
    return _TOKEN_RE.findall(text)


def _colour(score: float, scale: float) -> str:
    """Background colour for a signed score: hue by sign, opacity by size relative to scale."""
    rgb = FAKE_RGB if score > 0 else REAL_RGB
    alpha = 0.0 if scale <= 0 else min(abs(score) / scale, 1.0) * _MAX_ALPHA
    return f"rgba({rgb[0]},{rgb[1]},{rgb[2]},{alpha:.2f})"


def _span(token: str, score: float, scale: float) -> str:
    """One highlighted, escaped token; the title shows the number on hover."""
    direction = "fake" if score > 0 else "real"
    return (
        f'<span style="background-color:{_colour(score, scale)};border-radius:3px;'
        f'padding:0 2px" title="{score:+.3f} toward {direction}">{html.escape(token)}</span>'
    )


def word_scores(contributions: Iterable[tuple[str, float]]) -> dict[str, float]:
    """Map lower-cased words to the summed contribution of the n-grams that contain them.

    The linear model explains with vocabulary terms, which may be bigrams ("white house");
    spreading a bigram's weight over its words lets the highlight land on the text.
    """
    scores: dict[str, float] = {}
    for term, value in contributions:
        if not isinstance(value, int | float) or not math.isfinite(float(value)):
            continue
        parts = [p for p in re.findall(r"\w+(?:['’]\w+)*", str(term).lower()) if p]
        for part in parts:
            scores[part] = scores.get(part, 0.0) + float(value) / len(parts)
    return scores


def highlight_html(text: str, contributions: Iterable[tuple[str, float]]) -> str:
    """Return the whole text as escaped HTML with the explaining words highlighted."""
    scores = word_scores(contributions)
    scale = max((abs(v) for v in scores.values()), default=0.0)
    pieces: list[str] = []
    for token in tokenize_for_display(text):
        score = scores.get(token.lower())
        if score is None and re.search(r"['’]", token):  # "don't": the vectorizer saw "don"
            score = scores.get(re.split(r"['’]", token.lower())[0])
        if score is None or score == 0.0 or not token.strip():
            pieces.append(html.escape(token))
        else:
            pieces.append(_span(token, score, scale))
    return (
        '<div class="misinfo-highlight" style="white-space:pre-wrap;line-height:1.8">'
        + "".join(pieces)
        + "</div>"
    )


def token_strip_html(attributions: Sequence[tuple[str, float]], max_tokens: int = 400) -> str:
    """Render transformer token attributions (word pieces) as escaped, coloured chips."""
    shown = [(str(t), float(s)) for t, s in attributions[:max_tokens] if math.isfinite(float(s))]
    scale = max((abs(s) for _, s in shown), default=0.0)
    chips = [_span(token, score, scale) if score else html.escape(token) for token, score in shown]
    more = len(attributions) - len(shown)
    tail = f" <em>(+{more} more tokens)</em>" if more > 0 else ""
    return '<div class="misinfo-tokens" style="line-height:2">' + " ".join(chips) + tail + "</div>"


def legend_html() -> str:
    """A two-swatch legend so the colours are not left to guesswork."""
    fake = f"rgba({FAKE_RGB[0]},{FAKE_RGB[1]},{FAKE_RGB[2]},{_MAX_ALPHA})"
    real = f"rgba({REAL_RGB[0]},{REAL_RGB[1]},{REAL_RGB[2]},{_MAX_ALPHA})"
    return (
        f'<div style="font-size:0.85em"><span style="background-color:{fake};padding:0 6px;'
        f'border-radius:3px">word</span> pushed toward <b>fake</b> &nbsp; '
        f'<span style="background-color:{real};padding:0 6px;border-radius:3px">word</span> '
        "pushed toward <b>real</b> (stronger colour = larger contribution)</div>"
    )


def contributions_frame(contributions: Iterable[tuple[str, float]]) -> pd.DataFrame:
    """Contributions as a sorted table for a bar chart (positive = toward fake)."""
    rows = [(str(w), float(c)) for w, c in contributions if math.isfinite(float(c))]
    frame = pd.DataFrame(rows, columns=["term", "contribution"])
    frame["direction"] = np.where(frame["contribution"] > 0, "toward fake", "toward real")
    return frame.sort_values("contribution", ascending=False, ignore_index=True)


def _quantile_table(spec: object) -> tuple[np.ndarray, np.ndarray] | None:
    """Normalise one feature's quantile spec to (probabilities in [0, 1], values).

    Accepts ``{"0.05": 1.0, ...}``, ``{"q05": ...}``, ``{"quantiles": [...], "values": [...]}``
    or a plain list of values at evenly spaced probabilities.
    """
    probs: list[float] = []
    values: list[float] = []
    if isinstance(spec, Mapping):
        if "values" in spec and ("quantiles" in spec or "probs" in spec):
            probs = [float(p) for p in spec.get("quantiles", spec.get("probs", []))]
            values = [float(v) for v in spec["values"]]
        else:
            for key, value in spec.items():
                match = re.fullmatch(r"[qp]?(\d*\.?\d+)%?", str(key).strip().lower())
                if match is None:
                    continue
                p = float(match.group(1))
                if p > 1 or (str(key).lower().startswith(("q", "p")) and "." not in str(key)):
                    p /= 100.0
                probs.append(p)
                values.append(float(value))
    elif isinstance(spec, Sequence) and not isinstance(spec, str) and len(spec) >= 2:
        values = [float(v) for v in spec]
        probs = list(np.linspace(0.0, 1.0, len(values)))
    if len(probs) < 2 or len(probs) != len(values):
        return None
    order = np.argsort(probs)
    return np.asarray(probs, dtype=float)[order], np.asarray(values, dtype=float)[order]


def percentile_in_training(value: float, spec: object) -> float | None:
    """Where ``value`` falls among the training texts, in percent (0-100), by interpolation."""
    table = _quantile_table(spec)
    if table is None or not math.isfinite(value):
        return None
    probs, values = table
    if value < values[0]:
        return 0.0
    if value > values[-1]:
        return 100.0
    # Ties in values (e.g. many zeros): take the middle of the tied probability range.
    lo = np.searchsorted(values, value, side="left")
    hi = np.searchsorted(values, value, side="right")
    if hi > lo:
        return float((probs[lo] + probs[hi - 1]) / 2 * 100)
    return float(np.interp(value, values, probs) * 100)


def feature_comparison(
    features: Mapping[str, float], quantiles: Mapping[str, object] | None
) -> pd.DataFrame:
    """Table of this text's features with their percentile within the training texts.

    Features without a stored training distribution keep an empty percentile rather than
    disappearing, so the reader still sees the value.
    """
    rows = []
    for name, raw in features.items():
        try:
            value = float(raw)
        except (TypeError, ValueError):
            continue
        spec = (quantiles or {}).get(name)
        table = _quantile_table(spec) if spec is not None else None
        median = float(np.interp(0.5, *table)) if table is not None else float("nan")
        pct = percentile_in_training(value, spec) if spec is not None else None
        rows.append(
            {
                "feature": name,
                "value": value,
                "training median": median,
                "percentile in training": float("nan") if pct is None else pct,
            }
        )
    return pd.DataFrame(
        rows, columns=["feature", "value", "training median", "percentile in training"]
    )


def metrics_frame(metrics: Mapping[str, object]) -> pd.DataFrame | None:
    """Manifest metrics as a model x metric table when they are nested numbers, else None."""
    rows = {}
    for model, values in metrics.items():
        if isinstance(values, Mapping):
            numbers = {k: v for k, v in values.items() if isinstance(v, int | float)}
            if numbers:
                rows[str(model)] = numbers
    if not rows:
        return None
    return pd.DataFrame.from_dict(rows, orient="index").round(3)


def mentions_synthetic(training_data: Mapping[str, object]) -> bool:
    """Whether the manifest says the models saw the synthetic corpus (so the UI can say so)."""
    import json

    return "synthetic" in json.dumps(training_data, default=str).lower()


KEY_METRICS = {"accuracy": "acc", "macro_f1": "F1", "roc_auc": "AUC", "ece": "ECE"}


def key_metrics(frame: pd.DataFrame | None) -> pd.DataFrame | None:
    """The few columns that fit a sidebar (accuracy, macro-F1, ROC-AUC, ECE), short names."""
    if frame is None:
        return None
    keep = [c for c in KEY_METRICS if c in frame.columns]
    return frame[keep].rename(columns=KEY_METRICS).round(2) if keep else frame


def contributions_wide(contributions: Iterable[tuple[str, float]]) -> pd.DataFrame:
    """Terms x {toward fake, toward real} so a bar chart can colour the two directions."""
    frame = contributions_frame(contributions)
    wide = pd.DataFrame({"term": frame["term"]})
    wide["toward fake"] = frame["contribution"].clip(lower=0.0)
    wide["toward real"] = frame["contribution"].clip(upper=0.0)
    return wide


def training_data_lines(training: Mapping[str, object]) -> list[str]:
    """Plain-language lines about the training data: what, how many rows, balance, hash."""
    lines = []
    if training.get("description"):
        lines.append(str(training["description"]))
    rows = training.get("rows")
    if isinstance(rows, Mapping) and rows:
        lines.append("rows: " + ", ".join(f"{k} {int(v):,}" for k, v in rows.items()))
    share = training.get("fake_share_train")
    if isinstance(share, int | float):
        lines.append(f'share labelled "fake" in training: {share:.0%}')
    if training.get("metrics_split"):
        lines.append(f"metrics measured on the {training['metrics_split']} split")
    if training.get("sha256"):
        lines.append(f"data sha256 {str(training['sha256'])[:12]}…")
    return lines
