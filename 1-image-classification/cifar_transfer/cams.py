"""Class activation maps (Grad-CAM, Grad-CAM++, LayerCAM, Score-CAM) behind one interface.

Why it is built this way:
- One pass per batch: in inference mode each sample's logit depends only on its own
  activations, so the gradient of the *sum* of the selected logits with respect to the batch
  of activations holds every sample's own gradient. No per-image loop, no per-image tape.
- Nested backbones: the explainer rebuilds the classifier as one graph that returns the
  target layer's activations *and* the logits, reaching into the nested MobileNetV2 (a plain
  ``model.get_layer(name)`` on the outer model cannot see inner layers).
- float32 logits: under mixed precision the explainer runs a float32 copy of the model, so the
  gradients are not float16 (which underflow for small logit changes). The model must output
  logits (pre-softmax); softmax saturation would otherwise flatten the gradients.
- Target layer: ``model.CAM_LAYER`` by default (the comment there says why).
"""

from __future__ import annotations

import cv2
import keras
import numpy as np
import tensorflow as tf

from cifar_transfer.model import CAM_LAYER, float32_copy

METHODS = ("gradcam", "gradcam++", "layercam", "scorecam")


def _find_container(model: keras.Model, layer_name: str) -> keras.Layer | None:
    """The direct sub-model of ``model`` that holds ``layer_name`` (None if it is top-level)."""
    names = {layer.name for layer in model.layers}
    if layer_name in names:
        return None
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            try:
                layer.get_layer(layer_name)
            except ValueError:
                continue
            return layer
    raise ValueError(f"layer {layer_name!r} not found in {model.name} or its nested models")


def activation_logit_model(model: keras.Model, layer_name: str) -> keras.Model:
    """A model mapping inputs to ``(activations of layer_name, logits)``.

    For a top-level layer this is the usual two-output functional model. For a layer inside a
    nested backbone, the outer model must be a chain (each layer feeds the next, as in
    :func:`cifar_transfer.model.build_classifier`); the nested model is swapped for a copy
    that also returns the inner activations.
    """
    container = _find_container(model, layer_name)
    if container is None:
        return keras.Model(model.inputs, [model.get_layer(layer_name).output, model.output])
    inner = keras.Model(
        container.inputs, [container.get_layer(layer_name).output, container.output]
    )
    inputs = keras.Input(model.input_shape[1:])
    x = inputs
    activations = None
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if layer is container:
            activations, x = inner(x, training=False)
        else:
            x = layer(x, training=False)
    return keras.Model(inputs, [activations, x])


def _normalise(maps: tf.Tensor) -> tf.Tensor:
    """Scale each map to [0, 1] by its maximum (all-zero maps stay zero)."""
    peak = tf.reduce_max(maps, axis=(1, 2), keepdims=True)
    return tf.math.divide_no_nan(maps, peak)


