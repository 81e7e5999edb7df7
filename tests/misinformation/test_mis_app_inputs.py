"""Unit tests of the app's input handling and safe HTML (misinfo.upload, misinfo.highlight).

These run without Streamlit or trained models: each bad-input rule is checked on the function
that implements it, with a tiny stand-in detector where predictions are needed.
"""

from __future__ import annotations

import io
import re
from typing import ClassVar

import pandas as pd
import pytest

from misinfo import highlight, upload


class StubDetector:
    """Predicts from the text length so tests can check rows line up with their predictions."""

    max_chars = 200

    def predict(self, texts: list[str]) -> pd.DataFrame:
        p = [min(len(t) / 100, 1.0) for t in texts]
        return pd.DataFrame(
            {
                "label": ["fake" if x >= 0.5 else "real" for x in p],
                "confidence": [max(x, 1 - x) for x in p],
                "p_fake": p,
                "p_fake_tfidf": p,
            }
        )


def _csv(
    rows: list[list[str]], header: list[str], sep: str = ",", encoding: str = "utf-8"
) -> bytes:
    frame = pd.DataFrame(rows, columns=header)
    return frame.to_csv(index=False, sep=sep).encode(encoding)


# ---------------------------------------------------------------- single text


def test_empty_and_whitespace_text_is_refused_with_a_message() -> None:
    for raw in ("", "   \n\t ", None):
        prepared = upload.prepare_text(raw, 100)
        assert prepared.error and "empty" in prepared.error


def test_binary_junk_without_words_is_refused() -> None:
    for junk in ("\x00\x01\x02\x7f 1234 %%% \x03 0x7f", bytes(range(256)).decode("latin-1") * 3):
        prepared = upload.prepare_text(junk, 10_000)
        assert prepared.error and "no readable words" in prepared.error


def test_binary_noise_around_words_is_cleaned_with_a_warning() -> None:
    prepared = upload.prepare_text(
        "the senator said \x00\x01\x02\x03\x04 taxes rose again this year", 500
    )
    assert prepared.error is None
    assert "\x00" not in prepared.text
    assert any("binary" in w for w in prepared.warnings)


def test_non_english_text_is_analysed_with_a_warning() -> None:
    spanish = "El ayuntamiento aprobó ayer un nuevo presupuesto para la reparación de carreteras."
    russian = "Правительство объявило о новых мерах поддержки экономики страны."
    for text in (spanish, russian):
        prepared = upload.prepare_text(text, 1000)
        assert prepared.error is None
        assert any("English" in w for w in prepared.warnings)
    english = upload.prepare_text("The council approved the budget for the roads on Tuesday.", 1000)
    assert english.warnings == []


def test_long_text_is_truncated_at_a_word_boundary_with_a_notice() -> None:
    text = "the quick brown fox jumps over the lazy dog " * 100
    prepared = upload.prepare_text(text, 100)
    assert prepared.truncated and len(prepared.text) <= 100
    assert not prepared.text.endswith(("qu", "bro"))  # cut between words
    assert any("only the first" in w and f"{len(text):,}" in w for w in prepared.warnings)


# ---------------------------------------------------------------- files


def test_file_over_the_size_limit_is_refused_before_parsing() -> None:
    data = _csv([["some text here"]] * 100, ["text"])
    with pytest.raises(upload.InputProblem, match="limit"):
        upload.inspect_upload("big.csv", data, max_bytes=len(data) - 1)


@pytest.mark.parametrize("data", [b"", b"   \n\n", b"text\n"])
def test_empty_csv_is_refused(data: bytes) -> None:
    with pytest.raises(upload.InputProblem, match=r"empty|no data rows"):
        upload.inspect_upload("empty.csv", data, 10_000)


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 50, "ZIP"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "PDF"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "PNG"),
        (bytes(range(256)) * 4, "binary"),
    ],
)
def test_non_csv_files_are_named_and_refused(data: bytes, what: str) -> None:
    with pytest.raises(upload.InputProblem, match=what):
        upload.inspect_upload("upload.csv", data, 1_000_000)


def test_csv_without_a_text_column_is_refused() -> None:
    data = _csv([["1", "2.5"], ["2", "3.5"]], ["id", "score"])
    with pytest.raises(upload.InputProblem, match="no column with text"):
        upload.inspect_upload("numbers.csv", data, 10_000)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "latin-1", "utf-16"])
def test_non_utf8_encodings_keep_their_accents(encoding: str) -> None:
    data = _csv(
        [["Le café de la mairie a été rénové", "1"]], ["statement", "id"], encoding=encoding
    )
    table = upload.inspect_upload("accents.csv", data, 10_000)
    assert table.preview.loc[0, "statement"] == "Le café de la mairie a été rénové"
    assert table.guessed_column == "statement"


@pytest.mark.parametrize("sep", [",", ";", "\t"])
def test_separators_are_sniffed(sep: str) -> None:
    data = _csv([["a long statement, with a comma", "x"]] * 3, ["text", "tag"], sep=sep)
    table = upload.inspect_upload("sep.csv", data, 10_000)
    assert table.columns == ["text", "tag"]


