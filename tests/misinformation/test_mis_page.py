"""What the page shows (misinfo.page), without Streamlit or trained models: single-text
checks and analysis, the batch result for the page, its tables, and Markdown escaping."""

from __future__ import annotations

import io
import json
import re
from typing import Any, ClassVar

import pandas as pd
import pytest

from misinfo import batch, page, tabular

# ---------------------------------------------------------------- single text


def test_empty_and_whitespace_text_is_refused_with_a_message() -> None:
    for raw in ("", "   \n\t ", None):
        prepared = page.prepare_text(raw, 100)
        assert prepared.error and "empty" in prepared.error


def test_binary_junk_without_words_is_refused() -> None:
    for junk in ("\x00\x01\x02\x7f 1234 %%% \x03 0x7f", bytes(range(256)).decode("latin-1") * 3):
        prepared = page.prepare_text(junk, 10_000)
        assert prepared.error and "no readable words" in prepared.error


def test_binary_noise_around_words_is_cleaned_with_a_warning() -> None:
    prepared = page.prepare_text(
        "the senator said \x00\x01\x02\x03\x04 taxes rose again this year", 500
    )
    assert prepared.error is None
    assert "\x00" not in prepared.text
    assert any("binary" in w for w in prepared.warnings)


def test_non_english_text_is_analysed_with_a_warning() -> None:
    spanish = "El ayuntamiento aprobó ayer un nuevo presupuesto para la reparación de carreteras."
    russian = "Правительство объявило о новых мерах поддержки экономики страны."
    for text in (spanish, russian):
        prepared = page.prepare_text(text, 1000)
        assert prepared.error is None
        assert any("English" in w for w in prepared.warnings)
    english = page.prepare_text("The council approved the budget for the roads on Tuesday.", 1000)
    assert english.warnings == []


def test_long_text_is_truncated_at_a_word_boundary_with_a_notice() -> None:
    text = "the quick brown fox jumps over the lazy dog " * 100
    prepared = page.prepare_text(text, 100)
    assert prepared.truncated and len(prepared.text) <= 100
    assert not prepared.text.endswith(("qu", "bro"))  # cut between words
    assert any("only the first" in w and f"{len(text):,}" in w for w in prepared.warnings)


# ---------------------------------------------------------------- user text in Markdown elements


PUNCTUATION = r"[!-/:-@\[-`{-~]"


@pytest.mark.parametrize(
    "text",
    [
        "![x](http://127.0.0.1:9/pixel.png)",
        "[Download the fixed file](http://127.0.0.1:9/phish)",
        "<img src=x onerror=alert(1)> **bold** _it_ `code` # heading",
        ":red[colour] :material/home: :smile: $x^2$ ~~gone~~ | a | b |",
        "C:\\path\\file.csv 1. item\n- item",
        "bare HTTPS://x.example/a, www.example.com and me@example.com",
    ],
)
def test_plain_escapes_every_markdown_construct(text: str) -> None:
    escaped = page.plain(text)
    assert "\n" not in escaped
    # every ASCII punctuation character is backslash-escaped, so nothing is markup...
    unescaped_punctuation = re.sub(r"\\" + PUNCTUATION, "", escaped)
    assert not re.search(PUNCTUATION, unescaped_punctuation)
    # ...no bare address can become an autolink (a word joiner sits before it)...
    assert not re.search(r"(^|[\s!-/:-@\[-`{-~])(https?:|www\.)", escaped.replace("\\", ""), re.I)
    assert "@" not in re.sub(r"\u2060\\@", "", escaped)
    # ...and dropping the escapes and joiners gives the text back, on one line
    back = re.sub(r"\\(" + PUNCTUATION + ")", r"\1", escaped).replace(page.WORD_JOINER, "")
    assert back == " ".join(text.splitlines())


# ---------------------------------------------------------------- a CSV file


