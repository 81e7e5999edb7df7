"""Safe HTML (misinfo.highlight): user text and vocabulary terms always escaped, the only
tags the ones the module builds itself."""

from __future__ import annotations

import re

from misinfo import highlight

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


def test_apostrophe_words_take_the_vectorizers_stem() -> None:
    out = highlight.highlight_html("They don't say", [("don", 0.4)])
    assert 'toward fake">don&#x27;t</span>' in out
