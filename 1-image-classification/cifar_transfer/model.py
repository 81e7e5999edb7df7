"""MobileNetV2 classifier: resize + preprocess inside the model, nested backbone, logit head.

Design choices (why):
- ``Resizing`` and the MobileNetV2 preprocessing live inside the model, so the saved model, the
  TFLite exports and the explainers all take native 32x32 images with values 0..255.
- The backbone is a nested ``keras.Model`` always called with ``training=False``: its
  BatchNormalization layers stay in inference mode while fine-tuning (small batches would
  otherwise wreck the ImageNet statistics).
- The head outputs logits in float32 (also under mixed precision); the loss applies softmax,
  explainers explain the pre-softmax logit and calibration scales it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import keras
import numpy as np

# Names of the classifier's own layers, for code that reaches into it (the cached split, CAMs).
RESIZE_NAME = "resize"
PREPROCESS_NAME = "preprocess"
BACKBONE_NAME = "mobilenetv2_backbone"
POOL_NAME = "pool"
HEAD_DROPOUT_NAME = "head_dropout"
HEAD_LOGITS_NAME = "logits"
# Where the CAMs look: the last backbone layer at stride 16, before the final stride-2
# depthwise convolution. At 128 px it gives 8x8 maps (``out_relu``, the usual "last conv
# layer", gives 4x4, too coarse for 32x32 objects) and is still deep enough to be
# class-specific.
CAM_LAYER = "block_13_expand_relu"


def resolve_weights(weights: str | os.PathLike[str] | None, pretrained: bool = True) -> str | None:
    """``"imagenet"`` (download) when no local file is given, the file path, or None (random)."""
    if not pretrained:
        return None
    if weights in (None, "", "imagenet"):
        return "imagenet"
    path = os.fspath(weights)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"MobileNetV2 weights file {path} not found; unset MOBILENETV2_WEIGHTS to download"
        )
    return path


def build_backbone(image_size: int, weights: str | None, alpha: float = 1.0) -> keras.Model:
    """ImageNet MobileNetV2 without top; a local no-top file fits any input size."""
    base = keras.applications.MobileNetV2(
        input_shape=(image_size, image_size, 3), include_top=False, weights=weights, alpha=alpha
    )
    base.name = BACKBONE_NAME
    return base


def build_classifier(
    image_size: int = 128,
    num_classes: int = 10,
    weights: str | None = "imagenet",
    dropout: float = 0.2,
    input_size: int = 32,
    alpha: float = 1.0,
) -> keras.Model:
    """Resizing -> preprocess -> frozen-BN MobileNetV2 -> GAP -> dropout -> float32 logits."""
    inputs = keras.Input((input_size, input_size, 3), name="image")
    x = keras.layers.Resizing(image_size, image_size, interpolation="bilinear", name=RESIZE_NAME)(
        inputs
    )
    # MobileNetV2's preprocess_input (0..255 to -1..1) as a layer, so it is saved and exported
    x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name=PREPROCESS_NAME)(x)
    backbone = build_backbone(image_size, weights, alpha)
    backbone.trainable = False
    x = backbone(x, training=False)
    x = keras.layers.GlobalAveragePooling2D(name=POOL_NAME)(x)
    x = keras.layers.Dropout(dropout, name=HEAD_DROPOUT_NAME)(x)
    outputs = keras.layers.Dense(num_classes, dtype="float32", name=HEAD_LOGITS_NAME)(x)
    return keras.Model(inputs, outputs, name="cifar_mobilenetv2")


def predict_logits(model: Any, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Logits for a uint8/float image array, batched through a compiled call (not ``predict``,
    whose per-call overhead dominates on small arrays)."""
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def run(batch: Any) -> Any:
        return tf.cast(model(tf.cast(batch, tf.float32), training=False), tf.float32)

    out = [run(images[i : i + batch_size]).numpy() for i in range(0, len(images), batch_size)]
    return np.concatenate(out).astype(np.float64)


def backbone_of(model: keras.Model) -> keras.Model:
    """The nested MobileNetV2 inside a classifier built by :func:`build_classifier`."""
    return model.get_layer(BACKBONE_NAME)


def set_trainable_from(model: keras.Model, first_trainable: str | None) -> int:
    """Unfreeze backbone layers from ``first_trainable`` upwards; BatchNorm stays frozen.

    ``None`` freezes the whole backbone (head-only phase). Returns the number of trainable
    backbone layers so the notebook can show what is being fine-tuned.
    """
    backbone = backbone_of(model)
    backbone.trainable = first_trainable is not None
    if first_trainable is None:
        return 0
    names = [layer.name for layer in backbone.layers]
    if first_trainable not in names:
        raise ValueError(f"{first_trainable!r} is not a backbone layer")
    start = names.index(first_trainable)
    count = 0
    for index, layer in enumerate(backbone.layers):
        is_bn = isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = index >= start and not is_bn
        count += int(layer.trainable and bool(layer.weights))
    return count


def compile_classifier(
    model: keras.Model,
    learning_rate: Any,
    label_smoothing: float = 0.1,
    weight_decay: float = 1e-4,
) -> keras.Model:
    """AdamW + label-smoothed cross-entropy on logits, with accuracy and top-2 metrics."""
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=learning_rate, weight_decay=weight_decay),
        loss=keras.losses.CategoricalCrossentropy(
            from_logits=True, label_smoothing=label_smoothing
        ),
        metrics=[
            keras.metrics.CategoricalAccuracy(name="accuracy"),
            keras.metrics.TopKCategoricalAccuracy(k=2, name="top2"),
        ],
    )
    return model


