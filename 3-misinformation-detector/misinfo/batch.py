"""Batch inference: CSV in (choose the text column) -> CSV out with label, calibrated
confidence and per-model probabilities, streamed in chunks with a progress bar.

Nothing is dropped silently: rows with empty text are kept with an ``error`` explaining why,
malformed lines are counted and reported, and cells that a spreadsheet would run as a formula
are neutralised. Also a command line::

    python -m misinfo.batch in.csv out.csv --text-column statement [--models DIR] [--quantize-int8]
"""

from __future__ import annotations

import argparse
import codecs
import csv
import io
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

DEFAULT_CHUNKSIZE = 1000
DEFAULT_MAX_BYTES = 200 * 1024 * 1024
SNIFF_BYTES = 1 << 20
ENCODINGS = ("utf-8-sig", "utf-8", "cp1252", "latin-1")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
TEXT_COLUMN_HINTS = (
    "text",
    "statement",
    "content",
    "body",
    "article",
    "claim",
    "message",
    "tweet",
    "title",
    "headline",
)
_BINARY_MAGIC = {
    b"PK\x03\x04": "a ZIP/XLSX/DOCX archive",
    b"%PDF": "a PDF",
    b"\xd0\xcf\x11\xe0": "an old Excel/Word file",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"\x1f\x8b": "a gzip archive",
}

Source = str | os.PathLike[str] | IO[bytes] | IO[str]


class InputError(ValueError):
    """A problem with the user's file, worded to be shown to them as is."""


@dataclass
class CsvChunks:
    """An opened CSV: its encoding, columns and chosen text column; iterate for chunks."""

    encoding: str
    columns: list[str]
    text_column: str | None
    size_bytes: int
    chunksize: int
    bad_lines: list[int] = field(default_factory=list)  # field counts of malformed lines skipped
    _raw: bytes = b""

    def __iter__(self) -> Iterator[pd.DataFrame]:
        self.bad_lines.clear()

        def on_bad(fields: list[str]) -> None:
            """Count a malformed line (wrong number of fields); the report says how many."""
            self.bad_lines.append(len(fields))

        reader = pd.read_csv(
            io.BytesIO(self._raw),
            encoding=self.encoding,
            dtype=str,
            keep_default_na=False,
            chunksize=self.chunksize,
            engine="python",
            index_col=False,
            on_bad_lines=on_bad,
            sep=self._sniff_sep(),
        )
        try:
            yield from reader
        except (pd.errors.ParserError, csv.Error) as exc:
            raise InputError(f"the file stopped parsing as CSV part-way through: {exc}") from exc

    def _sniff_sep(self) -> str:
        sample = self._raw[:SNIFF_BYTES].decode(self.encoding, errors="replace")
        try:
            return (
                csv.Sniffer().sniff(sample.split("\n", 50)[0] + "\n", delimiters=",;\t|").delimiter
            )
        except csv.Error:
            return ","


def _read_bytes(source: Source, max_bytes: int) -> bytes:
    """Whole file as bytes (bounded by max_bytes), from a path or a file-like object."""
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if not path.is_file():
            raise InputError(f"no such file: {path}")
        size = path.stat().st_size
        if size > max_bytes:
            raise InputError(
                f"the file is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB limit; split it or raise the limit"
            )
        return path.read_bytes()
    data = source.read(max_bytes + 1)
    if isinstance(data, str):
        data = data.encode("utf-8")
    if len(data) > max_bytes:
        raise InputError(
            f"the file is over the {max_bytes / 1e6:.0f} MB limit; split it or raise the limit"
        )
    return data


def detect_encoding(raw: bytes) -> str:
    """utf-8 (with or without BOM) if it decodes, else cp1252, else latin-1 (which never fails)."""
    if raw.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    for enc in ("utf-8", "cp1252"):
        try:
            raw.decode(enc)
            return enc
        except UnicodeDecodeError:
            continue
    return "latin-1"


