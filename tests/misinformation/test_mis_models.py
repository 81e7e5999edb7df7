"""Each member on a tiny corpus, temperature scaling, and the ensemble combiners."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from misinfo.data import synthetic_splits
from misinfo.ensemble import Ensemble, fit_ensemble, fit_stacker, fit_voting_weights
from misinfo.models import FeatureModel, TfidfLogReg, logit, sigmoid


@pytest.fixture(scope="module")
def splits():
    return synthetic_splits(n=300, seed=1)


def test_sigmoid_logit_roundtrip() -> None:
    z = np.array([-800.0, -3.0, 0.0, 2.5, 800.0])
    p = sigmoid(z)
    assert np.all(np.isfinite(p)) and p[0] == 0.0 and p[-1] == 1.0
    assert np.allclose(logit(sigmoid(z[1:4])), z[1:4])


def test_tfidf_model_learns_and_explains(splits, tmp_path: Path) -> None:
    tr, te = splits["train"], splits["test"]
    model = TfidfLogReg(min_df=1).fit(tr["text"], tr["label"])
    p = model.predict_proba(te["text"])
    assert p.shape == (len(te), 2) and np.allclose(p.sum(1), 1)
    assert roc_auc_score(te["label"], p[:, 1]) > 0.8
    words = model.explain("SHOCKING cover-up exposed! Share before it's deleted!", top_k=5)
    assert len(words) == 5 and all(" " not in w for w, _ in words)
    assert sum(c for _, c in words) > 0  # fake-style words push toward fake
    loaded = TfidfLogReg.load(model.save(tmp_path / "t.skops"))
    assert np.allclose(loaded.decision_function(te["text"]), model.decision_function(te["text"]))


def test_feature_model_learns(splits, tmp_path: Path) -> None:
    tr, te = splits["train"], splits["test"]
    model = FeatureModel().fit(tr["text"], tr["label"])
    z = model.decision_function(te["text"])
    assert roc_auc_score(te["label"], z) > 0.75
    assert model.coefficients().index[0] in model.coefficients().index
    loaded = FeatureModel.load(model.save(tmp_path / "f.skops"))
    assert np.allclose(loaded.decision_function(te["text"]), z)


def test_voting_weights_prefer_the_informative_member() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 3000)
    good = (2 * y - 1) * 2.0 + rng.normal(0, 1, y.size)
    noise = rng.normal(0, 1, y.size)
    w = fit_voting_weights(np.column_stack([good, noise]), y)
    assert w.sum() == pytest.approx(1.0) and w[0] > 0.8
    _b, a = fit_stacker(np.column_stack([good, noise]), y)
    assert a[0] > 5 * abs(a[1])


def test_fit_ensemble_selects_and_roundtrips() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 600)
    z = np.column_stack(
        [(2 * y - 1) + rng.normal(0, 1, y.size), (2 * y - 1) + rng.normal(0, 1.5, y.size)]
    )
    ens, oof = fit_ensemble(z, y, ["a", "b"])
    assert ens.method in ("voting", "stacking") and set(oof) == {"voting", "stacking"}
    assert ens.temperature > 0
    p = ens.p_fake(z)
    assert p.shape == (600,) and np.all((p > 0) & (p < 1))
    assert roc_auc_score(y, p) > roc_auc_score(y, z[:, 1])
    again = Ensemble.from_dict(ens.to_dict())
    assert np.allclose(again.p_fake(z), p)
    forced, _ = fit_ensemble(z, y, ["a", "b"], method="stacking")
    assert forced.method == "stacking"
    with pytest.raises(ValueError):
        fit_ensemble(z, y, ["a", "b"], method="median")


def test_tiny_transformer_trains_saves_and_attributes(splits, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from misinfo.transformer import TransformerClassifier, build_tiny_bert, length_bucketed_batches

    torch.set_num_threads(1)
    tr = splits["train"].head(80)
    folder = build_tiny_bert(tr["text"], tmp_path / "tiny", vocab_size=300, hidden=32, layers=1)
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
