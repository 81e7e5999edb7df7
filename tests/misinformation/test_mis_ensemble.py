"""Ensemble combiners: voting weights, stacking, selection, the ensemble key."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit
from sklearn.metrics import roc_auc_score

from misinfo.ensemble import (
    Ensemble,
    ensemble_key,
    fit_ensemble,
    fit_stacker,
    fit_voting_weights,
    soft_vote,
)


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


def test_soft_vote_is_the_log_odds_of_the_weighted_mean_and_stays_finite() -> None:
    z = np.array([[2.0, -1.0], [0.0, 0.0], [800.0, 800.0], [-800.0, -800.0]])
    w = np.array([0.25, 0.75])
    out = soft_vote(z, w)
    p = expit(z) @ w
    assert out[:2] == pytest.approx(np.log(p[:2] / (1 - p[:2])))
    assert np.all(np.isfinite(out)) and out[2] == pytest.approx(-out[3]) and out[2] > 13


def test_ensemble_key_ignores_member_order() -> None:
    assert ensemble_key(["tfidf", "features", "bert"]) == "bert+features+tfidf"
    assert ensemble_key(("b", "a")) == ensemble_key({"a": 1, "b": 2})
