"""Fixtures shared by the misinformation tests: quick models on disk and a stand-in detector."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="session")
def mis_app_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Quick synthetic models (seconds to train), shared by the app, CLI and browser tests."""
    folder = tmp_path_factory.getbasetemp() / "mis_app_models"
    if not (folder / "manifest.json").is_file():
        from misinfo.train import train_to

        train_to(folder, recipe="quick", data="synthetic")
    return folder


class StubDetector:
    """Stands in for ``Detector``: p_fake = length / 100 (capped at 1), so each prediction can
    be traced back to its row; refuses empty texts as the real one does."""

    member_names: ClassVar[list[str]] = ["tfidf"]
    max_chars = 200

    def __init__(self) -> None:
        self.seen: list[str] = []

    def predict(self, texts: list[str]) -> pd.DataFrame:
        assert all(t.strip() for t in texts), "empty texts must never reach the detector"
        self.seen.extend(texts)
        p = np.minimum(np.array([len(t) for t in texts], dtype=float) / 100, 1.0)
        return pd.DataFrame(
            {
                "label": np.where(p >= 0.5, "fake", "real"),
                "confidence": np.maximum(p, 1 - p),
                "p_fake": p,
                "p_fake_tfidf": p,
            }
        )


@pytest.fixture
def stub_detector() -> StubDetector:
    """A fresh stand-in detector (it records the texts it was given in ``seen``)."""
    return StubDetector()
