"""Deletion/insertion rank faithful maps above random ones on a toy model whose evidence is
known; the randomisation check really re-initialises a copy and leaves the model alone."""

from __future__ import annotations

import numpy as np

from cifar_transfer import explanation_quality as eq


def _toy_proba(images: np.ndarray) -> np.ndarray:
    """Class 1 probability grows with the brightness of the top-left 8x8 corner only."""
    corner = images[:, :8, :8, :].mean(axis=(1, 2, 3)) / 255.0
    p1 = 1.0 / (1.0 + np.exp(-12.0 * (corner - 0.5)))
    return np.stack([1 - p1, p1], axis=1)


def _toy_images(n: int = 6) -> np.ndarray:
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, size=(n, 16, 16, 3)).astype(np.float32)
    images[:, :8, :8, :] = 240.0
    return images


def test_ic_faithful_map_beats_random_and_inverse() -> None:
    images = _toy_images()
    classes = np.ones(len(images), dtype=int)
    faithful = np.zeros((len(images), 16, 16), np.float32)
    faithful[:, :8, :8] = 1.0
    inverse = 1.0 - faithful
    random = eq.random_maps(len(images), 16, 16, seed=0)
    auc = {}
    for name, maps in (("faithful", faithful), ("random", random), ("inverse", inverse)):
        auc[name] = {
            mode: eq.curve_auc(
                eq.perturbation_curves(_toy_proba, images, maps, classes, 8, mode)
            ).mean()
            for mode in ("deletion", "insertion")
        }
    assert auc["faithful"]["deletion"] < auc["random"]["deletion"] < auc["inverse"]["deletion"]
    assert auc["faithful"]["insertion"] > auc["random"]["insertion"] > auc["inverse"]["insertion"]


def test_ic_curve_endpoints_and_auc() -> None:
    images = _toy_images(3)
    classes = np.ones(3, dtype=int)
    maps = eq.random_maps(3, 16, 16)
    deletion = eq.perturbation_curves(_toy_proba, images, maps, classes, 4, "deletion")
    assert deletion.shape == (3, 5)
    np.testing.assert_allclose(deletion[:, 0], _toy_proba(images)[:, 1])  # nothing deleted yet
    np.testing.assert_allclose(deletion[:, -1], _toy_proba(np.zeros_like(images))[:, 1])
    np.testing.assert_allclose(eq.curve_auc(np.full((2, 11), 0.3)), [0.3, 0.3])


def test_ic_randomisation_changes_a_copy_not_the_model(tiny_classifier, synthetic_images) -> None:
    images, _ = synthetic_images
    before = [w.copy() for w in tiny_classifier.get_weights()]
    classes = np.zeros(4, dtype=int)
    result = eq.cascading_randomisation(
        tiny_classifier, images[:4], classes, "gradcam", max_stages=3
    )
    assert result.stages == ["logits", "Conv_1", "block_16"]
    assert all(result.weights_changed)
    assert all(-1.0 <= r <= 1.0 for r in result.spearman)
    for old, new in zip(before, tiny_classifier.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)


def test_ic_randomise_layers_really_reinitialises(tiny_classifier) -> None:
    copy = eq.copy_model(tiny_classifier)
    stages = dict(
        eq.weight_stages(copy.get_layer("mobilenetv2_backbone"), [copy.get_layer("logits")])
    )
    layers = stages["block_16"]
    before = [[np.array(v) for v in layer.get_weights()] for layer in layers]
    assert eq.randomise_layers(layers, np.random.default_rng(0))
    changed = [
        not np.allclose(old, new)
        for layer, olds in zip(layers, before, strict=True)
        for old, new in zip(olds, layer.get_weights(), strict=True)
    ]
    assert sum(changed) >= len(layers)  # every layer has at least one changed variable
    assert list(stages)[-1] == "Conv1"  # the cascade reaches the stem


def test_ic_map_similarity() -> None:
    a = np.random.default_rng(0).random((3, 4, 4))
    rho, diff = eq.map_similarity(a, a)
    assert rho == 1.0 and diff == 0.0
    rho, _ = eq.map_similarity(a, -a)
    assert rho == -1.0
