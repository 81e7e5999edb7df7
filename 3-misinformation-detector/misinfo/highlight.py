"""Safe HTML for the app's "why" panel: highlighted words, token strips and their legend.

Everything the user typed is passed through ``html.escape`` before it is wrapped in a
``<span>``; the only markup in the output is built here from fixed strings and numbers.
That is what lets the app render the explanation as HTML without letting a pasted
``<script>`` or ``<img onerror=...>`` run in the reader's browser. Tables for the page live
in :mod:`misinfo.page`; this module only renders HTML.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Sequence

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
