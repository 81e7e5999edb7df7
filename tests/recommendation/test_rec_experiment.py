"""The offline experiment end to end on synthetic data: tuning stays inside the training split."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from mlshared.run import write_metrics_json
from recsys.comparison import ranked_models
from recsys.data import synthetic_movielens, write_ml100k_files
from recsys.evaluation import results_table
from recsys.experiment import load_data, run_offline_experiment
from recsys.models.ease import EASE
from recsys.models.registry import make_model
from recsys.recipes import recipe_for
from recsys.splitting import split_per_user, validation_split
from recsys.tuning import grid_search

# Toy grids often choose an end value; the warning is tested in test_rec_tuning.py.
pytestmark = pytest.mark.filterwarnings("ignore::recsys.tuning.GridEdgeWarning")


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


@pytest.fixture(scope="module")
def small_experiment(world):
    data, split = world
    recipe = recipe_for(
        "smoke", models=["MostPopular", "EASE", "ContentTFIDF", "Hybrid"], n_bootstrap=300
    )
    return run_offline_experiment(recipe, data, split)


def test_experiment_reports_itself_as_json(small_experiment, tmp_path):
    exp = small_experiment
    path = write_metrics_json(tmp_path / "m.json", exp.to_metrics())
    payload = json.loads(path.read_text())["metrics"]
    assert set(payload) == {
        "protocol",
        "best_params",
        "validation_ndcg",
        "grid_edges",
        "tuning_grids",
        "test",
    }
    assert set(payload["grid_edges"]) == set(payload["tuning_grids"]) == set(exp.recipe.models)
    assert payload["tuning_grids"]["EASE"][0]["ndcg"] == exp.tuning_tables["EASE"]["ndcg"][0]
    assert [row["model"] for row in payload["test"]] == exp.table.index.tolist()
    assert payload["protocol"]["k"] == 10
    assert exp.tuning_summary().index.tolist() == list(exp.recipe.models)


def test_comparison_names_the_best_and_its_holm_p(small_experiment):
    comparison = small_experiment.compare()
    assert comparison.best == ranked_models(small_experiment.results)[0]
    p = comparison.p_holm(comparison.best, "MostPopular")
    assert p == comparison.p_holm("MostPopular", comparison.best) and 0 < p <= 1
    with pytest.raises(KeyError, match="no comparison of 'EASE' with 'ALS'"):
        comparison.p_holm("EASE", "ALS")
    assert comparison.best_vs_runner_up().shape == small_experiment.results["EASE"].users.shape
    assert comparison.to_metrics()["verdict"].startswith(comparison.best)


def test_cold_start_leaves_cf_blind_and_content_seeing(small_experiment):
    cold = small_experiment.cold_start()
    assert cold.table.loc["EASE", "recall@10"] == 0
    assert cold.table.loc["ContentTFIDF", "recall@10"] > 0
    assert [row["model"] for row in cold.to_metrics()] == list(small_experiment.recipe.cold_models)


def test_load_data_follows_the_recipe(tmp_path):
    smoke = recipe_for("smoke", synthetic_users=30, synthetic_items=40)
    assert load_data(smoke).summary()["items"] == 40
    write_ml100k_files(synthetic_movielens(20, 30, seed=1), tmp_path)
    assert load_data(recipe_for("cpu"), tmp_path).name == "ml-100k"


def test_hybrid_grid_fits_the_ease_inverse_once_per_training_set(world, monkeypatch):
    data, split = world
    fits = []
    original = EASE.fit
    monkeypatch.setattr(EASE, "fit", lambda self, train: fits.append(1) or original(self, train))
    grids = recipe_for("smoke").grids | {"Hybrid": {"cf_weight": [0.5, 0.9], "beta": [2.0, 10.0]}}
    recipe = recipe_for("smoke", models=["EASE", "Hybrid"], grids=grids, n_bootstrap=200)
    exp = run_offline_experiment(recipe, data, split)
    assert len(exp.tuning_tables["Hybrid"]) == 4
    # EASE: one grid point + its test fit; Hybrid: one validation fit for all 4 points + test fit
    assert len(fits) == 4


def test_reference_check_agrees_with_scikit_learn_and_finds_no_seen_items(small_experiment):
    check = small_experiment.reference_check()
    assert check.index.tolist() == list(small_experiment.recipe.models)
    assert (check["abs diff"] < 1e-12).all()
    assert (check["training items listed"] == 0).all()
    assert (check["users checked"] == small_experiment.results["EASE"].users.size).all()


def test_reference_check_catches_wrong_lists_and_seen_items(small_experiment):
    exp = small_experiment
    ease = exp.results["EASE"]
    train = exp.split.train_matrix()[ease.users]
    seen_first = ease.recommendations.copy()
    seen_first[:, 0] = train.indices[train.indptr[:-1]]  # each user's first training item
    broken = dataclasses.replace(
        exp, results={"EASE": dataclasses.replace(ease, recommendations=seen_first)}
    )
    check = broken.reference_check().loc["EASE"]
    assert check["abs diff"] > 1e-3
    assert check["training items listed"] == ease.users.size


def test_given_parameters_are_used_without_tuning(small_experiment, world):
    data, split = world
    exp = small_experiment
    again = run_offline_experiment(exp.recipe, data, split, params=exp.best_params)
    assert again.validation_scores == {} and again.best_params == exp.best_params
    for name in exp.recipe.models:
        np.testing.assert_array_equal(
            again.results[name].recommendations, exp.results[name].recommendations
        )
    with pytest.raises(ValueError, match=r"params has no entry for \['Hybrid'\]"):
        given = {"MostPopular": {}, "EASE": {}, "ContentTFIDF": {}}
        run_offline_experiment(exp.recipe, data, split, params=given)
