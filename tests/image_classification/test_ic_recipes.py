"""The recipe convention (names equal run modes, overrides by name, typos refused), and the
full recipe's code path (what Colab runs on a GPU) end to end at tiny scale on CPU."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from cifar_transfer import (
    cams,
    data,
    evaluation,
    explanation_quality,
    export,
    model,
    recipes,
    tflite,
    training,
)
from mlshared.run import MODES


def test_ic_recipe_names_are_the_run_modes() -> None:
    assert list(recipes.RECIPES) == list(MODES)
    assert all(recipe.name == mode for mode, recipe in recipes.RECIPES.items())
    assert recipes.recipe_for("full") == recipes.FULL
    assert recipes.recipe_for("cpu").as_dict()["seed"] == 0


def test_ic_recipe_for_overrides_by_name_and_refuses_typos() -> None:
    recipe = recipes.recipe_for("cpu", fine_tune_epochs=7, seed=3)
    assert (recipe.fine_tune_epochs, recipe.seed, recipe.name) == (7, 3, "cpu")
    assert recipes.CPU.fine_tune_epochs == 6  # the named recipe is untouched
    with pytest.raises(ValueError, match="full, cpu, smoke"):
        recipes.recipe_for("gpu")
    with pytest.raises(ValueError, match=r"unknown recipe fields \['fine_tune_epoch'\]"):
        recipes.recipe_for("cpu", fine_tune_epoch=7)
    with pytest.raises(ValueError, match="train_views"):
        recipes.recipe_for("cpu", train_views=("clean", "mirror"))


@pytest.fixture
def full_tiny() -> recipes.Recipe:
    """The full recipe with only its sizes shrunk: same strategy (end to end), same fine-tuning
    depth, same phases; 32 px, a narrow random-init backbone and 8 steps per epoch."""
    return recipes.recipe_for(
        "full",
        image_size=32,
        pretrained=False,
        alpha=0.35,
        batch_size=8,
        train_limit=64,  # 8 steps: dynamic loss scaling skips the first few (overflow)
        head_epochs=1,
        fine_tune_epochs=1,
        scorecam_channels=2,
        n_representative=4,
    )


def test_ic_full_recipe_runs_end_to_end_under_mixed_precision(
    full_tiny: recipes.Recipe, tmp_path: Path, restore_dtype_policy
) -> None:
    """What "Run all" does in Colab on a GPU, on CPU: mixed_float16, MirroredStrategy,
    end-to-end fine-tuning, evaluation, CAMs, the randomisation check and the TFLite export.
    Nothing downloads (synthetic images, random weights)."""
    recipe = full_tiny
    assert recipe.strategy == "end_to_end" and recipe.fine_tune_from == "block_1_expand"
    splits = data.splits_for(recipe, synthetic=True)
    keras.utils.set_random_seed(recipe.seed)
    trained = training.train_classifier(
        splits, recipe, mixed_precision=True, devices=["/cpu:0"], verbose=0
    )
    net = trained.model
    assert trained.mixed_precision and trained.strategy == "MirroredStrategy"
    assert model.backbone_of(net).get_layer("Conv1").compute_dtype == "float16"
    assert net.get_layer(model.HEAD_LOGITS_NAME).compute_dtype == "float32"
    assert trained.history.phase == ["head", "fine-tune"]
    # fine-tuning starts at block_1_expand: it moved, the stem below it did not
    keras.utils.set_random_seed(recipe.seed)
    fresh = model.build_classifier(32, 10, None, alpha=0.35)
    for name, moved in (("Conv1", False), ("block_1_expand", True)):
        after = model.backbone_of(net).get_layer(name).get_weights()[0]
        before = model.backbone_of(fresh).get_layer(name).get_weights()[0]
        assert np.allclose(after, before) != moved, name

    predictor = training.FloatPredictor.from_model(net, tta_flip=True)
    test_logits = predictor(splits.x_test)
    evaluated = evaluation.evaluate(test_logits, trained.val_logits, splits, seed=recipe.seed)
    assert evaluated.test_logits.dtype == np.float64 and np.isfinite(evaluated.test_logits).all()
    assert set(evaluated.calibrators) == {"temperature", "vector", "dirichlet"}
    nll = evaluated.val_calibration["nll"]
    assert nll[evaluated.chosen] == nll.drop(index="none").min()

    images, classes = splits.x_test[:4].astype(np.float32), evaluated.y_pred[:4]
    explainer = cams.CamExplainer(net, recipe.cam_layer, scorecam_channels=2)
    assert not model.has_mixed_precision(explainer.model)
    for method in cams.METHODS:
        maps = explainer.explain(images, classes, method)
        assert maps.shape == (4, 2, 2) and np.isfinite(maps).all(), method
    faithfulness = explanation_quality.evaluate_methods(
        explainer, explainer.proba, images, classes, ("gradcam",), steps=2
    )
    assert np.isfinite(faithfulness.table().to_numpy()).all()
    randomised = explanation_quality.cascading_randomisation(
        net, images[:2], classes[:2], "gradcam", recipe.cam_layer, max_stages=1
    )
    assert all(randomised.weights_changed)
    assert max(randomised.spearman_abs_diff) > 0  # the explained copy is the randomised one

    n_eval = 16
    exported = export.export_all(
        net,
        tmp_path,
        splits.x_test[:n_eval],
        splits.y_test[:n_eval],
        data.representative_images(splits, 4 * recipe.n_representative),
        latency_runs=2,
        variants=("per_channel", "selective"),
        n_keep_float=1,
        n_debug=2,
    )
    assert list(exported.table.index) == [
        "keras",
        "tflite_float32",
        "tflite_int8",
        "tflite_int8_selective",
    ]
    runner = tflite.TFLiteRunner((tmp_path / "cifar_mobilenetv2_float32.tflite").read_bytes())
    x_eval = splits.x_test[:n_eval].astype(np.float32)
    float32_logits = model.predict_logits(model.float32_copy(net), x_eval)
    np.testing.assert_allclose(runner.predict_logits(x_eval), float32_logits, atol=1e-3)
    # the copy holds the trained weights: float16 compute is close to float32, not equal
    mixed_logits = model.predict_logits(net, x_eval)
    agreement = np.corrcoef(mixed_logits.ravel(), float32_logits.ravel())[0, 1]
    assert agreement > 0.98, agreement
