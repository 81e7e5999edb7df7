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
