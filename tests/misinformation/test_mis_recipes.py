"""Recipes: one per run mode (plus quick), overrides checked, JSON-able."""

from __future__ import annotations

import dataclasses
import json
import os

import pytest

from misinfo.recipes import (
    HUB_MINILM,
    OFFLINE_MINILM,
    RECIPES,
    TINY_BERT,
    TINY_DISTILBERT,
    TINY_MODELS,
    Recipe,
    recipe_for,
)
from mlshared.run import MODES


def test_every_run_mode_has_a_recipe_named_after_it() -> None:
    assert set(MODES) <= set(RECIPES) and "quick" in RECIPES  # `make app` trains quick
    assert "gpu" not in RECIPES
    assert all(name == recipe.name for name, recipe in RECIPES.items())


def test_recipe_for_applies_overrides_and_leaves_the_table_alone() -> None:
    r = recipe_for("cpu", epochs=4, max_train=500)
    assert (r.name, r.epochs, r.max_train) == ("cpu", 4, 500)
    assert RECIPES["cpu"].epochs == 3 and RECIPES["cpu"].max_train is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.epochs = 5  # type: ignore[misc]


def test_unknown_modes_and_fields_name_the_valid_choices() -> None:
    with pytest.raises(ValueError, match=r"unknown recipe 'gpu'.*full.*cpu.*smoke.*quick"):
        recipe_for("gpu")
    with pytest.raises(ValueError, match=r"unknown recipe fields \['epoch'\].*epochs"):
        recipe_for("smoke", epoch=3)


def test_as_dict_is_json_and_complete() -> None:
    for recipe in RECIPES.values():
        data = json.loads(json.dumps(recipe.as_dict()))
        assert Recipe(**data) == recipe


def test_the_modes_differ_where_they_should() -> None:
    smoke, quick, cpu, full = (RECIPES[m] for m in ("smoke", "quick", "cpu", "full"))
    assert set(smoke.transformers.values()) <= set(TINY_MODELS) and smoke.data == "synthetic"
    assert quick.transformers == {} and quick.data == "synthetic"
    assert (cpu.data, cpu.other_data) == ("constraint", "liar") and list(cpu.transformers) == [
        "minilm"
    ]
    assert cpu.students == {"minilm_l3": "minilm"}  # two transformers of different depth
    # no hub access needed: the MiniLM of `make setup`, unless TRANSFORMER_MODEL names another
    assert cpu.transformers["minilm"] == (os.environ.get("TRANSFORMER_MODEL") or OFFLINE_MINILM)
    assert cpu.domain_encoder == OFFLINE_MINILM and full.domain_encoder == HUB_MINILM
    assert quick.domain_encoder is None and smoke.domain_encoder is None  # TF-IDF vectors
    assert full.students == {} and smoke.students == {"tinybert_half": "tinybert"}
    assert full.data == "isot" and full.cross_dataset and full.mixed_precision
    assert full.transformers == {
        "bert": "bert-base-uncased",
        "distilbert": "distilbert-base-uncased",
    }
    assert TINY_MODELS == {TINY_BERT: "bert", TINY_DISTILBERT: "distilbert"}
