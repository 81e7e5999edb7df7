"""The same files through the app (AppTest, the real upload widget and page) and through the
command line (``python -m misinfo.batch``'s ``main``): both must give the expected outcome
and agree, to the byte for a scored file and to the word for an error.

The cases are the hostile and careless inputs found by trying the app and the command line
(issue: "nothing lost, nothing injected"): data that used to be cut, dropped or overwritten,
Markdown and formulas in headers and file names, junk bytes. Both paths run with a 1 MB limit.
Run with ``-s`` to print the agreement table (case | app | command line).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from misinfo import batch, page, tabular

APP = Path(__file__).resolve().parents[2] / "3-misinformation-detector" / "app.py"
LIMIT_MB = 1

Rows = list[list[str]]


def parsed(data: bytes, encoding: str = "utf-8", delimiter: str = ",") -> Rows:
    """The cells a careful reader sees in ``data`` (to compare the output with)."""
    return list(csv.reader(io.StringIO(data.decode(encoding), newline=""), delimiter=delimiter))


def output_rows(written: bytes) -> Rows:
    return list(csv.reader(io.StringIO(written.decode("utf-8-sig"), newline="")))


def inputs_survive(source: Rows) -> Callable[[Rows], None]:
    """Check: every input row and column is in the output, as read, bar the formula prefix."""

    def check(out: Rows) -> None:
        width = len(source[0])
        expected = [[tabular.neutralise(c) for c in row] for row in source]
        assert [r[:width] for r in out] == expected
        assert all(len(r) > width for r in out)  # outputs follow the inputs

    return check


@dataclass
class Case:
    name: str
    file_name: str
    data: bytes
    expect: str  # "error: <words the message must hold>" or "scored"
    check: Callable[[Rows], None] | None = None


def _long_cell() -> bytes:
    return ("id,text\n1," + "word " * 30_000 + "\n2,a short text\n").encode()


def _clipped(out: Rows) -> None:
    note = out[0].index("misinfo_note")
    assert len(out[1][1]) == 150_000 and out[1][note].startswith("scored the first 9,999 of")


def _user_outputs_kept(out: Rows) -> None:
    assert out[0][:6] == ["text", "label", "error", "p_fake", "confidence", "misinfo_note"]
    assert out[0][6] == "misinfo2_label" and out[1][1:6] == ["mine", "e", "0.5", "c", "n"]


def _whitespace_row_kept(out: Rows) -> None:
    assert out[2][0] == "   " and out[2][-1] == tabular.EMPTY_TEXT_REASON


DEEP = "".join(f"row {i} has some words,{i}\n" for i in range(2_500))
LINK_HEADER = b"[Download the fixed file](http://127.0.0.1:9/phish),text\nx,some words here\n"
FORMULA_HEADER = (
    b'"=HYPERLINK(""http://127.0.0.1:9/x"",""y"")",+cmd|\' /C calc\'!A0,text\n1,2,words here\n'
)
SEMICOLON_CP1252 = "text;note\nLe café a été rénové;x\nÇa coûte cher, dit-il;=1+1\n".encode(
    "cp1252"
)
WHITESPACE = b"text\nfirst text here\n   \nlast text here\n"
USER_COLUMNS = b"text,label,error,p_fake,confidence,misinfo_note\nhello there,mine,e,0.5,c,n\n"

CASES = [
    Case("one-column CSV, unquoted comma in row 1", "comma.csv", b"text\nhello, world\nmore text\n", "error: line 2 has 2 fields"),
    Case("malformed line deep in the file", "deep.csv", ("text,id\n" + DEEP + "a,b,c\n" + DEEP).encode(), "error: line 2502 has 3 fields"),
    Case("quote never closed", "quote.csv", b'text,id\n"never closed,1\nnext,2\n', "error: line 2 opens a quote"),
    Case("whitespace-only row", "ws.csv", WHITESPACE, "scored", lambda out: (inputs_survive(parsed(WHITESPACE))(out), _whitespace_row_kept(out))),
    Case("user columns named label/error/p_fake/confidence", "cols.csv", USER_COLUMNS, "scored", lambda out: (inputs_survive(parsed(USER_COLUMNS))(out), _user_outputs_kept(out))),
    Case("cell over 131,072 characters", "long.csv", _long_cell(), "scored", _clipped),
    Case("UTF-16 with BOM", "utf16.csv", "text,n\nLe café a été rénové,1\n".encode("utf-16"), "scored", inputs_survive([["text", "n"], ["Le café a été rénové", "1"]])),
    Case("cp1252, semicolon-separated", "excel.csv", SEMICOLON_CP1252, "scored", inputs_survive(parsed(SEMICOLON_CP1252, "cp1252", ";"))),
    Case("header only", "header.csv", b"statement,id\n", "error: but no data rows"),
    Case("4 KB of one non-ASCII byte", "junk.csv", b"\xe9" * 4096, "error: has no line break"),
    Case("zip/xlsx", "book.csv", b"PK\x03\x04" + bytes(range(256)), "error: is a ZIP archive"),
    Case("numbers only", "numbers.csv", b"id,score\n1,2.5\n2,3.5\n", "error: no column with text"),
    Case("over the size limit", "big.csv", b"text\n" + b"some words in a row\n" * 60_000, "error: over the 1.0 MB limit"),
    Case("Markdown image header (header only)", "img.csv", b"![x](http://127.0.0.1:9/pixel.png)\n", "error: “![x](http://127.0.0.1:9/pixel.png)”"),
    Case("Markdown link header", "link.csv", LINK_HEADER, "scored", inputs_survive(parsed(LINK_HEADER))),
    Case("Markdown in the file name", "![x](y) *z*.csv", b"statement\n", "error: “![x](y) *z*.csv” has a header"),
    Case("formula header cells", "formula.csv", FORMULA_HEADER, "scored", inputs_survive(parsed(FORMULA_HEADER))),
]  # fmt: skip


def app_outcome(at: AppTest, case: Case) -> tuple[str, str | bytes]:
    """Upload through the page, score when it offers to; the first error shown, or the bytes
    of the download. Errors are returned as the Markdown the page sends (escaped)."""
    at.file_uploader(key="csv").set_value((case.file_name, case.data, "text/csv"))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    if at.error:
        return "error", str(at.error[0].value)
    at.button(key="run_batch").click()
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    return "scored", at.session_state["batch"]["result"].data


def cli_outcome(
    folder: Path, models: Path, case: Case, capsys: pytest.CaptureFixture[str]
) -> tuple[str, str | bytes]:
    source, target = folder / case.file_name, folder / "out.csv"
    source.write_bytes(case.data)
    argv = [str(source), str(target), "--models", str(models), "--max-mb", str(LIMIT_MB)]
    capsys.readouterr()  # only what the command itself writes
    code = batch.main([*argv, "--no-progress"])
    err = capsys.readouterr().err
    if code == 2:
        assert err.startswith("error: ") and err.count("\n") == 1 and not target.exists()
        return "error", err.removeprefix("error: ").rstrip("\n")
    assert code == 0, err
    return "scored", target.read_bytes()


def _short(outcome: tuple[str, str | bytes]) -> str:
    kind, value = outcome
    if kind == "scored":
        rows = output_rows(value)  # type: ignore[arg-type]
        return f"scored: {len(rows) - 1} rows, {len(rows[0])} columns"
    text = str(value).replace(page.WORD_JOINER, "")
    return "error: " + re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_app_and_command_line_agree(
    case: Case,
    quick_models: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MISINFO_MODELS_DIR", str(quick_models))
    monkeypatch.setenv(page.MAX_UPLOAD_ENV, str(LIMIT_MB))
    at = AppTest.from_file(str(APP), default_timeout=90)
    at.run()
    app = app_outcome(at, case)
    cli = cli_outcome(tmp_path, quick_models, case, capsys)
    with capsys.disabled():
        print(f"\n| {case.name} | {_short(app)} | {_short(cli)} |")
    kind, _, words = case.expect.partition(": ")
    assert app[0] == cli[0] == kind
    if kind == "error":
        message = str(cli[1])
        assert words in message and len(message) < 400
        assert app[1] == page.plain(message)  # the same words, shown as plain text
    else:
        assert app[1] == cli[1]  # the same file, to the byte
        assert case.check is not None
        case.check(output_rows(cli[1]))  # type: ignore[arg-type]
