"""Shared fixtures of the misinformation tests: trained model folders, offline hub access.

Nothing here downloads: the Hugging Face hub and datasets libraries are switched to offline
mode before either is imported, so a test that would reach the network fails at once instead.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def train_to(
    directory: str | Path, recipe: str = "quick", data: str = "synthetic", **overrides: Any
) -> Path:
    """Train ``recipe`` on ``data`` into ``directory`` (seconds for quick/synthetic) and return
    the folder, ready for ``load_detector``."""
    from misinfo.train import train

    outcome = train(recipe, data, directory, log=None, **overrides)
    assert outcome.artifacts_dir is not None
    return outcome.artifacts_dir


@pytest.fixture(scope="session")
def quick_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Quick synthetic models, trained once per session (the app, browser and artifacts tests
    share them; tests that change a folder work on a copy)."""
    folder = tmp_path_factory.getbasetemp() / "quick_models"
    if not (folder / "manifest.json").is_file():
        train_to(folder)
    return folder


def rewrite_manifest(folder: Path, change: Callable[[dict[str, Any]], None], rehash: bool) -> None:
    """Edit manifest.json with ``change``; ``rehash`` also rewrites manifest.sha256, as someone
    who knows the format would, so the checks behind the manifest hash are tested too."""
    path = folder / "manifest.json"
    data = json.loads(path.read_text())
    change(data)
    text = json.dumps(data, indent=2)
    path.write_text(text)
    if rehash:
        digest = hashlib.sha256(text.encode()).hexdigest()
        (folder / "manifest.sha256").write_text(f"{digest}  manifest.json\n")


@pytest.fixture
def edit_manifest() -> Callable[..., None]:
    """``rewrite_manifest`` as a fixture (test modules do not import conftest)."""
    return rewrite_manifest


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
