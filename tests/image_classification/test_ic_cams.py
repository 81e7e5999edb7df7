"""Batched CAMs are correct: equal to a per-image GradientTape reference, analytically right on
a hand-built model, identical for nested and flat backbones, float32 under mixed precision."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from cifar_transfer import cams, model

LAYER = model.CAM_LAYER


def reference_gradcam(
    classifier: keras.Model, image: np.ndarray, class_index: int, layer_name: str
) -> np.ndarray:
    """Plain single-image Grad-CAM with its own GradientTape: the reference for the batched
    path (deliberately the simplest possible code)."""
    cam_model = cams.activation_logit_model(model.float32_copy(classifier), layer_name)
    with tf.GradientTape() as tape:
        activations, logits = cam_model(tf.convert_to_tensor(image[None], tf.float32))
        score = logits[0, class_index]
    grads = tape.gradient(score, activations)[0]
    weights = tf.reduce_mean(grads, axis=(0, 1))
    cam = tf.nn.relu(tf.reduce_sum(activations[0] * weights, axis=-1)).numpy()
    peak = cam.max()
    return cam / peak if peak > 0 else cam


def test_ic_batched_gradcam_equals_per_image_reference(tiny_classifier, synthetic_images) -> None:
    images, _ = synthetic_images
    images = images[:6]
    explainer = cams.CamExplainer(tiny_classifier, LAYER)
    predicted = explainer.logits(images).argmax(axis=1)
    classes = (predicted + np.arange(6)) % 10  # mix predicted and other classes
    batched = explainer.explain(images, classes, "gradcam", batch_size=6)
    reference = np.stack(
        [reference_gradcam(tiny_classifier, images[i], int(classes[i]), LAYER) for i in range(6)]
    )
    assert batched.shape == reference.shape == (6, 2, 2)
    np.testing.assert_allclose(batched, reference, atol=1e-4)


def test_ic_nested_and_flat_backbones_give_the_same_maps(tiny_classifier, synthetic_images) -> None:
    images, _ = synthetic_images
    flat = model.flat_copy(tiny_classifier)
    assert LAYER in {layer.name for layer in flat.layers}
    for method in ("gradcam", "gradcam++", "layercam"):
        a = cams.CamExplainer(tiny_classifier, LAYER).explain(images[:4], method=method)
        b = cams.CamExplainer(flat, LAYER).explain(images[:4], method=method)
        np.testing.assert_allclose(a, b, atol=1e-5)


WEIGHTS = np.array([[1.0, -2.0], [0.5, 1.0], [-1.5, 0.25]], np.float32)  # W[k, c]
BIAS = np.array([0.3, -0.2], np.float32)


def _analytic_model(weights: np.ndarray = WEIGHTS) -> keras.Model:
    """features (identity conv) -> GAP -> Dense(W): Grad-CAM of class c is relu(sum_k W[k,c] A_k)."""
    inputs = keras.Input((4, 4, 3))
    features = keras.layers.Conv2D(3, 1, use_bias=False, name="features")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(features)
    logits = keras.layers.Dense(2, name="logits")(pooled)
    built = keras.Model(inputs, logits)
    built.get_layer("features").set_weights([np.eye(3, dtype=np.float32)[None, None]])
    built.get_layer("logits").set_weights([weights, BIAS])
    return built


def _relu_normalised(maps: np.ndarray) -> np.ndarray:
    """What every method does last: ReLU, then divide each map by its maximum."""
    maps = np.maximum(maps, 0)
    return maps / maps.max(axis=(1, 2), keepdims=True)


def _analytic_images(n: int = 5) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(n, 4, 4, 3)).astype(np.float32)


def test_ic_gradcam_matches_the_analytic_answer() -> None:
    weights = WEIGHTS
    images = _analytic_images()
    explainer = cams.CamExplainer(_analytic_model(weights), "features")
    for c in (0, 1):
        maps = explainer.explain(images, np.full(5, c), "gradcam")
        expected = np.maximum(np.einsum("nhwk,k->nhw", images, weights[:, c]), 0)
        expected /= expected.max(axis=(1, 2), keepdims=True)
        np.testing.assert_allclose(maps, expected, atol=1e-5)
        # LayerCAM with a positive constant gradient W[k,c]/16 keeps only channels with W > 0
        layer = explainer.explain(images, np.full(5, c), "layercam")
        positive = np.einsum("nhwk,k->nhw", images, np.maximum(weights[:, c], 0))
        positive = np.maximum(positive, 0)
        np.testing.assert_allclose(
            layer, positive / positive.max(axis=(1, 2), keepdims=True), atol=1e-5
        )


def test_ic_all_methods_give_normalised_maps(tiny_classifier, synthetic_images) -> None:
    images, _ = synthetic_images
    explainer = cams.CamExplainer(tiny_classifier, LAYER, scorecam_channels=4)
    for method in cams.METHODS:
        maps = explainer.explain(images[:3], method=method)
        assert maps.shape == (3, 2, 2) and maps.dtype == np.float32
        assert np.all(maps >= 0) and np.all(maps <= 1 + 1e-6)
        up = explainer.upsample(maps)
        assert up.shape == (3, 32, 32)
    with pytest.raises(ValueError):
        explainer.explain(images[:1], method="nope")


def test_ic_mixed_precision_model_is_explained_in_float32(restore_dtype_policy) -> None:
    images = np.random.default_rng(1).normal(size=(3, 4, 4, 3)).astype(np.float32)
    reference = cams.CamExplainer(_analytic_model(), "features").explain(images, np.zeros(3))
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    mixed = _analytic_model()
    keras.mixed_precision.set_dtype_policy("float32")
    assert mixed.get_layer("features").compute_dtype == "float16"
    explainer = cams.CamExplainer(mixed, "features")
    assert explainer.model is not mixed
    assert all(layer.compute_dtype == "float32" for layer in explainer.model.layers[1:])
    maps = explainer.explain(images, np.zeros(3))
    np.testing.assert_allclose(maps, reference, atol=1e-6)
