"""The online study: both models' lists, one population, and each design reporting itself."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlshared.run import write_metrics_json
from recsys.data import synthetic_movielens
from recsys.experiment import run_offline_experiment
from recsys.online import prepare_online_study
from recsys.recipes import recipe_for


@pytest.fixture(scope="module")
def study():
    data = synthetic_movielens(n_users=60, n_items=80, seed=4)
    recipe = recipe_for(
        "smoke", models=["MostPopular", "EASE"], ab_control="MostPopular", ab_visitors=3000
    )
    experiment = run_offline_experiment(recipe, data)
    return prepare_online_study(experiment, treatment="EASE")


def test_both_models_rank_every_user_without_seen_items(study):
    train = study.preference.heldout.shape
    for recs in study.recs.values():
        assert recs.shape == (train[0], 10)
    assert study.plan["visitors_per_arm"] == pytest.approx(
        study.plan["impressions_per_arm"] / study.plan["impressions_per_visitor"]
    )


def test_ab_test_and_interleaving_report_json(study, tmp_path):
    ab, arrays = study.run_ab_test()
    assert ab.n_control + ab.n_treatment == 3000
    assert arrays["clicks"].shape == (3000,)
    il = study.interleaving()
    sizes = il.sample_sizes(ab.variance_reduction)
    assert sizes["A/B + CUPED (both arms)"] == pytest.approx(
        il.ab_total_n * (1 - ab.variance_reduction)
    )
    path = write_metrics_json(tmp_path / "m.json", {"ab": ab.to_metrics(), "il": il.to_metrics()})
    for payload in json.loads(path.read_text())["metrics"].values():
        assert all(np.isscalar(v) or v is None for v in payload.values())
    assert il.to_metrics()["ratio"] == pytest.approx(il.ab_total_n / il.interleaving_n)
