"""Tables of texts in and out: the one reader and writer behind the app, the batch command
(``python -m misinfo.batch``) and the csv training loaders (``misinfo.data``).

Why one module: the app and the command line must do the same thing with the same bytes, and
training must read a file the way scoring does. Every rule below raises :class:`TabularError`
with a one-line, plain-text message that names the problem and what to do:

- size: a file over ``max_bytes`` is refused before anything is decoded;
- file type: known binary signatures (ZIP/xlsx, PDF, images, gzip, SQLite, old Office), NUL
  bytes, many control characters, mostly non-text bytes, or no line break at all;
- encoding: a byte-order mark decides (UTF-8, UTF-16, UTF-32); otherwise UTF-8 when the whole
  file decodes, else cp1252 (Excel on Windows), else latin-1;
- separator: whichever of ``, ; tab |`` splits the header into the most fields (comma on a tie,
  and for a one-column file);
- lines: parsed by Python's ``csv`` module, never by pandas, so the result does not depend on
  the pandas version. Every line must have as many fields as the header; a line with more or
  fewer, a quote that never closes, or text after a closing quote stops the read with the line
  number and "quote the text column". Nothing is skipped or guessed. An empty line inside the
  file (or, with several columns, a whitespace-only one) is a row of empty cells, kept and
  not scored; empty lines before the header or after the last row are not rows;
- text column: a name from ``TEXT_COLUMN_HINTS``, else the column that reads most like prose;
- scoring: chunk by chunk, every row kept in order; an empty text gets a reason instead of a
  prediction; a text over the limit is kept whole and scored on its first characters, with a
  note saying how many; outputs are added under a prefix that no input column starts with;
- writing: UTF-8 with a BOM (Excel keeps accents); input header and cells are written as read,
  except that a cell starting with ``= + - @``, tab or CR (a spreadsheet formula; plain
  numbers excepted) gets a leading ``'``, in the header as in the data.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

import pandas as pd

CHUNK_ROWS = 1_000
PREVIEW_ROWS = 200
MAX_SCORED_CHARS = 10_000
OUTPUT_PREFIX = "misinfo_"
SEPARATORS = (",", ";", "\t", "|")
SEPARATOR_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
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
EMPTY_TEXT_REASON = "empty text: nothing to score (row kept, no prediction)"
_NOTE = "note"  # output column saying how much of a long text was scored
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

_SNIFF_BYTES = 65_536
_DECODE_BLOCK = 1 << 20
_MAGIC = {
    b"PK\x03\x04": "a ZIP archive (an Excel .xlsx or Word .docx file is one)",
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"\xd0\xcf\x11\xe0": "an old Office file (.xls/.doc)",
    b"\x1f\x8b": "a gzip archive",
    b"SQLite format 3": "an SQLite database",
}
# UTF-32's little-endian mark starts with UTF-16's, so it is checked first.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_CONTROL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 12, 13))
_HIGH_BYTES = bytes(range(128, 256))
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_PROSE = re.compile(r"[^\W\d_]{2,}\s+[^\W\d_]{2,}")
_LETTER = re.compile(r"[^\W\d_]")


class TabularError(ValueError):
    """A problem with the user's table, in one line of plain text fit to show as is.

    ``line`` is the file line (the header is line 1) when the problem has one.
    """

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(" ".join(message.split()))
        self.line = line


class SupportsPredict(Protocol):
    """The part of ``misinfo.detector.Detector`` scoring needs."""

    def predict(self, texts: list[str]) -> pd.DataFrame: ...  # pragma: no cover


def shown(value: str, limit: int = 60) -> str:
    """User text quoted for a message: control characters as ``?``, long text cut with its
    length, so a file name or header can neither break the line nor flood the screen."""
    clean = "".join("?" if unicodedata.category(ch)[0] == "C" else ch for ch in value[:limit])
    more = f"… ({len(value):,} characters)" if len(value) > limit else ""
    return f"“{clean}{more}”"


def _listing(names: Sequence[str], most: int = 20) -> str:
    """Column names for a message: quoted, shortened, at most ``most`` of them."""
    more = f" and {len(names) - most:,} more" if len(names) > most else ""
    return ", ".join(shown(n, 40) for n in names[:most]) + more


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _mb(n_bytes: int) -> str:
    return f"{n_bytes / 1_000_000:.1f} MB"


# ---------------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Table:
    """A checked table: raw bytes plus what is needed to read them again, chunk by chunk.

    Keeps the bytes (not a decoded copy or a frame), so a large upload costs its size once.
    ``columns`` are unique display names: the header name, or ``name (column N)`` where the
    header repeats a name or leaves it empty; ``header`` is exactly what the file says.
    """

    name: str
    data: bytes
    encoding: str
    separator: str
    header: list[str]
    columns: list[str]
    n_rows: int
    preview: pd.DataFrame
    guessed_column: str | None

    def chunks(self, chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
        """Every data row in order, as frames of text cells (object dtype) with a RangeIndex
        that continues across chunks."""
        rows: list[list[str]] = []
        start = 0
        for _line, fields in _data_rows(self.data, self.encoding, self.separator, self.name):
            rows.append(fields)
            if len(rows) == chunk_rows:
                yield _frame(rows, self.columns, start)
                start += len(rows)
                rows = []
        if rows:
            yield _frame(rows, self.columns, start)

    def frame(self) -> pd.DataFrame:
        """All rows at once (for training files, which fit in memory)."""
        parts = list(self.chunks(50_000))
        return pd.concat(parts) if parts else _frame([], self.columns, 0)

    def describe(self) -> str:
        """One line on how the file was read, for the page and the command line."""
        return (
            f"{shown(self.name)}: {_count(self.n_rows, 'row')}, "
            f"{_count(len(self.columns), 'column')}, "
            f"read as {self.encoding}, {SEPARATOR_NAMES[self.separator]}-separated"
        )


def _frame(rows: list[list[str]], columns: list[str], start: int) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=columns, dtype=object)
    frame.index = pd.RangeIndex(start, start + len(rows))
    return frame


def read_table(
    source: str | os.PathLike[str] | bytes, max_bytes: int | None, name: str | None = None
) -> Table:
    """Check and open a CSV (a path, or the bytes of an upload with its ``name``).

    Reads the whole file once to validate every line, so a malformed line is reported before
    anything is scored or trained. ``max_bytes=None`` means no size limit.
    """
    if isinstance(source, bytes):
        data, label = source, name or "upload"
    else:
        path = Path(source)
        label = name or path.name
        if not path.is_file():
            raise TabularError(f"{shown(str(path), 200)}: no such file.")
        _check_size(label, path.stat().st_size, max_bytes)
        data = path.read_bytes()
    _check_size(label, len(data), max_bytes)
    encoding = detect_encoding(data, label)
    separator = _sniff_separator(data, encoding)
    header, rows, n_rows = _validate(data, encoding, separator, label)
    columns = _display_names(header)
    if n_rows == 0 and not any(h.strip() for h in header):
        raise TabularError(f"{shown(label)} is empty: there are no rows to analyse.")
    if n_rows == 0:
        raise TabularError(
            f"{shown(label)} has a header ({_listing(header, 5)}) "
            "but no data rows: add one text per line below the header."
        )
    preview = _frame(rows, columns, 0)
    if not any(_LETTER.search(str(v)) for c in columns for v in preview[c]):
        raise TabularError(
            f"{shown(label)} has no column with text in it "
            f"(columns: {_listing(columns, 10)}): the file needs one "
            "column of statements or articles to analyse."
        )
    return Table(
        name=label,
        data=data,
        encoding=encoding,
        separator=separator,
        header=header,
        columns=columns,
        n_rows=n_rows,
        preview=preview,
        guessed_column=guess_text_column(preview),
    )


def _check_size(name: str, size: int, max_bytes: int | None) -> None:
    if max_bytes is not None and size > max_bytes:
        raise TabularError(
            f"{shown(name)} is {_mb(size)}, over the {_mb(max_bytes)} limit: split it into "
            "smaller files, or score it with `python -m misinfo.batch --max-mb N`."
        )


def _decodes(data: bytes, encoding: str) -> bool:
    """Whether the whole file decodes, checked in blocks so no decoded copy is ever held."""
    decoder = codecs.getincrementaldecoder(encoding)()
    view = memoryview(data)
    try:
        for start in range(0, len(data), _DECODE_BLOCK):
            decoder.decode(view[start : start + _DECODE_BLOCK], final=False)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def detect_encoding(data: bytes, name: str = "the file") -> str:
    """The file's encoding, after refusing empty, binary and non-text files (see module doc)."""
    if not data or data.isspace() or data in {bom for bom, _ in _BOMS}:
        raise TabularError(f"{shown(name)} is empty: there are no rows to analyse.")
    for magic, what in _MAGIC.items():
        if data.startswith(magic):
            raise TabularError(
                f"{shown(name)} is {what}, not a CSV file: save or export it as “CSV UTF-8” "
                "(in Excel: File › Save As › CSV UTF-8) and try again."
            )
    if b"\n" not in data and b"\r" not in data:
        raise TabularError(
            f"{shown(name)} has no line break, so it is not a CSV file: a CSV needs a header "
            "line and at least one data line."
        )
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            if not _decodes(data, encoding):
                raise TabularError(
                    f"{shown(name)} starts with a {encoding.upper()} byte-order mark but is "
                    f"not valid {encoding.upper()}: save it again as “CSV UTF-8”."
                )
            return encoding
    head = data[:_SNIFF_BYTES]
    if b"\x00" in data:
        raise TabularError(
            f"{shown(name)} looks like a binary file, not a CSV (it contains NUL bytes; a "
            "UTF-16 file needs its byte-order mark): save it as “CSV UTF-8”."
        )
    if len(head) - len(head.translate(None, _CONTROL_BYTES)) > 0.05 * len(head):
        raise TabularError(
            f"{shown(name)} looks like a binary file, not a CSV (many control characters)."
        )
    if _decodes(data, "utf-8"):
        return "utf-8"
    if len(head) - len(head.translate(None, _HIGH_BYTES)) > 0.3 * len(head):
        raise TabularError(
            f"{shown(name)} does not look like text: most of its bytes are neither ASCII nor "
            "UTF-8. Save it as “CSV UTF-8” and try again."
        )
    return "cp1252" if _decodes(data, "cp1252") else "latin-1"


