"""The scikit-learn members on a tiny corpus, and the typed member registry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from misinfo.data import synthetic_splits
from misinfo.features import FEATURE_NAMES
from misinfo.models import FeatureModel, MemberKind, TfidfLogReg


@pytest.fixture(scope="module")
def splits():
    return synthetic_splits(n=300, seed=1)


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


def test_feature_inputs_log_only_the_heavy_tailed_counts() -> None:
    raw = pd.DataFrame([[float(i + 1) for i in range(len(FEATURE_NAMES))]], columns=FEATURE_NAMES)
    x = FeatureModel.inputs(raw)[0]
    position = {name: i for i, name in enumerate(FEATURE_NAMES)}
    assert x[position["n_chars"]] == pytest.approx(np.log1p(1.0))
    assert x[position["url_count"]] == pytest.approx(np.log1p(position["url_count"] + 1.0))
    assert x[position["avg_word_len"]] == position["avg_word_len"] + 1.0


def test_every_member_kind_saves_and_loads_through_the_registry(splits, tmp_path: Path) -> None:
    tr, te = splits["train"], splits["test"]
    for member in (
        TfidfLogReg(min_df=1).fit(tr["text"], tr["label"]),
        FeatureModel().fit(tr["text"], tr["label"]),
    ):
        kind = MemberKind(str(member.kind))
        assert kind.member_class() is type(member)
        path = tmp_path / member.artifact_name("m")
        member.save(path)
        loaded = kind.member_class().load(path, name="m")
        assert loaded.name == "m" and loaded.kind is kind
        assert np.allclose(
            loaded.decision_function(te["text"]), member.decision_function(te["text"])
        )
    from misinfo.transformer import TransformerClassifier

    assert MemberKind("transformer").member_class() is TransformerClassifier
    assert TransformerClassifier.artifact_name("bert") == "bert"
    with pytest.raises(ValueError):
        MemberKind("pickle")
