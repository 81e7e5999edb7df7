"""Batch CSV: encodings, bad input errors, empty rows kept, formula neutralisation, the CLI."""

from __future__ import annotations

import io
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from misinfo.batch import (
    InputError,
    detect_encoding,
    guess_text_column,
    main,
    neutralise_spreadsheet_formulas,
    predict_csv,
    read_csv_chunks,
)


class FakeDetector:
    """Stands in for Detector: p_fake = share of '!' characters, so outputs are checkable."""

    member_names: ClassVar[list[str]] = ["a"]

    def predict(self, texts: list[str]) -> pd.DataFrame:
        assert all(t.strip() for t in texts), "empty texts must never reach the detector"
        p = np.array([min(1.0, t.count("!") / 2) for t in texts])
        return pd.DataFrame(
            {
                "label": np.where(p >= 0.5, "fake", "real"),
                "confidence": np.maximum(p, 1 - p),
                "p_fake": p,
                "p_fake_a": p,
            }
        )


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252"])
def test_encodings_are_detected(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes("text,n\ncafé déjà vu “quoted”,1\nplain,2\n".encode(encoding))
    chunks = read_csv_chunks(path)
    assert chunks.encoding == encoding
    frames = list(chunks)
    assert frames[0]["text"].iloc[0].startswith("café")


def test_latin1_fallback() -> None:
    raw = b"text\n\x81\x8d odd bytes\n"  # undefined in cp1252
    assert detect_encoding(raw) == "latin-1"


def test_predict_csv_keeps_empty_rows_and_neutralises(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    pd.DataFrame(
        {
            "id": [1, 2, 3, 4],
            "statement": ["wow!!", "", "calm words", "=HYPERLINK(evil)"],
            "note": ["@x", "+1", "-", "ok"],
        }
    ).to_csv(src, index=False)
    out = tmp_path / "out.csv"
    report = predict_csv(
        src, out, FakeDetector(), text_column="statement", chunksize=2, progress=False
    )
    df = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert len(df) == 4 and report.rows == 4 and report.errors == 1 and report.scored == 3
    assert df.loc[1, "error"].startswith("empty text") and df.loc[1, "label"] == ""
    assert df.loc[0, "label"] == "fake" and df.loc[2, "label"] == "real"
    assert df.loc[3, "statement"] == "'=HYPERLINK(evil)"
    assert df["note"].tolist() == ["'@x", "'+1", "'-", "ok"]
    assert report.label_counts == {"fake": 1, "real": 2}


def test_file_like_input_and_output() -> None:
    src = io.BytesIO(b"content,other\nhello there!!,1\n")
    sink = io.StringIO()
    report = predict_csv(src, sink, FakeDetector(), progress=False)
    assert report.text_column == "content" and "fake" in sink.getvalue()


def test_bad_inputs_raise_clear_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        read_csv_chunks(empty)
    xlsx = tmp_path / "book.csv"
    xlsx.write_bytes(b"PK\x03\x04" + bytes(range(256)))
    with pytest.raises(InputError, match="not a CSV"):
        read_csv_chunks(xlsx)
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"a,b\n\x00\x01\x02\x00\x00")
    with pytest.raises(InputError, match="binary"):
        read_csv_chunks(binary)
    ok = tmp_path / "ok.csv"
    ok.write_text("title,body\nx,some text here\n")
    with pytest.raises(InputError, match=r"no column named 'text'.*\['title', 'body'\]"):
        read_csv_chunks(ok, text_column="text")
    with pytest.raises(InputError, match="limit"):
        read_csv_chunks(ok, max_bytes=5)
    with pytest.raises(InputError, match="no such file"):
        read_csv_chunks(tmp_path / "missing.csv")


def test_malformed_lines_are_counted(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("text,n\nfine text,1\ntoo,many,fields,here\nlast one,3\n")
    report = predict_csv(
        src, tmp_path / "out.csv", FakeDetector(), text_column="text", progress=False
    )
    assert report.bad_lines == 1 and report.rows == 2


def test_guess_text_column() -> None:
    assert guess_text_column(pd.DataFrame({"id": [1], "Statement": ["x"]})) == "Statement"
    prose = pd.DataFrame(
        {
            "code": ["a1", "b2"],
            "words": ["a long sentence with many words in it", "another long sentence here ok"],
        }
    )
    assert guess_text_column(prose) == "words"
    assert guess_text_column(pd.DataFrame({"code": ["a1", "b2"]})) is None


def test_neutralise_leaves_numbers_alone() -> None:
    df = pd.DataFrame({"s": ["=1+1", "fine", "-2"], "x": [-1.0, 2.0, 3.0]})
    out = neutralise_spreadsheet_formulas(df)
    assert out["s"].tolist() == ["'=1+1", "fine", "'-2"]
    assert out["x"].tolist() == [-1.0, 2.0, 3.0]
    assert df["s"].iloc[0] == "=1+1"  # input not modified


def test_cli_reports_bad_input_with_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in.csv"
    src.write_text("")
    assert main([str(src), str(tmp_path / "o.csv"), "--models", str(tmp_path / "none")]) == 2
    assert "error:" in capsys.readouterr().err