def _text(data: bytes, encoding: str) -> io.TextIOWrapper:
    """A decoding stream over the bytes (no decoded copy of the whole file)."""
    return io.TextIOWrapper(io.BytesIO(data), encoding=encoding, newline="")


def _sniff_separator(data: bytes, encoding: str) -> str:
    """The separator that splits the header into the most fields (comma on a tie)."""
    sample = _text(data, encoding).read(_SNIFF_BYTES)

    def fields(separator: str) -> int:
        return len(next(csv.reader(io.StringIO(sample, newline=""), delimiter=separator), []))

    return max(SEPARATORS, key=lambda s: (fields(s), -SEPARATORS.index(s)))


def _records(
    data: bytes, encoding: str, separator: str, name: str
) -> Iterator[tuple[int, list[str]]]:
    """(first line, fields) of every record, header included; quoting errors name the line."""
    csv.field_size_limit(max(csv.field_size_limit(), len(data) + 1))  # long cells stay whole
    reader = csv.reader(_text(data, encoding), delimiter=separator, strict=True)
    while True:
        line = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            problem = {
                "unexpected end of data": "opens a quote that is never closed",
                f"'{separator}' expected after '\"'": "has text after a closing quote",
            }.get(str(exc), f"cannot be read ({exc})")
            raise TabularError(
                f"{shown(name)}: line {line} {problem}. Put the text column in double quotes "
                'and double every quote inside it ("" for "), then try again.',
                line=line,
            ) from exc
        yield line, fields


