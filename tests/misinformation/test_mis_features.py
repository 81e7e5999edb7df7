"""Text features: known values on hand-made texts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from misinfo.features import FEATURE_NAMES, feature_quantiles, text_features


def test_feature_values_on_known_text() -> None:
    f = text_features(
        ["WOW this is HUGE!! Really?", "The committee said 3 of 4 members agreed."]
    ).iloc
    shout, calm = f[0], f[1]
    assert shout["exclamations"] == pytest.approx(2 * 100 / 5)
    assert shout["questions"] == pytest.approx(100 / 5)
    assert shout["all_caps_words"] == pytest.approx(2 / 5)
    assert shout["capitals_ratio"] > calm["capitals_ratio"]
    assert calm["number_density"] == pytest.approx(2 / 8)
    assert calm["n_words"] == 8
    assert shout["sentiment_compound"] != 0
    assert -100 < calm["flesch_reading_ease"] < 130


def test_empty_text_gives_zeros_not_errors() -> None:
    f = text_features(["", "   "])
    assert list(f.columns) == FEATURE_NAMES
    assert f.loc[1, "n_chars"] == 3
    assert np.allclose(f.drop(columns="n_chars").to_numpy(), 0.0)


def test_single_string_is_rejected() -> None:
    with pytest.raises(TypeError):
        text_features("a text")


def test_quantiles() -> None:
    df = pd.DataFrame({"n_chars": np.arange(101, dtype=float)})
    stats = feature_quantiles(df)["n_chars"]
    assert stats["q50"] == pytest.approx(50) and stats["q05"] == pytest.approx(5)
    assert stats["mean"] == pytest.approx(50) and stats["std"] == pytest.approx(
        np.arange(101).std()
    )
