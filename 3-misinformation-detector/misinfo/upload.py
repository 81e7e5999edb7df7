"""What the app does with user input before and after the models: checks, batching, export.

Why a module and not app code: every bad-input case (empty text, binary junk, huge text,
empty or non-CSV files, odd encodings, empty rows, oversize files) becomes a plain message
here, so the Streamlit page only has to show it, and the rules are unit-tested without a UI.
Nothing in this module imports Streamlit.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import pandas as pd

DEFAULT_MAX_UPLOAD_MB = 25
MAX_UPLOAD_ENV = "MISINFO_MAX_UPLOAD_MB"
CHUNK_ROWS = 1_000
PREVIEW_ROWS = 5
EMPTY_TEXT_REASON = "empty text: nothing to analyse (row kept, no prediction)"

# A small set of very common English words: enough to tell English prose from other
# languages without a language-ID model (a warning only; the text is still analysed).
_ENGLISH_STOPWORDS = frozenset(
    [
        "the",
        "a",
        "an",
        "and",
        "or",
        "but",
        "of",
        "to",
        "in",
        "on",
        "at",
        "for",
        "with",
        "by",
        "from",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "he",
        "she",
        "they",
        "we",
        "you",
        "i",
        "his",
        "her",
        "their",
        "our",
        "your",
        "not",
        "no",
        "as",
        "if",
        "than",
        "then",
        "so",
        "has",
        "have",
        "had",
        "do",
        "does",
        "did",
        "will",
        "would",
        "can",
        "could",
        "should",
        "says",
        "said",
    ]
)
_WORD_RE = re.compile(r"[^\W\d_]+", re.UNICODE)


class InputProblem(Exception):
    """A user-facing problem with an input; the message is shown verbatim in the app."""


class SupportsPredict(Protocol):
    """The part of ``misinfo.detector.Detector`` the batch runner needs."""

    def predict(self, texts: list[str]) -> pd.DataFrame: ...  # pragma: no cover


def max_upload_mb() -> int:
    """Upload limit in MB (env MISINFO_MAX_UPLOAD_MB, default 50), never below 1."""
    raw = os.environ.get(MAX_UPLOAD_ENV, "")
    try:
        value = int(float(raw)) if raw.strip() else DEFAULT_MAX_UPLOAD_MB
    except ValueError:
        value = DEFAULT_MAX_UPLOAD_MB
    return max(1, value)


# Peak extra memory / file size, measured by benchmarks/bench_app.py on a 25 MB file: 5.7x
# for parsing, scoring, the result table and the download, +1x for the copy Streamlit holds.
PEAK_MEMORY_FACTOR = 7


def memory_bound_text(limit_mb: int, chunk_rows: int = CHUNK_ROWS) -> str:
    """The memory bound the app promises, stated in one place for the UI and README."""
    return (
        f"Files up to {limit_mb} MB. Rows are read and scored {chunk_rows:,} at a time; the "
        f"upload, the result table and the download stay in memory, at most about "
        f"{PEAK_MEMORY_FACTOR}× the file size ({PEAK_MEMORY_FACTOR * limit_mb} MB for a "
        f"{limit_mb} MB file) on top of the loaded models. Bigger files: use the command line."
    )


# ---------------------------------------------------------------------------- single text


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
    text = cleaned.strip()
    truncated = False
    if max_chars > 0 and len(text) > max_chars:
        cut = text.rfind(" ", max(0, max_chars - 200), max_chars)
        text = text[: cut if cut > 0 else max_chars]
        truncated = True
        warnings.append(
            f"The text has {len(original):,} characters; only the first {len(text):,} were "
            f"analysed (the models read at most {max_chars:,})."
        )
    return PreparedText(text, len(original), truncated, warnings)


# ---------------------------------------------------------------------------- files

_MAGIC = {
    b"PK\x03\x04": "a ZIP archive (an Excel .xlsx or .docx file is one)",
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"\xd0\xcf\x11\xe0": "an old Office file (.xls/.doc)",
    b"\x1f\x8b": "a gzip archive",
    b"SQLite format 3": "an SQLite database",
}
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


def _format_mb(n_bytes: int) -> str:
    return f"{n_bytes / 1_000_000:.1f} MB"


def check_file_bytes(name: str, data: bytes, max_bytes: int) -> None:
    """Refuse oversize, empty and obviously non-CSV files before parsing, with the reason."""
    if len(data) > max_bytes:
        raise InputProblem(
            f"“{name}” is {_format_mb(len(data))}; the limit here is {_format_mb(max_bytes)}. "
            "Split the file into smaller CSVs, or score it from the command line, which "
            "takes larger files (`--max-mb`): `python -m misinfo.batch --help`."
        )
    if not data.strip():
        raise InputProblem(f"“{name}” is empty: there are no rows to analyse.")
    for magic, what in _MAGIC.items():
        if data.startswith(magic):
            raise InputProblem(
                f"“{name}” is {what}, not a CSV file. Save or export it as “CSV (UTF-8)” "
                "(in Excel: File › Save As › CSV UTF-8) and upload that."
            )
    head = data[:65_536]
    if not head.startswith(_BOMS[1:]) and head.count(b"\x00") > 0:
        raise InputProblem(
            f"“{name}” looks like a binary file, not a CSV (it contains NUL bytes). "
            "Upload a comma-separated text file with a header row."
        )


def detect_encoding(data: bytes) -> str:
    """Encoding from a BOM, else the first of UTF-8, cp1252, latin-1 that decodes the file.

    Why here: a CSV saved by Excel on Windows is cp1252, from old tools latin-1, and the
    user should get their accents back, not a UnicodeDecodeError. latin-1 never fails, so
    every file gets an encoding; the page says which one was used.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    for encoding in ("utf-8", "cp1252"):
        try:
            data.decode(encoding)
        except UnicodeDecodeError:
            continue
        return encoding
    return "latin-1"