def _header(records: Iterator[tuple[int, list[str]]]) -> list[str]:
    """The first non-empty record (empty lines before the header are not rows)."""
    return next((fields for _line, fields in records if fields), [])


def _data_rows(
    data: bytes, encoding: str, separator: str, name: str
) -> Iterator[tuple[int, list[str]]]:
    """Data rows after the header with blank lines made explicit (see module doc); field
    counts are checked by ``_validate``, which every Table has passed."""
    records = _records(data, encoding, separator, name)
    width = len(_header(records))
    blanks: list[int] = []
    for line, fields in records:
        if not fields or (width > 1 and len(fields) == 1 and not fields[0].strip()):
            blanks.append(line)  # rows only if a real row follows
            continue
        for blank in blanks:
            yield blank, [""] * width
        blanks = []
        yield line, fields


def _validate(
    data: bytes, encoding: str, separator: str, name: str
) -> tuple[list[str], list[list[str]], int]:
    """Read every line once: header, the first rows (for the preview) and the row count;
    any line whose field count differs from the header's stops the read."""
    header = _header(_records(data, encoding, separator, name))
    preview: list[list[str]] = []
    bad: list[tuple[int, int]] = []
    n_rows = 0
    for line, fields in _data_rows(data, encoding, separator, name):
        if len(fields) != len(header):
            bad.append((line, len(fields)))
            continue
        n_rows += 1
        if len(preview) < PREVIEW_ROWS:
            preview.append(fields)
    if bad:
        line, count = bad[0]
        more = (
            f" ({len(bad) - 1:,} more such lines, e.g. line {', '.join(str(b[0]) for b in bad[1:4])})"
            if len(bad) > 1
            else ""
        )
        sep = SEPARATOR_NAMES[separator]
        raise TabularError(
            f"{shown(name)}: line {line} has {_count(count, 'field')} but the header has "
            f"{len(header)} ({sep}-separated){more}. A {sep} inside a text splits it: put the "
            'text column in double quotes ("like, this") and try again.',
            line=line,
        )
    return header, preview, n_rows


