"""What the Streamlit page shows, computed without Streamlit, so every rule is unit-tested.

- one text: checks (empty, binary junk, non-English, too long) and the analysis (prediction,
  word explanation, features; the transformer's token attributions later, on their own);
- a CSV file: scoring through :mod:`misinfo.tabular` (the same reader and writer as
  ``python -m misinfo.batch``) into a result the page filters, charts and offers for download;
- tables for the page: feature percentiles, contributions, the sidebar's metrics and
  training-data lines;
- :func:`plain`: user text (file names, headers, messages) made safe for elements that render
  Markdown, so a header like ``![x](http://host/pixel)`` shows as text and fetches nothing.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import os
import re
import tempfile
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from misinfo import tabular

DEFAULT_MAX_UPLOAD_MB = 25
MAX_UPLOAD_ENV = "MISINFO_MAX_UPLOAD_MB"
# The page's promise for the server's extra memory per upload, as a multiple of the file size;
# benchmarks/bench_app.py measures a real server against it (the README has the figure).
PEAK_MEMORY_FACTOR = 5

# A small set of very common English words: enough to tell English prose from other
# languages without a language-ID model (a warning only; the text is still analysed).
_ENGLISH_STOPWORDS = frozenset(
    """
    the a an and or but of to in on at for with by from is are was were be been it its this
    that these those he she they we you i his her their our your not no as if than then so
    has have had do does did will would can could should says said
    """.split()  # noqa: SIM905 - a word list reads better as prose than as 58 lines
)
_WORD_RE = re.compile(r"[^\W\d_]+", re.UNICODE)


# Every ASCII punctuation character: CommonMark lets each be backslash-escaped, which turns
# off links, images, emphasis, HTML, LaTeX ($) and Streamlit's :directives: and :emoji:.
_MARKDOWN_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
# GFM's autolink literals (bare http://, www., e-mail addresses) are found in the text after
# escapes are resolved, so escaping cannot stop them; an invisible word joiner before them can
# (an autolink must start after a space or punctuation, and an address right before its @).
_AUTOLINK_START = re.compile(r"(https?:|www\.|@)", re.IGNORECASE)
WORD_JOINER = "\u2060"


def plain(text: object) -> str:
    """``text`` for an element that renders Markdown (st.error, st.caption...), so it shows as
    written, on one line: nothing user-controlled becomes a link, an image or formatting.
    Bare addresses keep their characters but are no longer clickable (a word joiner, U+2060,
    sits before them)."""
    one_line = " ".join(str(text).splitlines())
    defanged = _AUTOLINK_START.sub(WORD_JOINER + r"\1", one_line)
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", defanged)


def max_upload_mb() -> int:
    """Upload limit in MB (env MISINFO_MAX_UPLOAD_MB, default 25), never below 1."""
    raw = os.environ.get(MAX_UPLOAD_ENV, "")
    try:
        value = int(float(raw)) if raw.strip() else DEFAULT_MAX_UPLOAD_MB
    except ValueError:
        value = DEFAULT_MAX_UPLOAD_MB
    return max(1, value)


def memory_bound_text(limit_mb: int) -> str:
    """The memory bound, stated in one place for the page."""
    return (
        f"Rows are read and scored {tabular.CHUNK_ROWS:,} at a time; the upload and the result "
        f"table stay in memory, at most about {PEAK_MEMORY_FACTOR}× the file size "
        f"({PEAK_MEMORY_FACTOR * limit_mb} MB for a {limit_mb} MB file) on top of the loaded "
        "models."
    )


def upload_limit_text(limit_mb: int) -> str:
    """Said under the upload box, in words: the box itself only marks a refused file red and
    gives the reason on hover."""
    return (
        f"Files up to {limit_mb} MB. A bigger file is refused by the upload box (its name turns "
        "red and nothing is read): split it into smaller files, or score it with "
        "python -m misinfo.batch, which takes larger files (--max-mb)."
    )


# ---------------------------------------------------------------------------- one text


@dataclass
class PreparedText:
    """A text ready for the detector, with everything the user should be told about it."""

    text: str
    original_chars: int
    truncated: bool = False
    warnings: list[str] = field(default_factory=list)
    error: str | None = None


def _strip_controls(text: str) -> tuple[str, int]:
    """Drop control characters (binary junk) except newlines and tabs; count what was dropped."""
    kept = []
    dropped = 0
    for ch in text:
        if ch in "\n\t\r" or unicodedata.category(ch)[0] != "C":
            kept.append(ch)
        else:
            dropped += 1
    return "".join(kept), dropped


def prepare_text(raw: str | None, max_chars: int) -> PreparedText:
    """Validate one pasted text: refuse empty or letter-less input, warn about junk or
    non-English text, and truncate beyond ``max_chars`` with a notice (never silently)."""
    original = raw or ""
    if not original.strip():
        return PreparedText(
            "", 0, error="The text is empty. Paste or type a text, or pick an example above."
        )
    cleaned, dropped = _strip_controls(original)
    replacement = cleaned.count("\ufffd")
    warnings: list[str] = []
    words = [w for w in _WORD_RE.findall(cleaned) if len(w) >= 2]
    junk = dropped + replacement
    if not words or junk / max(len(original), 1) > 0.15:
        return PreparedText(
            "",
            len(original),
            error=(
                "The text contains no readable words (only digits, symbols or binary data), so "
                "there is nothing for the models to read. Paste a sentence or more of prose."
            ),
        )
    if junk and junk / max(len(original), 1) > 0.05:
        warnings.append(
            f"{junk} control or unreadable characters were removed: this looks like binary "
            "or garbled data, so the result below says little."
        )
    letters = [ch for w in words for ch in w]
    latin = sum(ch.isascii() for ch in letters) / len(letters)
    english = sum(w.lower() in _ENGLISH_STOPWORDS for w in words) / len(words)
    if latin < 0.5 or (len(words) >= 6 and english < 0.05):
        warnings.append(
            "This does not look like English. The models were trained on English text only, "
            "so the label for this text is not meaningful."
        )
    text = tabular.clip_text(cleaned.strip(), max_chars)
    truncated = len(text) < len(cleaned.strip())
    if truncated:
        warnings.append(
            f"The text has {len(original):,} characters; only the first {len(text):,} were "
            f"analysed (the models read at most {max_chars:,})."
        )
    return PreparedText(text, len(original), truncated, warnings)


@dataclass
class TextAnalysis:
    """Everything the single-text page shows, computed in one place so it can be tested."""

    text: str
    label: str
    confidence: float
    p_fake: float
    members: pd.DataFrame  # member, p_fake
    contributions: list[tuple[str, float]]
    features: dict[str, float]
    warnings: list[str]
    seconds: float  # time to this first result (prediction, word explanation, features)
    token_attributions: list[tuple[str, float]] | None = None
    token_note: str | None = None  # why attributions are missing, when they are
    tokens_done: bool = False


def has_transformer(detector: Any) -> bool:
    """Whether a transformer member is loaded (only then are token attributions possible)."""
    kinds = getattr(getattr(detector, "manifest", None), "member_kinds", {}) or {}
    return any(kinds.get(name) == "transformer" for name in getattr(detector, "member_names", []))


def transformer_note(detector: Any, n_chars: int) -> str | None:
    """A notice when a loaded transformer sees only the start of an analysed text."""
    limit = int(getattr(detector, "max_chars", 0) or 0)
    if not has_transformer(detector) or not limit or n_chars <= limit:
        return None
    return (
        f"The transformer member reads only about the first {limit:,} characters (its token "
        f"limit); the TF-IDF and feature models read all {n_chars:,} analysed characters."
    )


def add_token_attributions(detector: Any, analysis: TextAnalysis) -> TextAnalysis:
    """Fill in the transformer's token attributions (a backward pass: the slow part, so the
    page shows the first result before calling this); failures become a note, once."""
    if analysis.tokens_done:
        return analysis
    try:
        raw = detector.token_attributions(analysis.text)
        if raw is not None:
            analysis.token_attributions = [(str(t), float(s)) for t, s in raw]
    except Exception as exc:
        analysis.token_note = (
            f"Transformer token attributions are unavailable ({type(exc).__name__})."
        )
    analysis.tokens_done = True
    return analysis


def analyse_text(detector: Any, prepared: PreparedText, top_k: int = 15) -> TextAnalysis:
    """The first result for one text: prediction, word explanation and features. Explanation
    failures become warnings (a missing "why" should not hide the answer); the transformer's
    token attributions come later, from ``add_token_attributions``."""
    start = time.perf_counter()
    row = detector.predict([prepared.text]).iloc[0]
    members = pd.DataFrame(
        [
            {"member": str(col)[len("p_fake_") :], "p_fake": float(row[col])}
            for col in row.index
            if str(col).startswith("p_fake_")
        ],
        columns=["member", "p_fake"],
    )
    warnings = list(prepared.warnings)
    contributions: list[tuple[str, float]] = []
    try:
        contributions = [
            (str(w), float(c)) for w, c in detector.explain(prepared.text, top_k=top_k)
        ]
    except Exception as exc:  # explanation is optional, the answer is not
        warnings.append(f"The word-level explanation is unavailable ({type(exc).__name__}).")
    features: dict[str, float] = {}
    try:
        from misinfo.features import text_features

        features = {k: float(v) for k, v in text_features([prepared.text]).iloc[0].items()}
    except Exception as exc:
        warnings.append(f"Text features are unavailable ({type(exc).__name__}).")
    return TextAnalysis(
        text=prepared.text,
        label=str(row["label"]),
        confidence=float(row["confidence"]),
        p_fake=float(row["p_fake"]),
        members=members,
        contributions=contributions,
        features=features,
        warnings=warnings,
        seconds=time.perf_counter() - start,
    )


def load_examples(path: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """(title, text) pairs from the bundled examples.json; a broken file gives no examples."""
    try:
        raw = json.loads(open(path, encoding="utf-8").read())  # noqa: SIM115
        return [(str(e["title"]), str(e["text"])) for e in raw["examples"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []


# ---------------------------------------------------------------------------- a CSV file


@dataclass
class BatchResult:
    """A scored upload, kept as the download itself: the bytes ``python -m misinfo.batch``
    writes for the same file. Why not a table: a 25 MB upload as a pandas frame took about
    three times its size; the CSV takes about 1.4 times, and the preview reads it back."""

    data: bytes
    columns: list[str]  # unique names for display: the inputs', then the outputs
    report: tabular.ScoreReport

    def column(self, name: str) -> str:
        """The name of an output column (``label``, ``error``...): prefixed."""
        return self.report.prefix + name

    def rows(self) -> Iterator[list[str]]:
        """The data rows of the download, as written."""
        reader = csv.reader(io.TextIOWrapper(io.BytesIO(self.data), "utf-8-sig", newline=""))
        next(reader, None)
        return reader


def run_batch(
    table: tabular.Table,
    text_column: str,
    detector: Any,
    progress: Callable[[float, str], object] | None = None,
    chunk_rows: int = tabular.CHUNK_ROWS,
) -> BatchResult:
    """Score every row of an upload into the download file, reporting progress."""
    column = tabular.choose_text_column(table, text_column)
    report = tabular.start_report(table, column, tabular.text_limit(detector))
    columns: list[str] = []

    def step(done: int, total: int) -> None:
        if progress is not None:
            progress(min(done / total, 0.99), f"Scored {done:,} of {total:,} rows…")

    def remember_columns(chunks: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for chunk in chunks:
            columns[:] = columns or [str(c) for c in chunk.columns]
            yield chunk

    chunks = tabular.score_chunks(table, report, detector, chunk_rows, step)
    # Written to a temporary file, then read back in one piece: a growing in-memory buffer
    # peaks at about twice the final size while it is resized.
    with tempfile.TemporaryFile() as spool:
        tabular.write_csv(spool, table.header, remember_columns(chunks))
        spool.seek(0)
        data = spool.read()
    if progress is not None:
        progress(1.0, f"Scored {report.rows:,} rows.")
    return BatchResult(data, columns, report)


def filter_results(
    result: BatchResult, label: str = "all", contains: str = "", limit: int = 1_000
) -> tuple[pd.DataFrame, int]:
    """The first ``limit`` rows of the download matching a label ("all", a label name, or
    "errors": rows kept without a prediction) and a substring, and how many match in all."""
    if label == "all" and not contains.strip():
        shown = list(itertools.islice(result.rows(), limit))
        return pd.DataFrame(shown, columns=result.columns), result.report.rows
    label_at = result.columns.index(result.column("label"))
    error_at = result.columns.index(result.column("error"))
    needle = contains.strip().lower()
    shown, count = [], 0
    for row in result.rows():
        if label == "errors" and not row[error_at]:
            continue
        if label not in ("all", "errors") and row[label_at] != label:
            continue
        if needle and not any(needle in cell.lower() for cell in row):
            continue
        count += 1
        if len(shown) < limit:
            shown.append(row)
    return pd.DataFrame(shown, columns=result.columns), count


def label_distribution(report: tabular.ScoreReport) -> pd.DataFrame:
    """Rows per label, with rows kept without a prediction counted as "not scored"."""
    counts = dict(sorted(report.label_counts.items()))
    if report.errors:
        counts["not scored"] = report.errors
    return pd.DataFrame({"label": list(counts), "rows": list(counts.values())})


# ---------------------------------------------------------------------------- tables


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


def model_set_label(name: str, folder: os.PathLike[str] | str) -> str:
    """``name: what it was trained on`` for the model-set picker, from the manifest's training
    data description (read as plain JSON only for the label; loading the set verifies it)."""
    try:
        with open(os.path.join(folder, "manifest.json"), encoding="utf-8") as handle:
            training = json.load(handle).get("training_data", {})
        description = str(training.get("description", "")).strip()
    except (OSError, ValueError, AttributeError):
        description = ""
    description = description if len(description) <= 90 else description[:89] + "…"
    return f"{name}: {description}" if description else name


CROSS_COLUMNS = {
    "n": "texts",
    "accuracy": "acc",
    "weighted_f1": "wF1",
    "roc_auc": "AUC",
    "ece": "ECE",
    "ood_flagged": "flagged OOD",
}


def cross_scores_frame(scores: Mapping[str, Mapping[str, float]]) -> pd.DataFrame | None:
    """A model set's measured scores per test dataset (rows), sidebar-sized; None if none."""
    if not scores:
        return None
    frame = pd.DataFrame.from_dict({k: dict(v) for k, v in scores.items()}, orient="index")
    keep = [c for c in CROSS_COLUMNS if c in frame.columns]
    frame = frame[keep].rename(columns=CROSS_COLUMNS)
    if "texts" in frame:
        frame["texts"] = frame["texts"].astype(int)
    frame.index.name = "tested on"
    return frame.round(3)


def mentions_synthetic(training_data: Mapping[str, object]) -> bool:
    """Whether the manifest says the models saw the synthetic corpus (so the UI can say so)."""
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