class CamExplainer:
    """Batched class activation maps for a classifier that outputs logits.

    ``explain(images, class_indices=None, method="gradcam")`` returns ``(n, h, w)`` maps in
    [0, 1] at the target layer's resolution; ``upsample`` resizes them to the input size.
    ``class_indices=None`` explains the predicted class.
    """

    def __init__(
        self,
        model: keras.Model,
        target_layer: str = CAM_LAYER,
        scorecam_channels: int = 64,
        scorecam_batch: int = 256,
    ) -> None:
        self.model = float32_copy(model)
        self.target_layer = target_layer
        self.scorecam_channels = scorecam_channels
        self.scorecam_batch = scorecam_batch
        self.cam_model = activation_logit_model(self.model, target_layer)
        self._grads = tf.function(self._activations_and_grads, reduce_retracing=True)
        self._logits = tf.function(lambda x: self.model(x, training=False), reduce_retracing=True)

    def _activations_and_grads(self, images: tf.Tensor, classes: tf.Tensor | None) -> tuple:
        images = tf.cast(images, tf.float32)
        with tf.GradientTape() as tape:
            activations, logits = self.cam_model(images, training=False)
            activations = tf.cast(activations, tf.float32)
            logits = tf.cast(logits, tf.float32)
            if classes is None:
                classes = tf.argmax(logits, axis=1, output_type=tf.int32)
            selected = tf.gather(logits, classes, axis=1, batch_dims=1)
            total = tf.reduce_sum(selected)
        grads = tape.gradient(total, activations)
        return activations, grads, logits, classes

    def logits(self, images: np.ndarray) -> np.ndarray:
        """Float32 logits of the explained model."""
        return self._logits(tf.cast(images, tf.float32)).numpy()

    def proba(self, images: np.ndarray) -> np.ndarray:
        """Softmax probabilities of the explained model (for deletion / insertion curves)."""
        return tf.nn.softmax(self._logits(tf.cast(images, tf.float32))).numpy()

    def explain(
        self,
        images: np.ndarray,
        class_indices: np.ndarray | None = None,
        method: str = "gradcam",
        batch_size: int = 64,
    ) -> np.ndarray:
        """Maps for all images, computed ``batch_size`` images per gradient pass."""
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; choose from {METHODS}")
        out = []
        for start in range(0, len(images), batch_size):
            batch = tf.convert_to_tensor(images[start : start + batch_size], tf.float32)
            classes = None
            if class_indices is not None:
                classes = tf.convert_to_tensor(
                    np.asarray(class_indices[start : start + batch_size]), tf.int32
                )
            out.append(self._explain_batch(batch, classes, method).numpy())
        return np.concatenate(out)

    def _explain_batch(
        self, images: tf.Tensor, classes: tf.Tensor | None, method: str
    ) -> tf.Tensor:
        activations, grads, _, classes = self._grads(images, classes)
        if method == "gradcam":
            weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
            maps = tf.reduce_sum(weights * activations, axis=-1)
        elif method == "gradcam++":
            maps = _gradcam_plus_plus(activations, grads)
        elif method == "layercam":
            maps = tf.reduce_sum(tf.nn.relu(grads) * activations, axis=-1)
        else:
            maps = self._scorecam(images, activations, classes)
        return _normalise(tf.nn.relu(maps))

    def _scorecam(self, images: tf.Tensor, activations: tf.Tensor, classes: tf.Tensor) -> tf.Tensor:
        """Score-CAM (Wang et al. 2020): each channel, upsampled and min-max normalised, masks
        the input; the softmax score of the class on the masked input weights that channel.
        Only the ``scorecam_channels`` channels with the largest mean activation per image are
        scored (the rest get weight 0): the full 576 channels would cost 576 forward passes."""
        n, h, w, c = activations.shape
        k = min(self.scorecam_channels, c)
        strength = tf.reduce_mean(activations, axis=(1, 2))
        top = tf.math.top_k(strength, k=k).indices  # (n, k)
        chosen = tf.gather(tf.transpose(activations, (0, 3, 1, 2)), top, batch_dims=1)  # n,k,h,w
        low = tf.reduce_min(chosen, axis=(2, 3), keepdims=True)
        high = tf.reduce_max(chosen, axis=(2, 3), keepdims=True)
        masks = tf.math.divide_no_nan(chosen - low, high - low)
        size = images.shape[1:3]
        masks = tf.image.resize(tf.reshape(masks, (-1, h, w, 1)), size)  # (n*k, H, W, 1)
        repeated = tf.repeat(images, k, axis=0) * masks
        class_rep = tf.repeat(classes, k)
        scores = []
        for start in range(0, int(repeated.shape[0]), self.scorecam_batch):
            logits = self._logits(repeated[start : start + self.scorecam_batch])
            proba = tf.nn.softmax(tf.cast(logits, tf.float32))
            scores.append(
                tf.gather(
                    proba, class_rep[start : start + self.scorecam_batch], axis=1, batch_dims=1
                )
            )
        weights = tf.nn.softmax(tf.reshape(tf.concat(scores, 0), (n, k)), axis=1)
        return tf.einsum("nk,nkhw->nhw", weights, chosen)

    def upsample(self, maps: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
        """Bilinear resize of maps to the input size (or ``size``), renormalised to [0, 1]."""
        height, width = size or tuple(self.model.input_shape[1:3])
        return upsample_maps(maps, (height, width))


def upsample_maps(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize (OpenCV, half-pixel centres) of (n, h, w) maps to ``size`` = (height,
    width), negatives clipped, each map renormalised to peak 1 (all-zero maps stay zero)."""
    height, width = size
    resized = np.stack(
        [
            cv2.resize(np.asarray(m, np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
            for m in maps
        ]
    ).reshape(len(maps), height, width)
    resized = np.maximum(resized, 0.0)
    peak = resized.max(axis=(1, 2), keepdims=True)
    return np.divide(resized, peak, out=np.zeros_like(resized), where=peak > 0)


def overlay(images: np.ndarray, maps: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """CAM overlays as uint8 RGB images: each map (any resolution, values in [0, 1]) resized
    to its image, coloured with OpenCV's jet colour map and blended with weight ``alpha``."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or len(images) != len(maps):
        raise ValueError(
            f"need (n, H, W, 3) images and n maps; got {images.shape} and {len(maps)} maps"
        )
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    rgb = np.clip(images if images.max() > 1.0 else images * 255.0, 0, 255).astype(np.uint8)
    resized = upsample_maps(maps, rgb.shape[1:3])
    out = np.empty_like(rgb)
    for index, (image, heat) in enumerate(zip(rgb, resized, strict=True)):
        coloured = cv2.applyColorMap(np.round(heat * 255).astype(np.uint8), cv2.COLORMAP_JET)
        coloured = cv2.cvtColor(coloured, cv2.COLOR_BGR2RGB)
        out[index] = cv2.addWeighted(coloured, alpha, image, 1.0 - alpha, 0.0)
    return out


def _gradcam_plus_plus(activations: tf.Tensor, grads: tf.Tensor) -> tf.Tensor:
    """Grad-CAM++ (Chattopadhay et al. 2018) with the exponential-score closed form, where
    second and third derivatives are powers of the first."""
    g2 = tf.square(grads)
    g3 = g2 * grads
    denominator = 2.0 * g2 + tf.reduce_sum(activations, axis=(1, 2), keepdims=True) * g3
    alpha = tf.math.divide_no_nan(g2, denominator)
    weights = tf.reduce_sum(alpha * tf.nn.relu(grads), axis=(1, 2), keepdims=True)
    return tf.reduce_sum(weights * activations, axis=-1)