def _display_names(header: list[str]) -> list[str]:
    """Unique, non-empty names for the page and the frames; the written header stays as read."""
    names = []
    for i, name in enumerate(header):
        unique = name.strip() and header.count(name) == 1
        names.append(name if unique else f"{name.strip() or 'unnamed'} (column {i + 1})")
    return names


def guess_text_column(frame: pd.DataFrame) -> str | None:
    """The column that holds the text: a hinted name (text, statement, ...), else the one
    whose filled cells mostly read like prose (two words in a row), longest on average."""
    names = {str(c).strip().lower(): str(c) for c in frame.columns}
    for hint in TEXT_COLUMN_HINTS:
        if hint in names:
            return names[hint]
    best, best_length = None, 0.0
    for column in frame.columns:
        filled = [str(v) for v in frame[column] if str(v).strip()]
        if not filled or sum(bool(_PROSE.search(v)) for v in filled) < 0.5 * len(filled):
            continue
        length = sum(map(len, filled)) / len(filled)
        if length > best_length:
            best, best_length = str(column), length
    return best


def find_column(table: Table, name: str) -> str:
    """The column called ``name`` (a header name, or a display name for a repeated one);
    else an error listing the columns."""
    if name in table.columns:
        return name
    matches = [c for c, h in zip(table.columns, table.header, strict=True) if h == name]
    if len(matches) > 1:
        raise TabularError(
            f"{len(matches)} columns of {shown(table.name)} are named {shown(name, 40)}: "
            f"use one of {_listing(matches)}, or rename them."
        )
    raise TabularError(
        f"{shown(table.name)} has no column named {shown(name, 40)} "
        f"(columns: {_listing(table.columns)})."
    )


def choose_text_column(table: Table, requested: str | None) -> str:
    """The requested column, or the guessed one; else an error listing the columns."""
    if requested is not None:
        return find_column(table, requested)
    if table.guessed_column is None:
        raise TabularError(
            f"could not tell which column of {shown(table.name)} holds the text "
            f"(columns: {_listing(table.columns)}): name it (--text-column on the command line)."
        )
    return table.guessed_column