def test_text_column_is_guessed_from_content_when_names_do_not_say() -> None:
    frame = pd.DataFrame(
        {
            "id": ["1", "2", "3"],
            "src": ["web", "tv", "web"],
            "body_of_post": [
                "they said the moon is cheese",
                "taxes went up again this year",
                "a b c d e",
            ],
        }
    )
    assert upload.guess_text_column(frame) == "body_of_post"


def test_malformed_line_deep_in_the_file_is_reported_with_its_place() -> None:
    good = "".join(f"row {i} has some words,{i}\n" for i in range(250))
    data = ("text,id\n" + good + 'broken "line,with,too,many,fields\n' + good).encode()
    table = upload.inspect_upload("bad.csv", data, 1_000_000)
    with pytest.raises(upload.InputProblem, match="malformed line after row"):
        upload.run_batch(table, "text", StubDetector(), chunk_rows=10)


# ---------------------------------------------------------------- batch + export


def test_batch_keeps_empty_rows_with_an_explanation_and_aligns_predictions() -> None:
    texts = ["short", "", "x" * 80, "   ", "a medium length text here"] * 5
    data = _csv([[t, str(i)] for i, t in enumerate(texts)], ["text", "id"])
    table = upload.inspect_upload("rows.csv", data, 100_000)
    seen: list[float] = []
    result = upload.run_batch(
        table, "text", StubDetector(), progress=lambda f, _m: seen.append(f), chunk_rows=7
    )
    frame = result.frame
    assert len(frame) == len(texts) and list(frame["id"]) == [str(i) for i in range(len(texts))]
    empty = frame["text"].str.strip().eq("")
    assert result.n_errors == int(empty.sum()) == 10
    assert frame.loc[empty, "error"].eq(upload.EMPTY_TEXT_REASON).all()
    assert frame.loc[empty, "p_fake"].isna().all()
    expected = frame.loc[~empty, "text"].str.len().clip(upper=100) / 100
    assert frame.loc[~empty, "p_fake"].tolist() == pytest.approx(expected.tolist())
    assert seen[-1] == 1.0 and seen == sorted(seen) and len(seen) >= 4


def test_download_neutralises_formulas_and_round_trips() -> None:
    frame = pd.DataFrame(
        {
            "text": ['=HYPERLINK("http://x")', "+1 call now", "-minus", "@handle", "plain"],
            "p_fake": [0.1, 0.2, -0.3, 0.4, 0.5],
        }
    )
    data = upload.results_csv_bytes(frame)
    assert data.startswith(b"\xef\xbb\xbf")  # BOM: Excel keeps accents
    back = pd.read_csv(io.BytesIO(data), encoding="utf-8-sig", keep_default_na=False)
    assert all(not str(v).startswith(("=", "+", "-", "@")) for v in back["text"])
    assert back["text"].str.lstrip("'").tolist() == frame["text"].tolist()
    assert back["p_fake"].tolist() == pytest.approx(frame["p_fake"].tolist())  # numbers untouched


def test_filter_and_label_distribution() -> None:
    frame = pd.DataFrame(
        {
            "text": ["moon cheese", "tax rise", "", "moon landing"],
            "label": ["fake", "real", None, "real"],
            "error": ["", "", upload.EMPTY_TEXT_REASON, ""],
        }
    )
    assert len(upload.filter_results(frame, "real")) == 2
    assert len(upload.filter_results(frame, "errors")) == 1
    assert upload.filter_results(frame, "all", "MOON")["text"].tolist() == [
        "moon cheese",
        "moon landing",
    ]
    counts = dict(upload.label_distribution(frame).itertuples(index=False))
    assert counts == {"real": 2, "fake": 1, "not scored": 1}


def test_upload_limit_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(upload.MAX_UPLOAD_ENV, "7")
    assert upload.max_upload_mb() == 7
    monkeypatch.setenv(upload.MAX_UPLOAD_ENV, "nonsense")
    assert upload.max_upload_mb() == upload.DEFAULT_MAX_UPLOAD_MB
    assert "7 MB" in upload.memory_bound_text(7)


# ---------------------------------------------------------------- safe HTML


def test_script_tags_in_the_text_come_out_escaped() -> None:
    text = 'Hello <script>alert("x")</script> <img src=x onerror=alert(1)> world & "moon"'
    out = highlight.highlight_html(text, [("script", 0.5), ("moon", 1.0), ("world", -0.3)])
    assert "<script" not in out.lower() and "<img" not in out.lower()
    # "script" is highlighted, but its angle brackets stay escaped text around the span.
    assert re.search(r"&lt;<span [^>]*>script</span>&gt;alert\(&quot;x&quot;\)", out)
    assert "&lt;img src=x onerror=alert(1)&gt;" in out
    # The only tags are the ones highlight builds itself.
    assert set(re.findall(r"</?([a-zA-Z]+)", out)) <= {"div", "span"}
    assert 'title="+1.000 toward fake">moon</span>' in out
    assert 'toward real">world</span>' in out


