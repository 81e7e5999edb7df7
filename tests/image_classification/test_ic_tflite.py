"""TFLite conversion round trip on a tiny model: float matches Keras, int8 is smaller and agrees
on most predictions, and a mixed-precision model converts (through its float32 copy)."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from cifar_transfer import model, tflite


def test_ic_tflite_float_and_int8_round_trip(tiny_cnn: keras.Model, tmp_path: Path) -> None:
    images = np.random.default_rng(0).uniform(0, 255, size=(24, 16, 16, 3)).astype(np.float32)
    expected = tiny_cnn(images, training=False).numpy()
    saved = tflite.saved_model(tiny_cnn, tmp_path / "sm")
    float_bytes = tflite.to_float(saved)
    int8_bytes = tflite.to_int8(saved, images[:16])
    as_float = tflite.TFLiteRunner(float_bytes)
    np.testing.assert_allclose(as_float.predict_logits(images), expected, atol=1e-4)
    np.testing.assert_allclose(as_float.predict_logits(images, batch_size=5), expected, atol=1e-4)
    np.testing.assert_allclose(as_float.predict_one(images[3]), expected[3], atol=1e-4)
    as_int8 = tflite.TFLiteRunner(int8_bytes)
    assert as_int8.input["dtype"] == np.int8 and as_int8.output["dtype"] == np.int8
    assert len(int8_bytes) < len(float_bytes) == as_float.size_bytes
    int8_logits = as_int8.predict_logits(images)
    assert np.corrcoef(int8_logits.ravel(), expected.ravel())[0, 1] > 0.95


def test_ic_int8_variants_per_tensor_and_selective(tiny_cnn: keras.Model, tmp_path: Path) -> None:
    images = np.random.default_rng(1).uniform(0, 255, size=(16, 16, 16, 3)).astype(np.float32)
    expected = tiny_cnn(images, training=False).numpy()
    saved = tflite.saved_model(tiny_cnn, tmp_path / "sm")
    errors = tflite.int8_layer_errors(saved, images, images[:4])
    assert errors["rmse_per_scale"].is_monotonic_decreasing and (errors["scale"] > 0).all()
    assert errors["layer"].str.len().max() < 60  # readable, not the converter's fused names
    per_tensor = tflite.to_int8(saved, images, per_channel=False)
    assert per_tensor != tflite.to_int8(saved, images)
    keep = list(errors["tensor_name"][:1])
    selective = tflite.TFLiteRunner(tflite.to_int8(saved, images, keep_float=keep))
    assert selective.input["dtype"] == np.float32  # float in and out around the float layers
    logits = selective.predict_logits(images)
    assert np.corrcoef(logits.ravel(), expected.ravel())[0, 1] > 0.95


def test_ic_mixed_precision_model_converts_through_a_float32_copy(
    tiny_cnn: keras.Model, build_tiny_cnn, restore_dtype_policy
) -> None:
    """The full recipe trains under ``mixed_float16`` on a GPU; the converter refuses the
    float16 ops of such a model ("neither a custom op nor a flex op"), so the conversion
    must use a float32 copy."""
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    mixed = build_tiny_cnn()
    model.copy_weights(tiny_cnn, mixed)
    assert mixed.layers[2].compute_dtype == "float16"  # the first convolution
    assert model.has_mixed_precision(mixed) and not model.has_mixed_precision(tiny_cnn)
    copy = model.float32_copy(mixed)
    assert copy is not mixed and not model.has_mixed_precision(copy)
    assert keras.mixed_precision.global_policy().name == "mixed_float16"  # restored
    images = np.random.default_rng(1).uniform(0, 255, size=(6, 16, 16, 3)).astype(np.float32)
    expected = tiny_cnn(images, training=False).numpy()
    runner = tflite.TFLiteRunner(tflite.float_flatbuffer(mixed))
    np.testing.assert_allclose(runner.predict_logits(images), expected, atol=1e-4)


def test_ic_layer_label_names_the_keras_layer() -> None:
    fused = (
        "m_1/mobilenetv2_backbone_1/block_8_depthwise_relu_1/Relu6;"
        "m_1/mobilenetv2_backbone_1/block_8_depthwise_1/depthwise"
    )
    assert tflite.layer_label(fused) == "block_8_depthwise_relu"
    assert tflite.layer_label("m_1/mobilenetv2_backbone_1/block_7_add_1/Add") == "block_7_add"
    assert tflite.layer_label("StatefulPartitionedCall_1:0") == "model output (logits)"
