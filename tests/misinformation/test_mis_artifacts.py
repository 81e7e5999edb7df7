"""Artifacts round trip through the Detector, and the errors the app shows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from misinfo.artifacts import ArtifactError, load_manifest, load_skops, save_skops
from misinfo.detector import load_detector
from misinfo.train import train_to


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_to(
        tmp_path_factory.mktemp("models"), recipe="quick", data="synthetic", synthetic_size=300
    )


def test_detector_predicts_with_the_contract_columns(artifacts: Path) -> None:
    det = load_detector(artifacts)
    assert det.member_names == ["tfidf", "features"]
    out = det.predict(
        ["SHOCKING cover-up exposed! Share!", "Officials said spending rose 3 percent."]
    )
    assert list(out.columns) == ["label", "confidence", "p_fake", "p_fake_tfidf", "p_fake_features"]
    assert out["label"].tolist() == ["fake", "real"]
    assert np.all((out["confidence"] >= 0.5) & (out["confidence"] <= 1))
    assert np.allclose(
        out["confidence"], np.where(out["label"] == "fake", out["p_fake"], 1 - out["p_fake"])
    )
    words = det.explain("SHOCKING cover-up exposed! Share!", top_k=3)
    assert len(words) == 3 and all(isinstance(w, str) and isinstance(c, float) for w, c in words)
    assert det.token_attributions("any text") is None  # no transformer in the quick recipe
    assert det.max_chars == det.max_length * 4


def test_empty_text_is_a_clear_error(artifacts: Path) -> None:
    det = load_detector(artifacts)
    with pytest.raises(ValueError, match="empty"):
        det.predict(["fine", "   "])
    with pytest.raises(TypeError):
        det.predict("a single string")


def test_manifest_contents(artifacts: Path) -> None:
    m = load_manifest(artifacts)
    assert m.label_names == ["real", "fake"]
    assert set(m.temperatures) == {"tfidf", "features"}
    assert "features+tfidf" in m.ensemble
    assert set(m.files) == {"tfidf.skops", "features.skops"}
    assert len(m.training_data["sha256"]) == 64 and "synthetic" in m.training_data["description"]
    assert {"accuracy", "macro_f1", "roc_auc", "ece"} <= set(m.metrics["ensemble"])
    assert "q50" in m.feature_distribution["n_chars"]
    assert m.versions["scikit-learn"]


def test_subset_of_members(artifacts: Path) -> None:
    det = load_detector(artifacts, members=["tfidf"])
    assert list(det.predict(["some text"]).columns) == [
        "label",
        "confidence",
        "p_fake",
        "p_fake_tfidf",
    ]
    with pytest.raises(ArtifactError, match="available"):
        load_detector(artifacts, members=["bert"])


def test_hash_mismatch_is_refused(artifacts: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(artifacts, copy)
    with open(copy / "tfidf.skops", "ab") as handle:
        handle.write(b"tampered")
    with pytest.raises(ArtifactError, match="hash mismatch"):
        load_detector(copy)
    (copy / "tfidf.skops").unlink()
    with pytest.raises(ArtifactError, match="missing"):
        load_detector(copy)


def test_missing_models_say_how_to_get_them(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match=r"misinfo\.train --recipe quick"):
        load_detector(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ArtifactError, match=r"manifest\.json is missing"):
        load_detector(tmp_path / "empty")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "manifest.json").write_text("{not json")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        load_manifest(bad)
    (bad / "manifest.json").write_text(json.dumps({"manifest_version": 99}))
    with pytest.raises(ArtifactError, match="manifest_version"):
        load_manifest(bad)


def test_skops_refuses_untrusted_types(tmp_path: Path) -> None:
    from sklearn.ensemble import RandomForestClassifier

    path = save_skops(
        RandomForestClassifier(n_estimators=2).fit([[0], [1]], [0, 1]), tmp_path / "rf.skops"
    )
    with pytest.raises(ArtifactError, match="trusted"):
        load_skops(path)


def test_max_length_override_and_no_warm_up(artifacts: Path) -> None:
    det = load_detector(artifacts, max_length=100, warm_up=False)
    assert det.max_length == 100 and det.max_chars == 400
    assert load_manifest(artifacts).max_length == 256  # the saved value is untouched