def test_highlight_keeps_the_text_and_escapes_vocabulary_terms() -> None:
    text = "Tom's  BIG\nnews!"
    out = highlight.highlight_html(text, [("<b>big</b>", 1.0), ("news", float("nan"))])
    plain = re.sub(r"<[^>]+>", "", out)
    assert plain == "Tom&#x27;s  BIG\nnews!"
    assert "<b>" not in out


def test_token_strip_escapes_word_pieces() -> None:
    out = highlight.token_strip_html([("<script>", 0.9), ("##ing", -0.2), ("[CLS]", 0.0)])
    assert "<script>" not in out and "&lt;script&gt;" in out and "##ing" in out


def test_word_scores_spread_bigrams_over_their_words() -> None:
    scores = highlight.word_scores([("white house", 1.0), ("house", 0.5)])
    assert scores == {"white": 0.5, "house": 1.0}


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
    assert highlight.percentile_in_training(4.0, spec) == pytest.approx(50.0)
    assert highlight.percentile_in_training(5.0, spec) == pytest.approx(62.5)
    assert highlight.percentile_in_training(-1.0, spec) == 0.0
    assert highlight.percentile_in_training(99.0, spec) == 100.0
    table = highlight.feature_comparison({"n_words": 4.0, "unknown": 1.0}, {"n_words": spec})
    assert table.set_index("feature").loc["n_words", "training median"] == pytest.approx(4.0)
    assert pd.isna(table.set_index("feature").loc["unknown", "percentile in training"])


def test_metrics_frame_and_synthetic_flag() -> None:
    frame = highlight.metrics_frame({"tfidf": {"accuracy": 0.8, "n": 10}, "note": "x"})
    assert frame is not None and frame.loc["tfidf", "accuracy"] == 0.8
    assert highlight.metrics_frame({"note": "x"}) is None
    assert highlight.mentions_synthetic({"source": "synthetic corpus"})
    assert not highlight.mentions_synthetic({"source": "liar"})


def test_apostrophe_words_take_the_vectorizers_stem() -> None:
    out = highlight.highlight_html("They don't say", [("don", 0.4)])
    assert 'toward fake">don&#x27;t</span>' in out


def test_contribution_table_and_training_lines_for_the_page() -> None:
    wide = highlight.contributions_wide([("moon", 0.5), ("council", -0.25)])
    assert wide.set_index("term").loc["moon"].tolist() == [0.5, 0.0]
    assert wide.set_index("term").loc["council"].tolist() == [0.0, -0.25]
    lines = highlight.training_data_lines(
        {"description": "LIAR", "rows": {"train": 10}, "fake_share_train": 0.4, "sha256": "ab" * 32}
    )
    assert lines[0] == "LIAR" and "train 10" in lines[1] and "40%" in lines[2]
    short = highlight.key_metrics(highlight.metrics_frame({"m": {"accuracy": 0.812, "ece": 0.05}}))
    assert short is not None and list(short.columns) == ["acc", "ECE"]


class _Manifest:
    member_kinds: ClassVar[dict[str, str]] = {"tfidf": "tfidf", "bert": "transformer"}


class TokenDetector(StubDetector):
    """A stand-in with a transformer member whose attributions can succeed or fail."""

    member_names: ClassVar[list[str]] = ["tfidf", "bert"]
    manifest = _Manifest()

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.calls = 0

    def explain(self, text: str, top_k: int = 15) -> list[tuple[str, float]]:
        return [("moon", 0.5)]

    def token_attributions(self, text: str) -> list[tuple[str, float]] | None:
        self.calls += 1
        if self.fail:
            raise RuntimeError("no gradients")
        return [("<b>", 0.2), ("moon", 0.7)]


def test_first_result_comes_without_token_attributions_which_are_added_once() -> None:
    detector = TokenDetector()
    assert upload.has_transformer(detector)
    analysis = upload.analyse_text(detector, upload.prepare_text("the moon is cheese", 100))
    assert analysis.label in {"real", "fake"} and analysis.contributions == [("moon", 0.5)]
    assert not analysis.tokens_done and detector.calls == 0
    upload.add_token_attributions(detector, analysis)
    upload.add_token_attributions(detector, analysis)
    assert detector.calls == 1 and analysis.token_attributions == [("<b>", 0.2), ("moon", 0.7)]
    failing = TokenDetector(fail=True)
    broken = upload.add_token_attributions(
        failing, upload.analyse_text(failing, upload.prepare_text("the moon is cheese", 100))
    )
    assert broken.token_attributions is None and "RuntimeError" in (broken.token_note or "")


def test_text_limit_and_transformer_note() -> None:
    detector = TokenDetector()
    assert upload.text_limit(detector) == upload.APP_MAX_CHARS  # max_chars 200 is smaller
    assert upload.transformer_note(detector, 150) is None
    note = upload.transformer_note(detector, 5_000)
    assert note is not None and "first 200 characters" in note and "5,000" in note
    assert upload.transformer_note(StubDetector(), 5_000) is None  # no transformer loaded
