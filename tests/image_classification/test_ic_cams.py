"""Batched CAMs are correct: equal to a per-image GradientTape reference, equal to closed-form
answers on a hand-built model (every method, and ``upsample``), identical for nested and flat
backbones, float32 under mixed precision."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy.special import softmax

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


def test_ic_gradcam_plus_plus_matches_the_closed_form() -> None:
    """On the analytic model the gradient of logit c with respect to A_k(i, j) is the same at
    every position: g_k = W[k, c] / 16 (GAP over 4x4). Grad-CAM++'s closed form (Chattopadhay
    et al. 2018, eq. 19 with the exponential score, where the 2nd and 3rd derivatives are g^2
    and g^3) gives

        alpha_k(i, j) = g_k^2 / (2 g_k^2 + S_k g_k^3) = 1 / (2 + S_k g_k),  S_k = sum_ij A_k(i, j)
        w_k = sum_ij alpha_k(i, j) relu(g_k) = 16 relu(g_k) / (2 + S_k g_k)

    and the map is relu(sum_k w_k A_k), divided by its maximum. (A squared instead of a cubed
    gradient would give 16 relu(g_k) / (2 + S_k): a different weight per channel.)
    """
    images = _analytic_images()
    explainer = cams.CamExplainer(_analytic_model(), "features")
    sums = images.sum(axis=(1, 2))  # S_k per image, (n, 3)
    for c in (0, 1):
        g = WEIGHTS[:, c] / 16.0
        w = 16.0 * np.maximum(g, 0) / (2.0 + sums * g)  # (n, 3)
        expected = _relu_normalised(np.einsum("nhwk,nk->nhw", images, w))
        maps = explainer.explain(images, np.full(len(images), c), "gradcam++")
        np.testing.assert_allclose(maps, expected, atol=1e-5)


def test_ic_scorecam_matches_the_closed_form() -> None:
    """Score-CAM (Wang et al. 2020) on the analytic model with every channel scored: channel k,
    min-max normalised per image to M_k (the input is 4x4 too, so no resizing), masks the
    input; the masked image's logits are W^T mean_ij(X(i, j) M_k(i, j)) + b, and its score is
    the softmax probability of class c (softmax over the classes). The channel weights are the
    softmax of the scores over the channels of the same image:

        w_k = exp(s_k) / sum_k' exp(s_k'),  map = relu(sum_k w_k A_k) / max.
    """
    images = _analytic_images()
    explainer = cams.CamExplainer(_analytic_model(), "features", scorecam_channels=3)
    low = images.min(axis=(1, 2), keepdims=True)
    masks = (images - low) / (images.max(axis=(1, 2), keepdims=True) - low)  # (n, 4, 4, k)
    for c in (0, 1):
        # masked[n, k] = mean_ij X[n, i, j, :] * M[n, i, j, k]  -> (n, k, 3 input channels)
        masked = np.einsum("nhwj,nhwk->nkj", images, masks) / 16.0
        proba = softmax(masked @ WEIGHTS + BIAS, axis=-1)  # (n, k, classes)
        w = softmax(proba[..., c], axis=1)  # over the channels of each image
        expected = _relu_normalised(np.einsum("nhwk,nk->nhw", images, w))
        maps = explainer.explain(images, np.full(len(images), c), "scorecam")
        np.testing.assert_allclose(maps, expected, atol=1e-5)


def test_ic_upsample_is_bilinear_and_renormalised() -> None:
    """2x2 -> 4x4 bilinear with half-pixel centres reads source coordinates -0.25, 0.25, 0.75,
    1.25 (clamped at the border), so each axis is multiplied by R below; the result is
    divided by its maximum again, because resizing (or a raw map) need not peak at 1."""
    r = np.array([[1.0, 0.0], [0.75, 0.25], [0.25, 0.75], [0.0, 1.0]])
    maps = np.array([[[0.2, 0.4], [0.1, 0.3]], [[0.0, 0.5], [0.25, 0.0]]], np.float32)
    explainer = cams.CamExplainer(_analytic_model(), "features")
    up = explainer.upsample(maps, (4, 4))
    expected = np.einsum("ab,nbc,dc->nad", r, maps, r)
    expected /= expected.max(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(up, expected, atol=1e-6)
    assert np.allclose(up.max(axis=(1, 2)), 1.0)
    np.testing.assert_allclose(explainer.upsample(np.zeros((1, 2, 2))), 0.0)  # flat stays 0


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