def _looks_binary(raw: bytes) -> str | None:
    for magic, what in _BINARY_MAGIC.items():
        if raw.startswith(magic):
            return what
    head = raw[:8192]
    if b"\x00" in head:
        return "a binary file (it contains NUL bytes)"
    control = sum(1 for b in head if b < 32 and b not in (9, 10, 13))
    if head and control / len(head) > 0.05:
        return "a binary file (many control characters)"
    return None


def guess_text_column(df: pd.DataFrame) -> str | None:
    """The obvious text column: a name like text/statement/content, else the string column
    with the longest average length if it looks like prose (mean > 20 characters)."""
    lowered = {str(c).strip().lower(): c for c in df.columns}
    for hint in TEXT_COLUMN_HINTS:
        if hint in lowered:
            return str(lowered[hint])
    best, best_len = None, 0.0
    for col in df.columns:
        values = df[col].astype(str)
        mean_len = float(values.str.len().mean()) if len(values) else 0.0
        has_spaces = float(values.str.contains(" ").mean()) if len(values) else 0.0
        if mean_len > best_len and has_spaces > 0.5:
            best, best_len = str(col), mean_len
    return best if best_len > 20 else None


def read_csv_chunks(
    source: Source,
    text_column: str | None = None,
    chunksize: int = DEFAULT_CHUNKSIZE,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> CsvChunks:
    """Open a CSV (path or file-like) for chunked reading. Raises InputError for an empty file,
    a binary / non-CSV file, a file over ``max_bytes`` or a missing text column (listing the
    columns). The text column is guessed when not given; ``.encoding`` says what was used."""
    raw = _read_bytes(source, max_bytes)
    if not raw.strip():
        raise InputError("the file is empty: there are no rows to analyse")
    binary = _looks_binary(raw)
    if binary:
        raise InputError(
            f"this is not a CSV file: it looks like {binary}. Save it as CSV (UTF-8) and try again"
        )
    encoding = detect_encoding(raw)
    chunks = CsvChunks(
        encoding=encoding,
        columns=[],
        text_column=None,
        size_bytes=len(raw),
        chunksize=chunksize,
        _raw=raw,
    )
    try:
        head = pd.read_csv(
            io.BytesIO(raw),
            encoding=encoding,
            dtype=str,
            keep_default_na=False,
            nrows=200,
            sep=chunks._sniff_sep(),
            engine="python",
            index_col=False,
            on_bad_lines="skip",
        )
    except pd.errors.EmptyDataError as exc:
        raise InputError("the file has no columns: it is empty or not a CSV") from exc
    except (pd.errors.ParserError, csv.Error, UnicodeDecodeError) as exc:
        raise InputError(f"this file could not be read as CSV: {exc}") from exc
    chunks.columns = [str(c) for c in head.columns]
    if text_column is None:
        text_column = guess_text_column(head)
        if text_column is None:
            raise InputError(
                f"could not tell which column holds the text; choose one of {chunks.columns}"
            )
    elif text_column not in chunks.columns:
        raise InputError(f"no column named {text_column!r}; the columns are {chunks.columns}")
    chunks.text_column = text_column
    return chunks


def neutralise_spreadsheet_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """Prefix text cells starting with = + - @ (or tab/CR) with a single quote so a spreadsheet
    shows them instead of running them (CSV injection). Numbers are left alone."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(
                lambda v: "'" + v if isinstance(v, str) and v.startswith(FORMULA_PREFIXES) else v
            )
    return out


@dataclass
class BatchReport:
    """What happened to a file: counts the user should see."""

    rows: int = 0
    scored: int = 0
    errors: int = 0
    bad_lines: int = 0
    encoding: str = ""
    text_column: str = ""
    label_counts: dict[str, int] = field(default_factory=dict)


def score_frame(df: pd.DataFrame, text_column: str, detector: Any) -> pd.DataFrame:
    """Predict one chunk; empty texts get an ``error`` instead of a prediction (kept, not dropped)."""
    texts = df[text_column].astype(str)
    ok = texts.str.strip() != ""
    out = df.copy()
    member_cols = [f"p_fake_{m}" for m in detector.member_names]
    for col in ["label", "confidence", "p_fake", *member_cols]:
        out[col] = np.nan if col != "label" else ""
    out["error"] = ""
    out.loc[~ok, "error"] = "empty text: nothing to classify"
    if ok.any():
        pred = detector.predict(texts[ok].tolist())
        pred.index = out.index[ok.to_numpy()]
        for col in pred.columns:
            out.loc[ok, col] = pred[col]
    return out


def predict_csv(
    source: Source,
    out_path: str | os.PathLike[str] | IO[str],
    detector: Any,
    text_column: str | None = None,
    chunksize: int = DEFAULT_CHUNKSIZE,
    progress: bool = True,
    max_bytes: int = DEFAULT_MAX_BYTES,
    on_chunk: Callable[[int], None] | None = None,
) -> BatchReport:
    """Stream ``source`` through the detector in chunks and write the original columns plus
    label, confidence, p_fake, p_fake_<member> and error; formulas are neutralised. Returns
    a report (rows, scored, errors, malformed lines skipped, encoding, label counts)."""
    from tqdm.auto import tqdm

    chunks = read_csv_chunks(
        source, text_column=text_column, chunksize=chunksize, max_bytes=max_bytes
    )
    report = BatchReport(encoding=chunks.encoding, text_column=str(chunks.text_column))
    own = isinstance(out_path, str | os.PathLike)
    handle = open(out_path, "w", newline="", encoding="utf-8") if own else out_path  # noqa: SIM115
    try:
        bar = tqdm(desc="scoring", unit="rows", disable=not progress)
        first = True
        for chunk in chunks:
            scored = neutralise_spreadsheet_formulas(
                score_frame(chunk, str(chunks.text_column), detector)
            )
            scored.to_csv(handle, index=False, header=first)
            first = False
            report.rows += len(scored)
            report.errors += int((scored["error"] != "").sum())
            for label, count in scored.loc[scored["error"] == "", "label"].value_counts().items():
                report.label_counts[str(label)] = report.label_counts.get(str(label), 0) + int(
                    count
                )
            bar.update(len(scored))
            if on_chunk is not None:
                on_chunk(report.rows)
        bar.close()
        if first:  # header only, no rows
            cols = (
                chunks.columns
                + ["label", "confidence", "p_fake"]
                + [f"p_fake_{m}" for m in detector.member_names]
                + ["error"]
            )
            pd.DataFrame(columns=cols).to_csv(handle, index=False)
    finally:
        if own:
            handle.close()
    report.scored = report.rows - report.errors
    report.bad_lines = len(chunks.bad_lines)
    return report


def main(argv: list[str] | None = None) -> int:
    """Command line: exit code 2 with a clear message for bad input."""
    parser = argparse.ArgumentParser(
        prog="python -m misinfo.batch", description="Score a CSV of texts."
    )
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument(
        "--text-column", default=None, help="column with the text (guessed when omitted)"
    )
    parser.add_argument(
        "--models", default=os.environ.get("MISINFO_MODELS_DIR", "models"), help="artifacts folder"
    )
    parser.add_argument("--members", default=None, help="comma-separated subset of members")
    parser.add_argument("--chunksize", type=int, default=DEFAULT_CHUNKSIZE)
    parser.add_argument("--max-mb", type=float, default=DEFAULT_MAX_BYTES / 1024 / 1024)
    parser.add_argument(
        "--quantize-int8", action="store_true", help="dynamic int8 for transformer members (CPU)"
    )
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    from misinfo.artifacts import ArtifactError
    from misinfo.detector import load_detector

    try:
        detector = load_detector(
            args.models,
            members=args.members.split(",") if args.members else None,
            quantize_int8=args.quantize_int8,
        )
        report = predict_csv(
            args.input,
            args.output,
            detector,
            text_column=args.text_column,
            chunksize=args.chunksize,
            progress=not args.no_progress,
            max_bytes=int(args.max_mb * 1024 * 1024),
        )
    except (InputError, ArtifactError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"wrote {args.output}: {report.rows} rows ({report.scored} scored, {report.errors} with errors kept and "
        f"explained, {report.bad_lines} malformed lines skipped); encoding {report.encoding}; "
        f"text column {report.text_column!r}; labels {report.label_counts}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