@dataclass
class UploadedTable:
    """A checked upload: enough to choose the column and run the batch.

    Keeps the raw bytes (not a decoded copy) so a large file costs its size once more,
    not two to four times as a Python string could.
    """

    name: str
    data: bytes
    encoding: str
    separator: str
    columns: list[str]
    guessed_column: str | None
    preview: pd.DataFrame
    n_rows_estimate: int


def sniff_separator(sample: str) -> str:
    """Comma unless the header clearly uses ; tab or | (Excel in many locales writes ;)."""
    try:
        return csv.Sniffer().sniff(sample[:20_000], delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def _read_csv(
    data: bytes, encoding: str, separator: str, **kwargs: Any
) -> pd.DataFrame | Iterator[pd.DataFrame]:
    """pandas.read_csv with the options this app relies on: every cell as text, no NaN
    guessing, and malformed lines as an error (reported) rather than silently dropped."""
    return pd.read_csv(
        io.BytesIO(data),
        encoding=encoding,
        encoding_errors="replace",
        dtype=str,
        keep_default_na=False,
        sep=separator,
        on_bad_lines="error",
        **kwargs,
    )


def guess_text_column(frame: pd.DataFrame) -> str | None:
    """The column that most looks like free text: a known name, else the longest mean length.

    Uses the model package's guess when it is installed, so the app and the command line
    agree; falls back to the same idea here.
    """
    try:
        from misinfo.batch import guess_text_column as package_guess

        guess = package_guess(frame)
        if guess in frame.columns:
            return str(guess)
    except Exception:  # any failure just means "no guess"
        pass
    names = {str(c).strip().lower(): str(c) for c in frame.columns}
    for preferred in ("text", "statement", "content", "body", "article", "claim", "title"):
        if preferred in names:
            return names[preferred]
    best, best_len = None, 0.0
    for column in frame.columns:
        values = frame[column].astype(str)
        if values.str.fullmatch(r"\s*[-+]?\d*[.,]?\d*\s*").mean() > 0.5:
            continue
        mean_len = float(values.str.len().mean() or 0.0)
        if mean_len > best_len and values.str.contains(r"[^\W\d_]{2,}\s", regex=True).mean() > 0.3:
            best, best_len = str(column), mean_len
    return best


def inspect_upload(name: str, data: bytes, max_bytes: int) -> UploadedTable:
    """Check, decode and peek at an uploaded CSV; every failure is an InputProblem."""
    check_file_bytes(name, data, max_bytes)
    encoding = detect_encoding(data)
    separator = sniff_separator(data[:40_000].decode(encoding, errors="replace"))
    try:
        head = _read_csv(data, encoding, separator, nrows=200)
    except pd.errors.EmptyDataError as exc:
        raise InputProblem(f"“{name}” is empty: there is no header row and no data.") from exc
    except (pd.errors.ParserError, csv.Error) as exc:
        raise InputProblem(
            f"“{name}” is not a readable CSV file ({exc}). Upload a comma-separated file "
            "with a header row."
        ) from exc
    assert isinstance(head, pd.DataFrame)
    head.columns = [str(c) for c in head.columns]
    if head.empty:
        raise InputProblem(
            f"“{name}” has a header ({', '.join(head.columns[:5])}) but no data rows."
        )
    guess = guess_text_column(head)
    textual = [c for c in head.columns if head[c].str.contains(r"[^\W\d_]", regex=True).any()]
    if not textual:
        raise InputProblem(
            f"“{name}” has no column with text in it (columns: {', '.join(head.columns[:10])}). "
            "The file needs one column of statements or articles to analyse."
        )
    return UploadedTable(
        name=name,
        data=data,
        encoding=encoding,
        separator=separator,
        columns=list(head.columns),
        guessed_column=guess,
        preview=head.head(PREVIEW_ROWS),
        n_rows_estimate=max(1, data.count(b"\n")),
    )


@dataclass
class BatchResult:
    """Scored rows (original columns plus predictions) and a summary for the page."""

    frame: pd.DataFrame
    n_rows: int
    n_errors: int
    text_column: str


def _empty_text(values: pd.Series) -> pd.Series:
    return values.fillna("").astype(str).str.strip().eq("")


def _reported_chunks(reader: Iterator[pd.DataFrame], name: str) -> Iterator[pd.DataFrame]:
    """Yield chunks, turning a malformed line deep in the file into a message with its place."""
    done = 0
    while True:
        try:
            chunk = next(reader)
        except StopIteration:
            return
        except (pd.errors.ParserError, csv.Error) as exc:
            raise InputProblem(
                f"“{name}” has a malformed line after row {done:,} ({exc}). "
                "Rows before it were scored but nothing is lost: fix the line (usually an "
                "unclosed quote or an extra separator) and upload again."
            ) from exc
        done += len(chunk)
        yield chunk


def run_batch(
    table: UploadedTable,
    text_column: str,
    detector: SupportsPredict,
    progress: Callable[[float, str], None] | None = None,
    chunk_rows: int = CHUNK_ROWS,
    max_chars: int | None = None,
) -> BatchResult:
    """Score every row chunk by chunk; rows with empty text stay, with the reason in ``error``."""
    if text_column not in table.columns:
        raise InputProblem(
            f"Column “{text_column}” is not in the file (columns: {', '.join(table.columns)})."
        )
    parts: list[pd.DataFrame] = []
    done = 0
    reader = _read_csv(table.data, table.encoding, table.separator, chunksize=chunk_rows)
    assert not isinstance(reader, pd.DataFrame)
    for chunk in _reported_chunks(reader, table.name):
        chunk.columns = [str(c) for c in chunk.columns]
        texts = chunk[text_column].fillna("").astype(str)
        empty = _empty_text(texts)
        scored = pd.DataFrame(index=chunk.index)
        if (~empty).any():
            to_score = texts[~empty].map(lambda t: t.strip()[:max_chars] if max_chars else t)
            preds = detector.predict(to_score.tolist())
            preds.index = to_score.index
            scored = preds.reindex(chunk.index)
        out = chunk.copy()
        for column in scored.columns:
            out[column if column not in out.columns else f"pred_{column}"] = scored[column]
        out["error"] = ""
        out.loc[empty, "error"] = EMPTY_TEXT_REASON
        parts.append(out)
        done += len(chunk)
        if progress is not None:
            fraction = min(done / table.n_rows_estimate, 0.99)
            progress(fraction, f"Scored {done:,} rows…")
    if not parts:
        raise InputProblem(f"“{table.name}” has no data rows.")
    frame = pd.concat(parts, ignore_index=True)
    if progress is not None:
        progress(1.0, f"Scored {len(frame):,} rows.")
    n_errors = int(frame["error"].ne("").sum())
    return BatchResult(frame, len(frame), n_errors, text_column)


# ---------------------------------------------------------------------------- results

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Prefix text cells starting with = + - @ (or tab/CR) with a quote, so a spreadsheet
    shows them as text instead of running them (CSV injection). Numbers are left alone."""
    try:
        from misinfo.batch import neutralise_spreadsheet_formulas

        return neutralise_spreadsheet_formulas(frame)
    except ImportError:
        pass
    out = frame.copy()
    for column in out.columns:
        if not pd.api.types.is_numeric_dtype(out[column]):
            out[column] = out[column].map(
                lambda v: "'" + v if isinstance(v, str) and v.startswith(_FORMULA_START) else v
            )
    return out


def results_csv_bytes(frame: pd.DataFrame, chunk_rows: int = 10 * CHUNK_ROWS) -> bytes:
    """The download: formula-neutralised CSV in UTF-8 with a BOM so Excel keeps accents.

    Written a slice at a time so the only full-size copy is the bytes themselves.
    """
    buffer = io.BytesIO()
    buffer.write(b"\xef\xbb\xbf")
    for start in range(0, max(len(frame), 1), chunk_rows):
        part = neutralise_formulas(frame.iloc[start : start + chunk_rows])
        buffer.write(part.to_csv(index=False, header=start == 0).encode("utf-8"))
    return buffer.getvalue()


def filter_results(frame: pd.DataFrame, label: str = "all", contains: str = "") -> pd.DataFrame:
    """Rows for the preview: by label ("all", a label name, or "errors") and by substring."""
    out = frame
    if label == "errors":
        out = out[out["error"].ne("")]
    elif label != "all" and "label" in out.columns:
        out = out[out["label"].astype(str).eq(label)]
    if contains.strip():
        needle = contains.strip().lower()
        mask = out.astype(str).apply(lambda col: col.str.lower().str.contains(needle, regex=False))
        out = out[mask.any(axis=1)]
    return out


def label_distribution(frame: pd.DataFrame) -> pd.DataFrame:
    """Counts per label, with unscored rows counted as "not scored"."""
    labels = frame.get("label", pd.Series(index=frame.index, dtype=object))
    labels = labels.where(frame["error"].eq(""), "not scored").fillna("not scored").astype(str)
    counts = labels.value_counts().rename_axis("label").reset_index(name="rows")
    return counts


def format_probability(p: Any) -> str:
    """ "0.87" for a probability, "n/a" when missing (e.g. an unscored row)."""
    try:
        value = float(p)
    except (TypeError, ValueError):
        return "n/a"
    return "n/a" if math.isnan(value) else f"{value:.2f}"


# ---------------------------------------------------------------------------- single analysis


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


APP_MAX_CHARS = 10_000


def text_limit(detector: Any) -> int:
    """Characters the app analyses per text: 10,000, or more if the models read more.

    The TF-IDF and feature models read everything; only the transformer stops at
    ``detector.max_chars`` (its token limit), which ``transformer_note`` tells the user.
    """
    return max(APP_MAX_CHARS, int(getattr(detector, "max_chars", 0) or 0))


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
    import time

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
    import json

    try:
        raw = json.loads(open(path, encoding="utf-8").read())  # noqa: SIM115
        return [(str(e["title"]), str(e["text"])) for e in raw["examples"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []
