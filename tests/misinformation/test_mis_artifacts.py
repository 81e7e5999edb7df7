"""Artifacts round trip through the Detector, the folder's integrity checks, and the errors
the app shows."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import misinfo.artifacts as artifacts_module
from misinfo.artifacts import (
    ArtifactError,
    folder_fingerprint,
    load_manifest,
    load_skops,
    save_skops,
)
from misinfo.data import synthetic_corpus
from misinfo.detector import load_detector
from misinfo.models import TfidfLogReg

EditManifest = Callable[..., None]


@pytest.fixture
def artifacts(quick_models: Path) -> Path:
    return quick_models


@pytest.fixture
def copy(quick_models: Path, tmp_path: Path) -> Path:
    """A copy of the quick models that a test may tamper with."""
    return Path(shutil.copytree(quick_models, tmp_path / "models"))


def test_detector_predicts_with_the_contract_columns(artifacts: Path) -> None:
    det = load_detector(artifacts)
    assert det.member_names == ["tfidf", "chars", "features"]
    out = det.predict(
        ["SHOCKING cover-up exposed! Share!", "Officials said spending rose 3 percent."]
    )
    assert list(out.columns) == [
        "label",
        "confidence",
        "p_fake",
        "p_fake_tfidf",
        "p_fake_chars",
        "p_fake_features",
    ]
    assert out["label"].tolist() == ["fake", "real"]
    assert np.all((out["confidence"] >= 0.5) & (out["confidence"] <= 1))
    assert np.allclose(
        out["confidence"], np.where(out["label"] == "fake", out["p_fake"], 1 - out["p_fake"])
    )
    words = det.explain("SHOCKING cover-up exposed! Share!", top_k=3)
    assert len(words) == 3 and all(isinstance(w, str) and isinstance(c, float) for w, c in words)
    assert det.token_attributions("any text") is None  # no transformer in the quick recipe
    assert not det.has_transformer
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
    assert set(m.temperatures) == {"tfidf", "chars", "features"}
    assert "features+tfidf" in m.ensemble
    assert set(m.files) == {
        "tfidf.skops",
        "chars.skops",
        "features.skops",
        "domain/tfidf.skops",
        "domain/reference.npz",
    }
    assert m.member_kinds == {"tfidf": "tfidf", "chars": "tfidf", "features": "features"}
    assert m.recipe["name"] == "quick"
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


def test_hash_mismatch_is_refused(copy: Path) -> None:
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
    for text, problem in (("{not json", "not valid JSON"), ('{"manifest_version": 99}', "99")):
        (bad / "manifest.json").write_text(text)
        with pytest.raises(ArtifactError, match=r"manifest\.sha256 is missing"):
            load_manifest(bad)
        digest = hashlib.sha256(text.encode()).hexdigest()
        (bad / "manifest.sha256").write_text(f"{digest}  manifest.json\n")
        with pytest.raises(ArtifactError, match=problem):
            load_manifest(bad)
        (bad / "manifest.sha256").unlink()


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


# ------------------------------------------------------------------ folder integrity


def test_the_manifest_hash_catches_an_edited_threshold(
    copy: Path, edit_manifest: EditManifest
) -> None:
    edit_manifest(copy, lambda m: m.update(threshold=0.05), rehash=False)
    with pytest.raises(ArtifactError, match=r"manifest\.json in models does not match"):
        load_detector(copy)
    (copy / "manifest.sha256").unlink()
    with pytest.raises(ArtifactError, match=r"manifest\.sha256 is missing"):
        load_detector(copy)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A real skops model outside the models folder, as an attacker would plant it."""
    from sklearn.linear_model import LogisticRegression

    planted = tmp_path / "elsewhere" / "model.skops"
    planted.parent.mkdir()
    return save_skops(LogisticRegression().fit([[0.0], [1.0]], [0, 1]), planted)


def _spy_on_reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every file the artifacts module hashes or loads."""
    opened: list[Path] = []
    for name in ("sha256_file", "load_skops"):
        real = getattr(artifacts_module, name)

        def spy(path: str | Path, _real: Callable[..., object] = real) -> object:
            opened.append(Path(path).resolve())
            return _real(path)

        monkeypatch.setattr(artifacts_module, name, spy)
    import misinfo.models as models_module

    monkeypatch.setattr(models_module, "load_skops", artifacts_module.load_skops)
    return opened


@pytest.mark.parametrize(
    "member_path", ["../elsewhere/model.skops", "{outside}", "sub/../../elsewhere/model.skops"]
)
@pytest.mark.parametrize("listed", [False, True])
def test_member_paths_outside_the_folder_are_refused_without_opening_them(
    copy: Path,
    outside: Path,
    edit_manifest: EditManifest,
    monkeypatch: pytest.MonkeyPatch,
    member_path: str,
    listed: bool,
) -> None:
    rel = member_path.format(outside=outside)
    real_hash = hashlib.sha256(outside.read_bytes()).hexdigest()

    def point_outside(m: dict) -> None:
        m["member_paths"]["tfidf"] = rel
        if listed:  # a wrong hash for the outside file must not leak its real one
            m["files"][rel] = "0" * 64

    edit_manifest(copy, point_outside, rehash=True)
    opened = _spy_on_reads(monkeypatch)
    with pytest.raises(ArtifactError, match="not a path inside the models folder") as info:
        load_detector(copy, warm_up=False)
    message = str(info.value)
    assert real_hash[:6] not in message and str(outside.parent) not in message.replace(rel, "")
    assert outside not in opened and not any("elsewhere" in str(p) for p in opened)


def test_a_link_inside_the_folder_to_an_outside_file_is_refused(
    copy: Path, outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (copy / "tfidf.skops").unlink()
    (copy / "tfidf.skops").symlink_to(outside)
    opened = _spy_on_reads(monkeypatch)
    with pytest.raises(ArtifactError, match="not a path inside the models folder"):
        load_detector(copy, warm_up=False)
    assert outside not in opened


def test_a_member_not_listed_in_the_hashes_is_refused(
    copy: Path, edit_manifest: EditManifest
) -> None:
    shutil.copy(copy / "tfidf.skops", copy / "other.skops")
    edit_manifest(copy, lambda m: m["member_paths"].update(tfidf="other.skops"), rehash=True)
    with pytest.raises(ArtifactError, match="not listed in the manifest's file hashes"):
        load_detector(copy, warm_up=False)


def test_an_unlisted_file_in_a_member_folder_is_refused(
    copy: Path, edit_manifest: EditManifest
) -> None:
    """A transformer member is a folder: a file dropped into it (a pickled pytorch_model.bin
    beside the safetensors, say) must not ride along unchecked."""
    folder = copy / "fake_transformer"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    listed = hashlib.sha256(b"{}").hexdigest()
    (folder / "pytorch_model.bin").write_bytes(b"not listed")

    def add_member(m: dict) -> None:
        m["members"].append("bert")
        m["member_kinds"]["bert"] = "transformer"
        m["member_paths"]["bert"] = "fake_transformer"
        m["files"]["fake_transformer/config.json"] = listed

    edit_manifest(copy, add_member, rehash=True)
    with pytest.raises(ArtifactError, match=r"does not list: \['fake_transformer/pytorch_model"):
        load_detector(copy, members=["bert"], warm_up=False)


def test_an_unknown_member_kind_is_refused(copy: Path, edit_manifest: EditManifest) -> None:
    edit_manifest(copy, lambda m: m["member_kinds"].update(tfidf="pickle"), rehash=True)
    with pytest.raises(ArtifactError, match="unknown member kind 'pickle'"):
        load_detector(copy, warm_up=False)


def test_a_change_after_loading_is_noticed(copy: Path, edit_manifest: EditManifest) -> None:
    """The app keys its loaded models by this fingerprint: any change means a new load."""
    before = folder_fingerprint(copy)
    assert load_detector(copy, warm_up=False) and folder_fingerprint(copy) == before
    with open(copy / "features.skops", "ab") as handle:
        handle.write(b"x")
    changed = folder_fingerprint(copy)
    assert changed != before
    with pytest.raises(ArtifactError, match=r"hash mismatch for features\.skops in models"):
        load_detector(copy, warm_up=False)
    edit_manifest(copy, lambda m: m.update(created="later"), rehash=True)
    assert folder_fingerprint(copy) != changed
    assert folder_fingerprint(copy / "missing") == "missing"


# ------------------------------------------------------------------ the out-of-domain check


def test_the_out_of_domain_check_is_saved_hash_checked_and_served(artifacts: Path) -> None:
    manifest = load_manifest(artifacts)
    assert manifest.domain["path"] == "domain" and manifest.domain["space"] == "tfidf"
    assert {"domain/tfidf.skops", "domain/reference.npz"} <= set(manifest.files)
    rates = manifest.domain["flag_rates"]
    assert set(rates) == {"target", "valid", "test"} and rates["target"] == 0.05
    det = load_detector(artifacts, warm_up=False)
    assert det.has_domain_check and det.domain is not None
    assert det.domain.threshold == manifest.domain["threshold"]
    in_domain = synthetic_corpus(n=1, seed=99)["text"][0]  # a new text of the training kind
    out = det.domain_check([in_domain, "Knead the dough well and let it rise overnight."])
    assert list(out.columns) == ["ood_score", "out_of_domain"]
    assert out["out_of_domain"].tolist() == [False, True]
    with pytest.raises(ValueError, match="empty"):
        det.domain_check(["fine", " "])


@pytest.mark.parametrize(
    "tamper, problem",
    [
        (lambda f: f.joinpath("domain", "reference.npz").write_bytes(b"x"), "hash mismatch"),
        (lambda f: f.joinpath("domain", "extra.npy").write_bytes(b"x"), "does not list"),
    ],
)
def test_a_changed_out_of_domain_check_is_refused(
    copy: Path, tamper: Callable[[Path], object], problem: str
) -> None:
    tamper(copy)
    with pytest.raises(ArtifactError, match=problem):
        load_detector(copy, warm_up=False)


def test_an_out_of_domain_path_outside_the_folder_is_refused(
    copy: Path, edit_manifest: EditManifest
) -> None:
    edit_manifest(copy, lambda m: m["domain"].update(path="../domain"), rehash=True)
    with pytest.raises(
        ArtifactError, match=r"out-of-domain path '\.\./domain' is not a path inside"
    ):
        load_detector(copy, warm_up=False)


def test_models_without_the_check_load_and_say_so(copy: Path, edit_manifest: EditManifest) -> None:
    """Folders trained before the check existed keep working; asking them for it is an error
    that says to retrain, never a silent 'in domain'."""
    shutil.rmtree(copy / "domain")

    def drop(m: dict) -> None:
        del m["domain"]
        m["files"] = {k: v for k, v in m["files"].items() if not k.startswith("domain/")}

    edit_manifest(copy, drop, rehash=True)
    det = load_detector(copy)
    assert not det.has_domain_check
    with pytest.raises(ArtifactError, match=r"no out-of-domain check.*retrain"):
        det.domain_check(["any text"])


def test_a_folder_of_model_sets_is_listed_and_loading_it_names_the_sets(
    quick_models: Path, tmp_path: Path
) -> None:
    from misinfo.artifacts import load_cross_scores, model_sets, save_cross_scores

    assert model_sets(quick_models) == {quick_models.name: quick_models}
    assert model_sets(tmp_path / "missing") == {}
    for name in ("liar", "constraint"):
        shutil.copytree(quick_models, tmp_path / "models" / name)
    (tmp_path / "models" / "notes").mkdir()  # a folder without a manifest is not a set
    assert list(model_sets(tmp_path / "models")) == ["constraint", "liar"]
    with pytest.raises(ArtifactError, match=r"holds 2 model sets \(constraint, liar\)"):
        load_detector(tmp_path / "models", warm_up=False)
    assert load_cross_scores(tmp_path / "models" / "liar") == {}
    save_cross_scores(tmp_path / "models" / "liar", {"liar": {"n": 3, "accuracy": 0.5}})
    assert load_cross_scores(tmp_path / "models" / "liar") == {"liar": {"n": 3.0, "accuracy": 0.5}}
    load_detector(tmp_path / "models" / "liar", warm_up=False)  # the extra file is no member


def test_explanations_come_from_the_word_model_only(artifacts: Path) -> None:
    det = load_detector(artifacts)
    words = dict(det.explain("SHOCKING cover-up exposed! Share!"))
    assert words and all(" " not in w for w in words)  # words, not character n-grams
    with pytest.raises(ValueError, match="character n-grams"):
        det.members["chars"].explain("SHOCKING cover-up exposed!")
    with pytest.raises(ValueError, match="analyzer must be one of"):
        TfidfLogReg(analyzer="char")