# ---------------------------------------------------------------------------------- scoring


def clip_text(text: str, max_chars: int | None) -> str:
    """The start of ``text`` up to ``max_chars``, cut at a word boundary when one is near."""
    if not max_chars or len(text) <= max_chars:
        return text
    cut = text.rfind(" ", max(0, max_chars - 200), max_chars)
    return text[: cut if cut > 0 else max_chars]


def text_limit(detector: Any) -> int:
    """Characters scored per text: 10,000, or more if the models read more.

    The TF-IDF and feature models read everything; only the transformer stops earlier, at
    ``detector.max_chars`` (its token limit), which the app tells the user about.
    """
    return max(MAX_SCORED_CHARS, int(getattr(detector, "max_chars", 0) or 0))


def output_prefix(columns: Iterable[str]) -> str:
    """``misinfo_``, or ``misinfo2_``, ``misinfo3_``... : the first prefix no input column
    starts with (compared without case), so outputs never overwrite or shadow user columns."""
    lowered = [c.lower() for c in columns]
    prefix, n = OUTPUT_PREFIX, 1
    while any(c.startswith(prefix) for c in lowered):
        n += 1
        prefix = f"{OUTPUT_PREFIX.rstrip('_')}{n}_"
    return prefix


@dataclass
class ScoreReport:
    """What happened to a file, for the page and the command line."""

    name: str
    text_column: str
    prefix: str
    encoding: str
    separator: str
    rows: int = 0
    errors: int = 0  # rows kept without a prediction (empty text)
    clipped: int = 0  # rows scored on the start of a long text
    max_chars: int = 0
    label_counts: dict[str, int] = field(default_factory=dict)

    @property
    def scored(self) -> int:
        return self.rows - self.errors

    def summary(self) -> str:
        """One plain-text line: rows, scored, kept without a prediction, clipped, labels."""
        labels = ", ".join(f"{k} {v:,}" for k, v in sorted(self.label_counts.items()))
        clipped = (
            f"; {_count(self.clipped, 'long text')} scored on their first {self.max_chars:,} characters "
            f"(kept whole, see {self.prefix}note)"
            if self.clipped
            else ""
        )
        return (
            f"{shown(self.name)}: {self.scored:,} of {self.rows:,} rows scored, "
            f"{self.errors:,} kept without a prediction (reason in {self.prefix}error){clipped}; "
            f"text column {shown(self.text_column, 40)}; labels: {labels or 'none'}; "
            f"outputs in columns starting with {self.prefix}"
        )


def start_report(table: Table, text_column: str, max_chars: int) -> ScoreReport:
    """An empty report for scoring ``text_column`` of ``table``."""
    return ScoreReport(
        name=table.name,
        text_column=text_column,
        prefix=output_prefix([*table.header, *table.columns]),
        encoding=table.encoding,
        separator=table.separator,
        max_chars=max_chars,
    )