def test_run_batch_gives_the_same_bytes_as_the_command_line(stub_detector: Any) -> None:
    texts = ["short", "", "x" * 80, "   ", "=1+1 formula text"] * 5
    data = pd.DataFrame({"text": texts, "id": range(len(texts))}).to_csv(index=False).encode()
    table = tabular.read_table(data, 100_000, name="rows.csv")
    seen: list[float] = []
    result = page.run_batch(
        table, "text", stub_detector, progress=lambda f, _m: seen.append(f), chunk_rows=7
    )
    assert result.report.rows == len(texts) and seen[-1] == 1.0 and seen == sorted(seen)
    assert result.report.errors == 10 and result.column("error") == "misinfo_error"
    cli = io.BytesIO()
    batch.predict_csv(data, cli, type(stub_detector)(), "text", chunksize=3, progress=False)
    assert result.data == cli.getvalue()


def test_filter_and_label_distribution(stub_detector: Any) -> None:
    long = "moon cheese is real and here to stay in the sky for ever"
    data = f"text\n{long}\ntax rise\n\nmoon landing\n=1+1\n".encode()
    result = page.run_batch(tabular.read_table(data, 1_000, name="f.csv"), "text", stub_detector)
    assert result.columns[0] == "text" and result.column("label") in result.columns

    def texts(label: str, contains: str = "", limit: int = 10) -> tuple[list[str], int]:
        shown, count = page.filter_results(result, label, contains, limit)
        return shown["text"].tolist(), count

    assert texts("real") == (["tax rise", "moon landing", "'=1+1"], 3)  # as in the download
    assert texts("fake") == ([long], 1)
    assert texts("errors") == ([""], 1)
    assert texts("all", " MOON ") == ([long, "moon landing"], 2)
    assert texts("all", limit=2) == ([long, "tax rise"], 5)
    assert texts("real", "moon", limit=0) == ([], 1)
    counts = dict(page.label_distribution(result.report).itertuples(index=False))
    assert counts == {"real": 3, "fake": 1, "not scored": 1}


def test_upload_limit_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(page.MAX_UPLOAD_ENV, "7")
    assert page.max_upload_mb() == 7
    monkeypatch.setenv(page.MAX_UPLOAD_ENV, "nonsense")
    assert page.max_upload_mb() == page.DEFAULT_MAX_UPLOAD_MB
    assert "Files up to 7 MB. A bigger file is refused" in page.upload_limit_text(7)
    assert "35 MB for a 7 MB file" in page.memory_bound_text(7)


# ---------------------------------------------------------------- tables


def test_percentiles_within_training_quantiles() -> None:
    spec = {
        "q01": 0.0,
        "q05": 1.0,
        "q25": 2.0,
        "q50": 4.0,
        "q75": 6.0,
        "q95": 10.0,
        "q99": 20.0,
        "mean": 5.0,
        "std": 3.0,
    }
    assert page.percentile_in_training(4.0, spec) == pytest.approx(50.0)
    assert page.percentile_in_training(5.0, spec) == pytest.approx(62.5)
    assert page.percentile_in_training(-1.0, spec) == 0.0
    assert page.percentile_in_training(99.0, spec) == 100.0
    table = page.feature_comparison({"n_words": 4.0, "unknown": 1.0}, {"n_words": spec})
    assert table.set_index("feature").loc["n_words", "training median"] == pytest.approx(4.0)
    assert pd.isna(table.set_index("feature").loc["unknown", "percentile in training"])


def test_metrics_frame_and_synthetic_flag() -> None:
    frame = page.metrics_frame({"tfidf": {"accuracy": 0.8, "n": 10}, "note": "x"})
    assert frame is not None and frame.loc["tfidf", "accuracy"] == 0.8
    assert page.metrics_frame({"note": "x"}) is None
    assert page.mentions_synthetic({"source": "synthetic corpus"})
    assert not page.mentions_synthetic({"source": "liar"})


