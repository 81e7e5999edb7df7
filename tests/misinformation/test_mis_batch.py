"""The batch command line (misinfo.batch): one line and exit code 2 for every data mistake,
checked before any model loads; output written whole or not at all; nothing overwritten.

The reading rules themselves are tested in test_mis_tabular.py, and the same files go through
the app and this command in test_mis_tabular_agreement.py.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from misinfo import batch, tabular


def test_predict_csv_writes_every_row_with_prefixed_outputs(
    tmp_path: Path, stub_detector: Any
) -> None:
    src = tmp_path / "in.csv"
    src.write_text("id,statement,label\n1,wow that is a long text!!,mine\n2,,x\n3,=1+1 calm,y\n")
    out = tmp_path / "out.csv"
    report = batch.predict_csv(src, out, stub_detector, chunksize=2, progress=False)
    df = pd.read_csv(out, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert df["label"].tolist() == ["mine", "x", "y"]  # the user's own column survives
    assert df["statement"].tolist() == ["wow that is a long text!!", "", "'=1+1 calm"]
    assert df["misinfo_label"].tolist() == ["real", "", "real"]
    assert df.loc[1, "misinfo_error"] == tabular.EMPTY_TEXT_REASON
    assert (report.rows, report.errors, report.scored) == (3, 1, 2)
    assert report.text_column == "statement" and report.label_counts == {"real": 2}


def test_predict_csv_writes_to_a_binary_handle(stub_detector: Any) -> None:
    sink = io.BytesIO()
    batch.predict_csv(b"content,other\nhello there,1\n", sink, stub_detector, progress=False)
    assert sink.getvalue().startswith(b"\xef\xbb\xbfcontent,other,misinfo_label")


class FailingDetector:
    """Scores the first chunk, then fails: the output file must not be left half-written."""

    member_names: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.calls = 0

    def predict(self, texts: list[str]) -> pd.DataFrame:
        self.calls += 1
        if self.calls > 1:
            raise RuntimeError("model crashed")
        return pd.DataFrame({"label": ["real"] * len(texts), "p_fake": [0.1] * len(texts)})


def test_output_is_written_whole_or_not_at_all(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("text\n" + "some words here\n" * 5)
    out = tmp_path / "out.csv"
    with pytest.raises(RuntimeError, match="model crashed"):
        batch.predict_csv(src, out, FailingDetector(), chunksize=2, progress=False)
    assert list(tmp_path.iterdir()) == [src]  # no out.csv, no leftover .part file


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        (None, [], "no such file"),
        (b"", [], "is empty"),
        (b"PK\x03\x04" + bytes(range(256)), [], "ZIP archive"),
        (b"statement,id\n", [], "no data rows"),
        (b"text\nhello, world\n", [], "line 2 has 2 fields"),
        (b"title,body\nx,some text here\n", ["--text-column", "text"], "no column named “text”"),
        (b"text\n" + b"some words\n" * 100, ["--max-mb", "0.0001"], "over the 0.0 MB limit"),
    ],
    ids=["missing", "empty", "xlsx", "header-only", "malformed", "column", "size"],
)
def test_data_mistakes_end_with_one_line_and_exit_code_2_before_models_load(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: bytes | None,
    args: list[str],
    message: str,
) -> None:
    src = tmp_path / "in.csv"
    if content is not None:
        src.write_bytes(content)
    # The models folder does not exist: a data mistake must be reported first.
    code = batch.main(
        [str(src), str(tmp_path / "o.csv"), "--models", str(tmp_path / "none"), *args]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and message in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "o.csv").exists()


def test_missing_models_and_bad_output_paths_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in.csv"
    src.write_text("text\nsome words here\n")
    assert batch.main([str(src), str(tmp_path / "o.csv"), "--models", str(tmp_path / "x")]) == 2
    assert "no models in" in capsys.readouterr().err
    assert batch.main([str(src), str(src)]) == 2
    assert "overwrite the input" in capsys.readouterr().err
    assert batch.main([str(src), str(tmp_path / "no" / "o.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err