def flat_copy(model: keras.Model) -> keras.Model:
    """The same classifier (same weights) with the backbone's layers inlined, not nested.

    Tools that only look at top-level layers (``model.get_layer(CAM_LAYER)`` in
    the official Keras Grad-CAM example, tf-keras-vis) need this form.
    """
    backbone = backbone_of(model)
    image_size = backbone.input_shape[1]
    inputs = keras.Input(model.input_shape[1:], name="image")
    x = keras.layers.Resizing(image_size, image_size, name=RESIZE_NAME)(inputs)
    x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name=PREPROCESS_NAME)(x)
    alpha = backbone.get_layer("block_16_project").filters / 320  # exact for the usual alphas
    flat_base = keras.applications.MobileNetV2(
        input_tensor=x, include_top=False, weights=None, alpha=alpha
    )
    x = keras.layers.GlobalAveragePooling2D(name=POOL_NAME)(flat_base.output)
    x = keras.layers.Dropout(model.get_layer(HEAD_DROPOUT_NAME).rate, name=HEAD_DROPOUT_NAME)(x)
    logits = model.get_layer(HEAD_LOGITS_NAME)
    outputs = keras.layers.Dense(logits.units, dtype="float32", name=HEAD_LOGITS_NAME)(x)
    flat = keras.Model(inputs, outputs, name="cifar_mobilenetv2_flat")
    for layer in backbone.layers:  # by name: get_weights() order depends on trainable flags
        if layer.weights:
            flat.get_layer(layer.name).set_weights(layer.get_weights())
    flat.get_layer(HEAD_LOGITS_NAME).set_weights(logits.get_weights())
    for layer in flat.layers:  # frozen BN: inference statistics even when called without
        if isinstance(layer, keras.layers.BatchNormalization):  # training=False (as peers do)
            layer.trainable = False
    return flat


def copy_weights(source: keras.Model, target: keras.Model) -> None:
    """Copy weights layer by layer (recursing into nested models).

    ``Model.get_weights()`` lists trainable weights first, so its order changes with the
    trainable flags (a frozen backbone vs a fresh copy); layer-by-layer copying does not.
    """
    for src, dst in zip(source.layers, target.layers, strict=True):
        if isinstance(src, keras.Model):
            copy_weights(src, dst)
        elif src.weights:
            dst.set_weights(src.get_weights())


def clone_with_weights(model: keras.Model, config: dict | None = None) -> keras.Model:
    """An independent model (new variables) from ``config`` (default: the model's own) with
    the same weight values."""
    clone = model.__class__.from_config(config or model.get_config())
    copy_weights(model, clone)
    return clone


def has_mixed_precision(model: keras.Model) -> bool:
    """Whether any layer (nested ones included) computes in a dtype other than float32."""
    return any(
        getattr(layer, "dtype_policy", None) is not None
        and layer.dtype_policy.compute_dtype != "float32"
        for layer in model._flatten_layers(include_self=True, recursive=True)
    )


def _force_float32(config: Any) -> Any:
    """Replace every mixed dtype policy in a model config by float32."""
    if isinstance(config, dict):
        return {
            key: "float32"
            if key == "dtype" and isinstance(value, (dict, str)) and "mixed" in str(value)
            else _force_float32(value)
            for key, value in config.items()
        }
    if isinstance(config, list):
        return [_force_float32(v) for v in config]
    return config


@contextmanager
def float32_policy() -> Iterator[None]:
    """Build layers under the float32 dtype policy, then restore the global one (which the
    full recipe sets to ``mixed_float16`` on GPUs)."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_dtype_policy("float32")
    try:
        yield
    finally:
        keras.mixed_precision.set_dtype_policy(previous)


def float32_copy(model: keras.Model, always_copy: bool = False) -> keras.Model:
    """The same model (same weights, new variables) computing in float32.

    Why: a ``mixed_float16`` model (the full recipe on a GPU) has float16 ops that the TFLite
    converter cannot convert, and float16 gradients underflow for small logit changes (CAMs).
    Returns ``model`` itself when it already computes in float32, unless ``always_copy``.
    """
    if not always_copy and not has_mixed_precision(model):
        return model
    with float32_policy():
        return clone_with_weights(model, _force_float32(model.get_config()))


def recalibrate_batchnorm(model: keras.Model, images: Any) -> None:
    """Set every backbone BatchNorm's moving statistics to those of one batch of ``images``.

    Only for randomly initialised backbones (smoke runs): their default statistics (mean 0,
    variance 1) make frozen-BN inference blow up or vanish with depth, so nothing can be
    learned. One training-mode pass with momentum 0 fixes that without any training.
    """
    import tensorflow as tf

    backbone = backbone_of(model)
    norms = [
        layer for layer in backbone.layers if isinstance(layer, keras.layers.BatchNormalization)
    ]
    saved = [(layer.momentum, layer.trainable) for layer in norms]
    for layer in norms:
        layer.momentum, layer.trainable = 0.0, True
    resized = model.get_layer(RESIZE_NAME)(tf.cast(images, tf.float32))
    x = model.get_layer(PREPROCESS_NAME)(resized)
    backbone(x, training=True)
    for layer, (momentum, trainable) in zip(norms, saved, strict=True):
        layer.momentum, layer.trainable = momentum, trainable