def test_contribution_table_and_training_lines_for_the_page() -> None:
    wide = page.contributions_wide([("moon", 0.5), ("council", -0.25)])
    assert wide.set_index("term").loc["moon"].tolist() == [0.5, 0.0]
    assert wide.set_index("term").loc["council"].tolist() == [0.0, -0.25]
    lines = page.training_data_lines(
        {"description": "LIAR", "rows": {"train": 10}, "fake_share_train": 0.4, "sha256": "ab" * 32}
    )
    assert lines[0] == "LIAR" and "train 10" in lines[1] and "40%" in lines[2]
    short = page.key_metrics(page.metrics_frame({"m": {"accuracy": 0.812, "ece": 0.05}}))
    assert short is not None and list(short.columns) == ["acc", "ECE"]


# ---------------------------------------------------------------- analysis


class _Manifest:
    member_kinds: ClassVar[dict[str, str]] = {"tfidf": "tfidf", "bert": "transformer"}


class TokenDetector:
    """A stand-in with a transformer member whose attributions can succeed or fail."""

    member_names: ClassVar[list[str]] = ["tfidf", "bert"]
    manifest = _Manifest()

    def __init__(self, base: Any, fail: bool = False) -> None:
        self.predict = base.predict
        self.max_chars = base.max_chars
        self.fail = fail
        self.calls = 0

    def explain(self, text: str, top_k: int = 15) -> list[tuple[str, float]]:
        return [("moon", 0.5)]

    def token_attributions(self, text: str) -> list[tuple[str, float]] | None:
        self.calls += 1
        if self.fail:
            raise RuntimeError("no gradients")
        return [("<b>", 0.2), ("moon", 0.7)]


def test_first_result_comes_without_token_attributions_which_are_added_once(
    stub_detector: Any,
) -> None:
    detector = TokenDetector(stub_detector)
    assert page.has_transformer(detector)
    analysis = page.analyse_text(detector, page.prepare_text("the moon is cheese", 100))
    assert analysis.label in {"real", "fake"} and analysis.contributions == [("moon", 0.5)]
    assert not analysis.tokens_done and detector.calls == 0
    page.add_token_attributions(detector, analysis)
    page.add_token_attributions(detector, analysis)
    assert detector.calls == 1 and analysis.token_attributions == [("<b>", 0.2), ("moon", 0.7)]
    failing = TokenDetector(stub_detector, fail=True)
    broken = page.add_token_attributions(
        failing, page.analyse_text(failing, page.prepare_text("the moon is cheese", 100))
    )
    assert broken.token_attributions is None and "RuntimeError" in (broken.token_note or "")


def test_text_limit_and_transformer_note(stub_detector: Any) -> None:
    detector = TokenDetector(stub_detector)
    assert tabular.text_limit(detector) == tabular.MAX_SCORED_CHARS  # max_chars 200 is smaller
    assert page.transformer_note(detector, 150) is None
    note = page.transformer_note(detector, 5_000)
    assert note is not None and "first 200 characters" in note and "5,000" in note
    assert page.transformer_note(stub_detector, 5_000) is None  # no transformer loaded


def test_model_set_labels_say_what_the_set_was_trained_on(tmp_path: Any) -> None:
    folder = tmp_path / "covid"
    folder.mkdir()
    description = "CONSTRAINT 2021 COVID-19 fake news " + "x" * 100
    manifest = {"training_data": {"description": description}}
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    label = page.model_set_label("covid", folder)
    assert label.startswith("covid: CONSTRAINT 2021") and label.endswith("…")
    assert len(label) <= len("covid: ") + 90
    assert page.model_set_label("broken", tmp_path / "missing") == "broken"


def test_cross_scores_become_a_sidebar_table() -> None:
    assert page.cross_scores_frame({}) is None
    frame = page.cross_scores_frame(
        {
            "constraint": {"n": 1975.0, "weighted_f1": 0.97123, "ood_flagged": 0.046},
            "liar": {"n": 1276.0, "weighted_f1": 0.47, "ood_flagged": 0.901},
        }
    )
    assert frame is not None and frame.index.name == "tested on"
    assert list(frame.columns) == ["texts", "wF1", "flagged OOD"]
    assert frame.loc["constraint", "texts"] == 1975 and frame.loc["constraint", "wF1"] == 0.971
