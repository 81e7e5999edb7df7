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
from typing import Any

import keras

BACKBONE_NAME = "mobilenetv2_backbone"
HEAD_DROPOUT_NAME = "head_dropout"
HEAD_LOGITS_NAME = "logits"


def resolve_weights(weights: str | os.PathLike[str] | None, pretrained: bool = True) -> str | None:
    """``"imagenet"`` (download) when no local file is given, the file path, or None (random)."""
    if not pretrained:
        return None
    if weights in (None, "", "imagenet"):
        return "imagenet"
    path = os.fspath(weights)  # type: ignore[arg-type]
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"MobileNetV2 weights file {path} not found; unset MOBILENETV2_WEIGHTS to download"
        )
    return path


def preprocess(images: Any) -> Any:
    """MobileNetV2 preprocessing: 0..255 to -1..1 (same as mobilenet_v2.preprocess_input)."""
    return images / 127.5 - 1.0


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
    x = keras.layers.Resizing(image_size, image_size, interpolation="bilinear", name="resize")(
        inputs
    )
    x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="preprocess")(x)
    backbone = build_backbone(image_size, weights, alpha)
    backbone.trainable = False
    x = backbone(x, training=False)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dropout(dropout, name=HEAD_DROPOUT_NAME)(x)
    outputs = keras.layers.Dense(num_classes, dtype="float32", name=HEAD_LOGITS_NAME)(x)
    return keras.Model(inputs, outputs, name="cifar_mobilenetv2")


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

    Tools that only look at top-level layers (``model.get_layer("block_13_expand_relu")`` in
    the official Keras Grad-CAM example, tf-keras-vis) need this form.
    """
    backbone = backbone_of(model)
    image_size = backbone.input_shape[1]
    inputs = keras.Input(model.input_shape[1:], name="image")
    x = keras.layers.Resizing(image_size, image_size, name="resize")(inputs)
    x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="preprocess")(x)
    alpha = backbone.get_layer("block_16_project").filters / 320  # exact for the usual alphas
    flat_base = keras.applications.MobileNetV2(
        input_tensor=x, include_top=False, weights=None, alpha=alpha
    )
    x = keras.layers.GlobalAveragePooling2D(name="pool")(flat_base.output)
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
    x = model.get_layer("preprocess")(model.get_layer("resize")(tf.cast(images, tf.float32)))
    backbone(x, training=True)
    for layer, (momentum, trainable) in zip(norms, saved, strict=True):
        layer.momentum, layer.trainable = momentum, trainable
