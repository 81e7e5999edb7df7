"""The offline experiment end to end on synthetic data: tuning stays inside the training split."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.data import synthetic_movielens
from recsys.evaluation import results_table
from recsys.experiment import ranked_models, run_offline_experiment
from recsys.models.registry import make_model
from recsys.recipes import recipe_for
from recsys.splitting import split_per_user, validation_split
from recsys.tuning import grid_search


@pytest.fixture(scope="module")
def world():
    data = synthetic_movielens(n_users=80, n_items=120, seed=2)
    return data, split_per_user(data.ratings, data.n_users, data.n_items, seed=2)


def test_validation_split_never_sees_test(world):
    _, split = world
    v = validation_split(split)
    test_keys = set(zip(split.test.user, split.test.item, strict=True))
    val_keys = set(zip(v.train.user, v.train.item, strict=True)) | set(
        zip(v.test.user, v.test.item, strict=True)
    )
    assert not test_keys & val_keys


def test_grid_search_maximises_ndcg_and_minimises_rmse(world):
    data, split = world
    v = validation_split(split)
    ndcg = grid_search(lambda **p: make_model("EASE", data.items, **p), {"l2": [1.0, 1e6]}, v)
    assert ndcg.best_score == ndcg.table["ndcg"].max()
    rmse = grid_search(
        lambda **p: make_model("ExplicitMF", data.items, **p),
        {"factors": [4], "l2": [0.05, 50.0], "iterations": [3]},
        v,
        metric="rmse",
    )
    assert rmse.best_score == rmse.table["rmse"].min()


def test_offline_experiment_runs_and_aligns_users(world):
    data, split = world
    recipe = recipe_for("smoke", models=["MostPopular", "EASE", "Hybrid"])
    exp = run_offline_experiment(recipe, data, split)
    users = [r.users for r in exp.results.values()]
    assert all(np.array_equal(users[0], u) for u in users)
    table = results_table(exp.results, n_resamples=500)
    assert (table["ndcg@10 low"] <= table["ndcg@10"]).all()
    assert (table["ndcg@10"] <= table["ndcg@10 high"]).all()
    assert ranked_models(exp.results)[-1] == "MostPopular"