def score_chunks(
    table: Table,
    report: ScoreReport,
    detector: SupportsPredict,
    chunk_rows: int = CHUNK_ROWS,
    progress: Callable[[int, int], None] | None = None,
) -> Iterator[pd.DataFrame]:
    """Score every row, chunk by chunk: the input cells untouched, then the detector's outputs,
    a note and an error column, all under ``report.prefix``. Every chunk has the same columns
    (those of the first prediction), so chunks can be written as they come."""
    kinds: dict[str, bool] | None = None  # output column -> numeric?
    pending: list[tuple[pd.DataFrame, pd.DataFrame | None, list[str]]] = []
    for chunk in table.chunks(chunk_rows):
        texts = [str(t) for t in chunk[report.text_column]]
        keep = [i for i, t in enumerate(texts) if t.strip()]
        clipped = {i: clip_text(texts[i], report.max_chars) for i in keep}
        predictions = None
        if keep:
            predictions = detector.predict(list(clipped.values()))
            if getattr(detector, "has_domain_check", False):  # how unlike the training texts
                domain = detector.domain_check(list(clipped.values()))  # type: ignore[attr-defined]
                predictions[list(domain.columns)] = domain.astype({"out_of_domain": object}).values
            predictions.index = chunk.index[keep]
            predictions[_NOTE] = [
                f"scored the first {len(clipped[i]):,} of {len(texts[i]):,} characters"
                if len(clipped[i]) < len(texts[i])
                else ""
                for i in keep
            ]
            if kinds is None:
                kinds = {
                    str(c): pd.api.types.is_numeric_dtype(predictions[c])
                    for c in predictions.columns
                }
        pending.append((chunk, predictions, texts))
        if kinds is not None:
            yield from (_scored(*item, kinds, report) for item in pending)
            pending = []
        if progress is not None:
            progress(report.rows + sum(len(p[0]) for p in pending), table.n_rows)
    members = [f"p_fake_{m}" for m in getattr(detector, "member_names", [])]
    fallback = {"label": False, "confidence": True, "p_fake": True}
    fallback |= dict.fromkeys(members, True) | {_NOTE: False}
    if getattr(detector, "has_domain_check", False):
        fallback |= {"ood_score": True, "out_of_domain": False}
    yield from (_scored(*item, kinds or fallback, report) for item in pending)


def _scored(
    chunk: pd.DataFrame,
    predictions: pd.DataFrame | None,
    texts: list[str],
    kinds: dict[str, bool],
    report: ScoreReport,
) -> pd.DataFrame:
    """One chunk with its outputs appended under the prefix; updates the report. Unscored
    rows get NaN in numeric outputs and None (an empty cell) in the others."""
    outputs = {}
    for column, numeric in kinds.items():
        if predictions is None:
            values = pd.Series(float("nan") if numeric else None, index=chunk.index)
        else:
            values = predictions[column].reindex(chunk.index)
        if not numeric:
            values = values.astype(object).where(values.notna(), None)
        outputs[report.prefix + column] = values.astype(float if numeric else object)
    errors = ["" if t.strip() else EMPTY_TEXT_REASON for t in texts]
    outputs[report.prefix + "error"] = pd.Series(errors, index=chunk.index, dtype=object)
    report.rows += len(chunk)
    report.errors += sum(map(bool, errors))
    if predictions is not None:
        report.clipped += int((predictions[_NOTE] != "").sum())
        if "label" in predictions:
            for label, count in predictions["label"].astype(str).value_counts().items():
                report.label_counts[str(label)] = report.label_counts.get(str(label), 0) + int(
                    count
                )
    return pd.concat([chunk, pd.DataFrame(outputs, index=chunk.index)], axis=1)


# ---------------------------------------------------------------------------------- writing


def neutralise(value: str) -> str:
    """``'`` before a cell a spreadsheet would run as a formula (CSV injection); plain numbers
    such as ``-3.5`` are left alone, since a spreadsheet only shows them."""
    if value.startswith(FORMULA_START) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def _cell(value: Any) -> str:
    """Text of one output cell: strings neutralised, floats to 6 significant digits, missing
    values empty."""
    if value is None or value is pd.NA:
        return ""
    if isinstance(value, float):
        return "" if value != value else f"{value:.6g}"  # NaN is the only value != itself
    return neutralise(str(value))


def write_csv(handle: IO[bytes], header: Sequence[str], chunks: Iterable[pd.DataFrame]) -> None:
    """Write scored chunks: BOM, the input header as read (neutralised), the output names, rows.

    ``header`` is the table's header; the chunks' extra columns are the outputs.
    """
    text = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="", write_through=True)
    writer = csv.writer(text)  # CRLF: its \r makes the writer quote cells holding a lone \r
    first = True
    for chunk in chunks:
        if first:
            outputs = [str(c) for c in chunk.columns[len(header) :]]
            writer.writerow([neutralise(h) for h in header] + outputs)
            first = False
        writer.writerows(
            [_cell(v) for v in row] for row in chunk.itertuples(index=False, name=None)
        )
    text.flush()
    text.detach()  # leave the caller's handle open
