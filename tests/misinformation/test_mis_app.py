"""Streamlit AppTest tests of app.py: single text, CSV upload + download, every bad input.

Uploads are driven through AppTest's own ``file_uploader(...).upload`` (Streamlit >= 1.50
registers the bytes with the in-memory upload manager), so the real widget -> handler path
runs; the download is checked on the bytes the app hands to ``st.download_button`` (kept in
session state, since AppTest cannot click a browser download). Models are the quick
synthetic ones (the ``quick_models`` fixture in conftest.py). Every message that carries
user text reaches Markdown elements through ``page.plain``; the hostile-input cases and their
agreement with the command line are in test_mis_tabular_agreement.py.
"""

from __future__ import annotations

import io
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from misinfo import page

APP = Path(__file__).resolve().parents[2] / "3-misinformation-detector" / "app.py"
EXAMPLE_CSV = APP.parent / "examples" / "example_batch.csv"
TIMEOUT = 90  # first run loads the models; later runs take well under a second


@pytest.fixture
def app(quick_models: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppTest]:
    """The app pointed at the tmp models, already run once."""
    monkeypatch.setenv("MISINFO_MODELS_DIR", str(quick_models))
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    run(at)
    yield at


def run(at: AppTest) -> AppTest:
    """Run and insist on the app's promise: whatever happened, no traceback on the page."""
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(elements: object) -> list[str]:
    """The visible strings of a list of alert/markdown elements (Markdown escapes removed)."""
    values = [str(e.value).replace(page.WORD_JOINER, "") for e in elements]  # type: ignore[attr-defined]
    return [re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", v) for v in values]


def analyse(at: AppTest, text: str) -> AppTest:
    at.text_area(key="text").set_value(text)
    at.button(key="analyse").click()
    return run(at)


def upload_file(at: AppTest, name: str, data: bytes, mime: str = "text/csv") -> AppTest:
    at.file_uploader(key="csv").set_value((name, data, mime))
    return run(at)


# ------------------------------------------------------------------ models


def test_without_models_the_app_says_how_to_get_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MISINFO_MODELS_DIR", str(tmp_path / "nothing-here"))
    at = run(AppTest.from_file(str(APP), default_timeout=TIMEOUT))
    assert any("No usable models" in t for t in texts(at.error))
    code = "\n".join(texts(at.code))
    assert "make app" in code and "python -m misinfo.train --recipe quick" in code
    assert not at.text_area  # nothing to type into until models exist


def test_sidebar_shows_models_metrics_training_data_and_limits(
    app: AppTest, quick_models: Path
) -> None:
    sidebar = "\n".join(texts(app.sidebar.markdown))
    assert "does **not** mean" in sidebar
    assert any("synthetic" in t for t in texts(app.sidebar.warning))
    assert len(app.sidebar.json) + len(app.sidebar.dataframe) >= 2
    shown = "\n".join(texts(app.sidebar.text))
    assert "tfidf: TF-IDF" in shown and f"Folder “{quick_models.name}”" in shown
    page = "\n".join(texts(app.sidebar.markdown) + texts(app.sidebar.text) + texts(app.caption))
    assert str(quick_models.parent) not in page  # the folder's name, not the server path


def test_a_folder_of_model_sets_gets_a_picker_with_each_sets_data_and_scores(
    quick_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from misinfo.artifacts import save_cross_scores

    root = tmp_path / "sets"
    for name in ("covid", "politics"):
        shutil.copytree(quick_models, root / name)
    save_cross_scores(root / "politics", {"politics": {"n": 40, "weighted_f1": 0.61}})
    monkeypatch.setenv("MISINFO_MODELS_DIR", str(root))
    at = run(AppTest.from_file(str(APP), default_timeout=TIMEOUT))
    picker = at.sidebar.selectbox(key="model_set")
    assert [o.split(":")[0] for o in picker.options] == ["covid", "politics"]
    assert all("synthetic corpus" in o for o in picker.options)  # what each set learned from
    assert "Folder “covid”" in "\n".join(texts(at.sidebar.text))
    assert not any("each dataset" in t for t in texts(at.sidebar.subheader))
    analyse(at, "The council met on Tuesday to discuss the budget.")
    assert at.session_state["single"]
    at.sidebar.selectbox(key="model_set").select(picker.options[1])
    run(at)
    assert "Folder “politics”" in "\n".join(texts(at.sidebar.text))
    assert "single" not in at.session_state  # no result of the other set under this name
    assert any("each dataset" in t for t in texts(at.sidebar.subheader))
    scores = at.sidebar.dataframe[-1].value
    assert scores.loc["politics", "wF1"] == pytest.approx(0.61)


@pytest.fixture
def own_models(quick_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the models that a test may change, with the app pointed at it."""
    folder = Path(shutil.copytree(quick_models, tmp_path / "own_models"))
    monkeypatch.setenv("MISINFO_MODELS_DIR", str(folder))
    return folder


HOSTILE = "**bold** ![x](http://127.0.0.1:9/pixel.png) [Download the fix](http://127.0.0.1:9/p)"
HOSTILE_NAME = "**bold** ![x](pixel.png) [Download the fix](phish)"  # no "/": shown whole


def test_manifest_text_is_shown_as_plain_text(
    own_models: Path, edit_manifest: Callable[..., None]
) -> None:
    def hostile(m: dict) -> None:
        m["model_names"]["tfidf"] = HOSTILE_NAME
        m["label_meaning"] = HOSTILE
        m["training_data"]["description"] = HOSTILE

    edit_manifest(own_models, hostile, rehash=True)
    at = run(AppTest.from_file(str(APP), default_timeout=TIMEOUT))
    markdown = "\n".join(texts(at.sidebar.markdown) + texts(at.sidebar.caption))
    assert "pixel.png" not in markdown and "Download the fix" not in markdown
    plain = texts(at.sidebar.text)
    assert any(f"tfidf: {HOSTILE_NAME}" in t for t in plain) and HOSTILE in plain
    assert any(f"• {HOSTILE}" in t for t in plain)


def test_a_tampered_manifest_is_refused_and_its_text_shown_plainly(
    own_models: Path, edit_manifest: Callable[..., None]
) -> None:
    edit_manifest(own_models, lambda m: m["member_paths"].update(tfidf=HOSTILE), rehash=True)
    at = run(AppTest.from_file(str(APP), default_timeout=TIMEOUT))
    assert any("No usable models in the folder “own_models”" in t for t in texts(at.error))
    assert any("not a path inside the models folder" in t for t in texts(at.text))
    assert not any("pixel.png" in t for t in texts(at.error) + texts(at.markdown))
    assert not any(str(own_models.parent) in t for t in texts(at.error) + texts(at.text))


def test_models_changed_after_loading_are_checked_again(own_models: Path) -> None:
    at = run(AppTest.from_file(str(APP), default_timeout=TIMEOUT))
    assert not at.error and at.text_area(key="text")
    with open(own_models / "tfidf.skops", "ab") as handle:
        handle.write(b"changed on disk")
    run(at)
    assert any("hash mismatch for tfidf.skops" in t for t in texts(at.text))


# ------------------------------------------------------------------ single text


def test_single_text_gets_label_confidence_members_and_reasons(app: AppTest) -> None:
    analyse(app, "SHOCKING! Doctors hide the miracle cure the government does not want you to see!")
    assert not app.error
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Label"] in {"REAL", "FAKE"}
    assert metrics["Confidence (calibrated)"].endswith("%")
    assert 0.0 <= float(metrics["P(fake)"]) <= 1.0
    html = "\n".join(texts(app.html))
    assert "misinfo-highlight" in html
    assert app.dataframe  # members and the feature table
    assert any("percentile in training" in d.value.columns for d in app.dataframe)


def test_a_text_unlike_the_training_data_gets_an_out_of_domain_warning(app: AppTest) -> None:
    from misinfo.data import synthetic_corpus

    analyse(app, "Knead the dough for ten minutes and let it rise overnight before baking.")
    warnings = [t for t in texts(app.warning) if "looks unlike the texts" in t]
    assert len(warnings) == 1 and "about 5% of in-domain texts" in warnings[0]
    assert app.metric  # still answered, with the warning above it
    analyse(app, synthetic_corpus(n=1, seed=99)["text"][0])  # a new text of the training kind
    assert not any("looks unlike the texts" in t for t in texts(app.warning))
    assert any(t.startswith("Out-of-domain check: TF-IDF") for t in texts(app.sidebar.text))


def test_example_picker_fills_the_text_box(app: AppTest) -> None:
    options = app.selectbox(key="example").options
    app.selectbox(key="example").set_value(options[1])
    run(app)
    assert app.text_area(key="text").value.strip()


def test_html_in_the_text_is_shown_escaped(app: AppTest) -> None:
    analyse(app, 'Breaking news <script>alert("pwned")</script> the moon landing was staged')
    html = "\n".join(texts(app.html))
    assert "<script" not in html.lower()
    assert "&lt;" in html and "alert(&quot;pwned&quot;)" in html


def test_empty_text_shows_an_error(app: AppTest) -> None:
    analyse(app, "   \n ")
    assert any("empty" in t for t in texts(app.error))
    assert not app.metric


def test_binary_junk_shows_an_error(app: AppTest) -> None:
    analyse(app, "\x00\x01\x02\x03 0x7f 1234 %% \ufffd\ufffd")
    assert any("no readable words" in t for t in texts(app.error))


def test_non_english_text_is_answered_with_a_warning(app: AppTest) -> None:
    analyse(app, "El ayuntamiento aprobó ayer un nuevo presupuesto para reparar las carreteras.")
    assert any("English" in t for t in texts(app.warning))
    assert app.metric  # still answered


def test_very_long_text_is_truncated_with_a_notice(app: AppTest) -> None:
    analyse(app, "The council met on Tuesday to discuss the budget. " * 2_000)
    assert any("only the first" in t for t in texts(app.warning))
    assert app.metric


def test_result_survives_other_interactions(app: AppTest) -> None:
    analyse(app, "The school board will hold a public hearing on the calendar in May.")
    label = app.metric[0].value
    app.text_area(key="text").set_value("something else typed but not analysed")
    run(app)
    assert app.metric[0].value == label
    assert app.text_area(key="text").value == "something else typed but not analysed"


# ------------------------------------------------------------------ CSV


def test_csv_upload_scores_rows_and_offers_a_safe_download(app: AppTest) -> None:
    upload_file(app, "example_batch.csv", EXAMPLE_CSV.read_bytes())
    assert app.selectbox(key="text_column").value == "statement"  # guessed
    app.button(key="run_batch").click()
    run(app)
    assert not app.error
    assert any("Scored" in t for t in texts(app.success))
    assert any("2 rows have empty text" in t for t in texts(app.warning))
    assert app.download_button(key="download")

    data = app.session_state["batch"]["result"].data
    scored = pd.read_csv(io.BytesIO(data), encoding="utf-8-sig", dtype=str, keep_default_na=False)
    source = pd.read_csv(EXAMPLE_CSV, dtype=str, keep_default_na=False)
    assert len(scored) == len(source)
    assert list(scored.columns[:3]) == list(source.columns)
    outputs = {"misinfo_label", "misinfo_confidence", "misinfo_p_fake", "misinfo_error"}
    assert outputs <= set(scored.columns)
    empty = source["statement"].str.strip().eq("")
    assert scored.loc[empty, "misinfo_error"].str.startswith("empty text").all()
    assert scored.loc[~empty, "misinfo_label"].isin(["real", "fake"]).all()
    formula = scored["statement"].str.contains("HYPERLINK")
    assert scored.loc[formula, "statement"].str.startswith("'=").all()
    assert scored.loc[~formula, "statement"].tolist() == source.loc[~formula, "statement"].tolist()

    app.selectbox(key="filter_label").set_value("errors")
    run(app)
    preview = next(d.value for d in app.main.dataframe if "misinfo_error" in d.value.columns)
    assert len(preview) == 2 and preview["misinfo_error"].ne("").all()


def test_file_with_no_obvious_text_column_asks_the_user(app: AppTest) -> None:
    data = b"a,b\nx1,hello there friend\nx2,the council met today\n"
    upload_file(app, "mystery.csv", data)
    assert not app.error


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("empty.csv", b"", "is empty"),
        ("header_only.csv", b"statement,id\n", "no data rows"),
        ("comma.csv", b"text\nhello, world\n", "line 2 has 2 fields"),
        ("numbers.csv", b"id,score\n1,2.5\n2,3.5\n", "no column with text"),
        ("report.xlsx", b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 200, "not a CSV"),
        ("photo.csv", b"\x89PNG\r\n\x1a\n" + b"\x00" * 200, "PNG image"),
        ("junk.bin", bytes(range(256)) * 8, "binary file"),
    ],
)
def test_bad_files_show_a_clear_error(app: AppTest, name: str, data: bytes, expected: str) -> None:
    upload_file(app, name, data)
    errors = texts(app.error)
    assert any(expected in t for t in errors), errors
    assert "run_batch" not in [b.key for b in app.button]  # nothing to run on a bad file


def test_non_utf8_csv_is_read_with_its_accents(app: AppTest) -> None:
    frame = pd.DataFrame({"statement": ["Le café a été rénové par la mairie", "Ça coûte cher"]})
    upload_file(app, "latin.csv", frame.to_csv(index=False).encode("cp1252"))
    assert not app.error
    assert any("cp1252" in t for t in texts(app.caption))
    app.button(key="run_batch").click()
    run(app)
    result = app.session_state["batch"]["result"]
    assert [row[0] for row in result.rows()] == frame["statement"].tolist()


def test_file_over_the_size_limit_is_refused(
    quick_models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MISINFO_MODELS_DIR", str(quick_models))
    monkeypatch.setenv("MISINFO_MAX_UPLOAD_MB", "1")
    at = run(AppTest.from_file(str(APP), default_timeout=TIMEOUT))
    assert any("Files up to 1 MB. A bigger file is refused" in t for t in texts(at.caption))
    big = b"statement\n" + b"the council met on tuesday to discuss it\n" * 30_000
    upload_file(at, "big.csv", big)
    assert any("over the 1.0 MB limit" in t for t in texts(at.error))
