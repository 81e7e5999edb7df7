"""The recipe convention: one frozen recipe per run mode, overrides checked by name."""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pytest

from mlshared.run import MODES
from recsys.models.registry import MODEL_NAMES, make_model
from recsys.recipes import RECIPES, recipe_for


def test_every_run_mode_has_a_recipe_named_after_it():
    assert set(MODES) <= set(RECIPES)
    assert all(name == recipe.name for name, recipe in RECIPES.items())


def test_overrides_replace_fields_and_leave_the_stored_recipe_alone():
    recipe = recipe_for("smoke", k=5, models=["EASE"])
    assert (recipe.k, recipe.models) == (5, ("EASE",))
    assert RECIPES["smoke"].k == 10
    with pytest.raises(dataclasses.FrozenInstanceError):
        recipe.k = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("mode", "overrides", "match"),
    [
        ("gpu", {}, "unknown recipe 'gpu'; choose from full, cpu, smoke"),
        ("cpu", {"epochs": 3}, r"unknown recipe fields \['epochs'\]; valid fields: .*n_bootstrap"),
        ("cpu", {"models": ["SVD++"]}, r"unknown models \['SVD\+\+'\]"),
        ("cpu", {"grids": {}}, "have no entry in grids"),
        ("cpu", {"dataset": "ml-20m"}, "unknown dataset 'ml-20m'; choose from synthetic, ml-100k"),
        ("cpu", {"split_seeds": [1, 2, 1]}, r"split_seeds repeats a seed: \(1, 2, 1\)"),
        ("cpu", {"split_seeds": [1], "temporal_split": False}, "at least two splits"),
    ],
)
def test_bad_modes_and_fields_are_named(mode, overrides, match):
    with pytest.raises(ValueError, match=match):
        recipe_for(mode, **overrides)


def test_as_dict_is_json_ready():
    payload = json.loads(json.dumps(recipe_for("cpu").as_dict()))
    assert payload["name"] == "cpu" and payload["grids"]["EASE"]["l2"][0] == 200.0


def test_registry_builds_every_model_and_names_unknown_ones():
    items = pd.DataFrame(columns=["item_id", "title", "genres", "tags"])
    for name in MODEL_NAMES:
        assert make_model(name, items).name == name
    with pytest.raises(ValueError, match="unknown model 'SVD'; choose from Random, MostPopular"):
        make_model("SVD", items)
