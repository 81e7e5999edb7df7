"""misinfo.tabular: every reading rule, scoring that keeps every row, and the writer.

The same rules reach the app and the batch command; test_mis_tabular_agreement.py feeds the
same files to both. Here each rule is checked on the function that implements it.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from misinfo import tabular
from misinfo.tabular import TabularError

BIG = 10_000_000


def read(data: bytes, name: str = "f.csv") -> tabular.Table:
    return tabular.read_table(data, BIG, name=name)


def score(
    table: tabular.Table, detector: Any, column: str | None = None, chunk_rows: int = 3
) -> bytes:
    """Score like the batch command does and return the written file."""
    report = tabular.start_report(
        table, tabular.choose_text_column(table, column), tabular.text_limit(detector)
    )
    buffer = io.BytesIO()
    tabular.write_csv(
        buffer, table.header, tabular.score_chunks(table, report, detector, chunk_rows)
    )
    return buffer.getvalue()


def rows_of(written: bytes) -> list[list[str]]:
    assert written.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(written.decode("utf-8-sig"), newline="")))


# ---------------------------------------------------------------------------- file type, size


@pytest.mark.parametrize("data", [b"", b"  \n\n \t", b"\xef\xbb\xbf", b"\xff\xfe"])
def test_empty_files_are_refused(data: bytes) -> None:
    with pytest.raises(TabularError, match="is empty"):
        read(data)


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 50, "ZIP archive"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "PDF"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "PNG"),
        (b"\x1f\x8b\x08\x00" + b"\x00" * 20, "gzip"),
        (b"SQLite format 3\x00" + b"\x00" * 20, "SQLite"),
        (b"text\nhello\x00there\n", "NUL bytes"),
        (b"text\n" + bytes(range(1, 9)) * 20 + b"\n", "control characters"),
    ],
)
def test_binary_files_are_named_and_refused(data: bytes, what: str) -> None:
    with pytest.raises(TabularError, match=what):
        read(data)


def test_utf16_without_its_byte_order_mark_is_refused_with_the_fix() -> None:
    with pytest.raises(TabularError, match="byte-order mark"):
        read("text\nhello there\n".encode("utf-16-le"))


@pytest.mark.parametrize(
    "data",
    [b"\xe9" * 4096, (b"\xe9" * 4000 + b"\n") * 3, b"A" * 5000],
    ids=["one-byte-no-newline", "high-bytes", "one-ascii-line"],
)
def test_junk_is_refused_without_echoing_it(data: bytes) -> None:
    with pytest.raises(TabularError) as info:
        read(data)
    assert len(str(info.value)) < 300


def test_a_4000_character_header_is_shortened_in_the_message() -> None:
    with pytest.raises(TabularError, match="no data rows") as info:
        read(b"x" * 4000 + b"\n")
    assert len(str(info.value)) < 300 and "4,000 characters" in str(info.value)


def test_size_limit_is_checked_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_bytes(b"text\n" + b"some words here\n" * 1000)
    with pytest.raises(TabularError, match=r"is 0\.0 MB, over the 0\.0 MB limit.*--max-mb"):
        tabular.read_table(path, max_bytes=100)
    with pytest.raises(TabularError, match="over the"):
        tabular.read_table(path.read_bytes(), max_bytes=100, name="big.csv")
    with pytest.raises(TabularError, match="no such file"):
        tabular.read_table(tmp_path / "missing.csv", max_bytes=None)


# ---------------------------------------------------------------------------- encodings, separators


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [
        ("utf-8", "utf-8"),
        ("utf-8-sig", "utf-8-sig"),
        ("cp1252", "cp1252"),
        ("utf-16", "utf-16"),
        ("utf-16-be", "utf-16"),
        ("utf-32", "utf-32"),
    ],
)
def test_encodings_keep_their_accents(encoding: str, expected: str) -> None:
    text = "statement,id\nLe café de la mairie a été rénové “vite”,1\n"
    data = text.encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data
    table = read(data)
    assert table.encoding == expected
    assert table.preview.loc[0, "statement"] == "Le café de la mairie a été rénové “vite”"


def test_latin1_is_the_last_resort() -> None:
    table = read(b"text\n\x81\x8d odd bytes, and words\n".replace(b",", b""))
    assert table.encoding == "latin-1"


@pytest.mark.parametrize("sep", [",", ";", "\t", "|"])
def test_separator_is_the_one_that_splits_the_header(sep: str) -> None:
    frame = pd.DataFrame({"text": ["a statement, with; a comma|pipe"] * 3, "tag": ["x"] * 3})
    table = read(frame.to_csv(index=False, sep=sep).encode())
    assert table.separator == sep and table.columns == ["text", "tag"]
    assert table.preview.loc[0, "text"] == "a statement, with; a comma|pipe"


def test_one_column_file_keeps_semicolons_in_its_text() -> None:
    table = read(b"text\nfirst; second\nplain words\n")
    assert table.columns == ["text"] and table.preview["text"].tolist()[0] == "first; second"


# ---------------------------------------------------------------------------- malformed lines


@pytest.mark.parametrize(
    ("data", "line", "what"),
    [
        (b"text\nhello, world\nfine\n", 2, "has 2 fields but the header has 1"),
        (b"a,text\n1,fine\n2\n", 3, "has 1 field but the header has 2"),
        (b'text,n\n"never closed,1\nnext,2\n', 2, "opens a quote that is never closed"),
        (b'text,n\n"closed" then more,1\n', 2, "has text after a closing quote"),
        (b'text,n\n"two\nlines",1\nok,2\nbad,3,4\n', 5, "has 3 fields"),
    ],
    ids=["unquoted-comma", "missing-field", "unclosed-quote", "after-quote", "after-multiline"],
)
def test_malformed_lines_stop_the_read_naming_the_line(data: bytes, line: int, what: str) -> None:
    with pytest.raises(TabularError, match=what) as info:
        read(data)
    assert info.value.line == line and f"line {line} " in str(info.value)
    assert "quote" in str(info.value)


def test_malformed_lines_deep_in_the_file_are_found_before_scoring() -> None:
    good = "".join(f"row {i} has some words,{i}\n" for i in range(2_500))
    data = ("text,id\n" + good + "broken,line,here\n" + good + "again,x,y\n").encode()
    with pytest.raises(TabularError, match=r"line 2502 .*1 more such lines, e\.g\. line 5003"):
        read(data)


def test_quotes_inside_unquoted_cells_are_text() -> None:
    table = read(b'text,n\nSays the "Annies List group,1\n')
    assert table.preview.loc[0, "text"] == 'Says the "Annies List group'


# ---------------------------------------------------------------------------- rows, header


def test_blank_lines_inside_are_rows_and_trailing_ones_are_not(stub_detector: Any) -> None:
    data = b"\n\nid,text\n1,some words here\n\n2,more words\n   \n3,last words\n\n\n"
    table = read(data)
    assert table.n_rows == 5
    out = rows_of(score(table, stub_detector))
    assert [r[:2] for r in out[1:]] == [
        ["1", "some words here"],
        ["", ""],
        ["2", "more words"],
        ["", ""],
        ["3", "last words"],
    ]


def test_one_column_blank_and_whitespace_rows_are_kept(stub_detector: Any) -> None:
    table = read(b"text\nfirst text\n\n   \nlast text\n")
    out = rows_of(score(table, stub_detector))
    assert [r[0] for r in out[1:]] == ["first text", "", "   ", "last text"]
    assert [r[-1] for r in out[1:]] == [
        "",
        tabular.EMPTY_TEXT_REASON,
        tabular.EMPTY_TEXT_REASON,
        "",
    ]


def test_header_only_file_is_an_error() -> None:
    with pytest.raises(TabularError, match=r"has a header .* but no data rows"):
        read(b"statement,id\n")


def test_repeated_and_empty_header_names_get_display_names_and_are_written_as_read(
    stub_detector: Any,
) -> None:
    table = read(b"text,text,\nhello there,other words,x\n")
    assert table.columns == ["text (column 1)", "text (column 2)", "unnamed (column 3)"]
    with pytest.raises(TabularError, match=r"2 columns .* are named “text”"):
        tabular.find_column(table, "text")
    assert tabular.find_column(table, "text (column 2)") == "text (column 2)"
    assert rows_of(score(table, stub_detector, "text (column 2)"))[0][:3] == ["text", "text", ""]


def test_file_without_any_text_column_is_refused() -> None:
    with pytest.raises(TabularError, match="no column with text"):
        read(b"id,score\n1,2.5\n2,3.5\n")


def test_text_column_is_guessed_from_names_then_content() -> None:
    assert read(b"id,Statement\n1,x\n").guessed_column == "Statement"
    prose = b"id,src,body_of_post\n1,web,they said the moon is cheese\n2,tv,taxes went up again\n"
    assert read(prose).guessed_column == "body_of_post"
    short = b"code,words\na1,short text\nb2,more words\n"
    assert read(short).guessed_column == "words"
    assert read(b"code,tag\na1,x\nb2,y\n").guessed_column is None


def test_unknown_or_unguessable_column_errors_list_the_columns() -> None:
    table = read(b"code,tag\na1,x\nb2,y\n")
    with pytest.raises(TabularError, match=r"could not tell .*“code”, “tag”.*--text-column"):
        tabular.choose_text_column(table, None)
    with pytest.raises(TabularError, match=r"no column named “text” \(columns: “code”, “tag”\)"):
        tabular.choose_text_column(table, "text")


# ---------------------------------------------------------------------------- scoring


def test_every_row_is_scored_in_order_across_chunks(stub_detector: Any) -> None:
    texts = ["short", "", "x" * 80, "   ", "a medium length text here"] * 5
    data = pd.DataFrame({"text": texts, "id": range(len(texts))}).to_csv(index=False).encode()
    table = read(data)
    report = tabular.start_report(table, "text", 10_000)
    seen: list[tuple[int, int]] = []
    chunks = list(
        tabular.score_chunks(table, report, stub_detector, 7, lambda d, t: seen.append((d, t)))
    )
    frame = pd.concat(chunks)
    assert list(frame["id"]) == [str(i) for i in range(len(texts))]
    assert list(frame.index) == list(range(len(texts)))
    empty = frame["text"].str.strip().eq("")
    assert (frame.loc[empty, "misinfo_error"] == tabular.EMPTY_TEXT_REASON).all()
    assert frame.loc[empty, "misinfo_p_fake"].isna().all()
    assert frame.loc[empty, "misinfo_label"].isna().all()
    expected = frame.loc[~empty, "text"].str.len().clip(upper=100) / 100
    assert frame.loc[~empty, "misinfo_p_fake"].tolist() == pytest.approx(expected.tolist())
    assert report.rows == 25 and report.errors == 10 and report.scored == 15
    assert seen[-1] == (25, 25) and len(seen) == 4


def test_columns_stay_the_same_when_the_first_chunks_have_no_text(stub_detector: Any) -> None:
    data = b"text,id\n" + b",1\n" * 5 + b"now some words,6\n"
    table = read(data)
    chunks = list(
        tabular.score_chunks(table, tabular.start_report(table, "text", 100), stub_detector, 2)
    )
    assert len({tuple(c.columns) for c in chunks}) == 1
    assert pd.concat(chunks)["misinfo_label"].tolist() == [None] * 5 + ["real"]


def test_a_file_with_no_text_at_all_still_gets_every_row(stub_detector: Any) -> None:
    table = read(b"id,text\nabc,\nxyz,  \n")
    out = rows_of(score(table, stub_detector, "text"))
    assert out[0] == [
        "id", "text", "misinfo_label", "misinfo_confidence", "misinfo_p_fake",
        "misinfo_p_fake_tfidf", "misinfo_note", "misinfo_error",
    ]  # fmt: skip
    assert len(out) == 3 and stub_detector.seen == []


class DomainStub:
    """A stand-in detector with an out-of-domain check: texts with "tweet" in them are unlike
    the training texts (score 0.9), the others like them (0.1)."""

    member_names: ClassVar[list[str]] = []
    max_chars = 200
    has_domain_check = True

    def predict(self, texts: list[str]) -> pd.DataFrame:
        return pd.DataFrame({"label": ["real"] * len(texts), "p_fake": [0.2] * len(texts)})

    def domain_check(self, texts: list[str]) -> pd.DataFrame:
        score = [0.9 if "tweet" in t else 0.1 for t in texts]
        return pd.DataFrame({"ood_score": score, "out_of_domain": [s > 0.5 for s in score]})


def test_the_out_of_domain_check_is_written_beside_each_scored_row() -> None:
    table = read(b"text,id\nan ordinary statement,1\n,2\nlol a tweet,3\n")
    out = pd.read_csv(io.BytesIO(score(table, DomainStub())), keep_default_na=False)
    assert out["misinfo_ood_score"].tolist() == ["0.1", "", "0.9"]
    assert out["misinfo_out_of_domain"].tolist() == ["False", "", "True"]
    assert out["id"].tolist() == [1, 2, 3]  # every row kept, the empty one without a score


def test_a_file_of_empty_texts_still_gets_the_out_of_domain_columns() -> None:
    out = rows_of(score(read(b"id,text\nabc,\n"), DomainStub(), "text"))
    assert "misinfo_ood_score" in out[0] and "misinfo_out_of_domain" in out[0]


def test_long_cells_are_kept_whole_and_scored_on_their_start(stub_detector: Any) -> None:
    long = "word " * 40_000  # 200,000 characters: over csv's default field limit
    data = pd.DataFrame({"text": [long, "short one"]}).to_csv(index=False).encode()
    table = read(data)
    out = rows_of(score(table, stub_detector))
    assert out[1][0] == long
    assert out[1][out[0].index("misinfo_note")] == "scored the first 9,999 of 200,000 characters"
    assert len(stub_detector.seen[0]) == 9_999 and stub_detector.seen[1] == "short one"


def test_outputs_take_a_prefix_no_input_column_uses(stub_detector: Any) -> None:
    assert tabular.output_prefix(["text", "label"]) == "misinfo_"
    assert tabular.output_prefix(["MISINFO_label"]) == "misinfo2_"
    assert tabular.output_prefix(["misinfo_x", "misinfo2_y"]) == "misinfo3_"
    data = b"text,label,error,p_fake,confidence,misinfo_label\nhello there,mine,e,0.5,c,m\n"
    out = rows_of(score(read(data), stub_detector))
    assert out[0][:6] == ["text", "label", "error", "p_fake", "confidence", "misinfo_label"]
    assert out[1][:6] == ["hello there", "mine", "e", "0.5", "c", "m"]
    assert out[0][6] == "misinfo2_label"


# ---------------------------------------------------------------------------- neutralisation, writing


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("-", "'-"),
        ("-3.5", "-3.5"),
        ("+1", "+1"),
        ("1e-5", "1e-5"),
        ("plain", "plain"),
    ],
)
def test_formulas_are_neutralised_and_numbers_left_alone(cell: str, written: str) -> None:
    assert tabular.neutralise(cell) == written


def test_header_cells_are_neutralised_like_data_cells(stub_detector: Any) -> None:
    data = b'"=HYPERLINK(""http://x"")",+cmd|\' /C calc\'!A0,text\n-1,=1+1,some words\n'
    out = rows_of(score(read(data), stub_detector))
    assert out[0][:3] == ['\'=HYPERLINK("http://x")', "'+cmd|' /C calc'!A0", "text"]
    assert out[1][:3] == ["-1", "'=1+1", "some words"]


def _cells(exclude: str = "") -> st.SearchStrategy[str]:
    """Cell text: any printable character, quotes, separators, line breaks and accents;
    no other control characters (the binary check would refuse them) and no BOM."""
    alphabet = st.characters(
        codec="utf-8", exclude_categories=("Cc", "Cs"), exclude_characters="\ufeff" + exclude
    )
    return st.text(st.one_of(alphabet, st.sampled_from(',"\n\r\t=+-@')), max_size=25)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    header=st.lists(_cells(exclude=";|"), min_size=1, max_size=4).filter(
        lambda h: "\t" not in "".join(h)
    ),
    body=st.lists(st.lists(_cells(), min_size=4, max_size=4), min_size=1, max_size=12),
)
def test_no_row_or_input_cell_is_lost_or_changed(
    header: list[str], body: list[list[str]], stub_detector: Any
) -> None:
    """Whatever a csv writer produces (quotes, commas, line breaks, accents, formulas) comes
    back with every row and cell as written, formula cells prefixed with ' and nothing else.
    (Header names avoid ; | and tab, which would make the file read as separated by them.)"""
    rows = [r[: len(header)] for r in body]
    assume(any(tabular._LETTER.search(c) for r in rows[: tabular.PREVIEW_ROWS] for c in r))
    buffer = io.StringIO()
    csv.writer(buffer).writerows([header, *rows])
    table = read(buffer.getvalue().encode())
    out = rows_of(score(table, stub_detector, table.columns[0]))
    width = len(header)
    assert out[0][:width] == [tabular.neutralise(h) for h in header]
    assert [r[:width] for r in out[1:]] == [[tabular.neutralise(c) for c in r] for r in rows]
