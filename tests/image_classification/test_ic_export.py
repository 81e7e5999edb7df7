"""Export round trip on a tiny model: .keras reloads identically; TFLite float matches; int8 is
smaller and agrees on most predictions."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from cifar_transfer import export


@pytest.fixture(scope="module")
def tiny_cnn() -> keras.Model:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = keras.layers.Conv2D(16, 3, activation="relu")(x)
    x = keras.layers.Conv2D(32, 3, strides=2, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(4)(x))


def test_ic_export_round_trip(tiny_cnn: keras.Model, tmp_path: Path) -> None:
    images = np.random.default_rng(0).uniform(0, 255, size=(24, 16, 16, 3)).astype(np.float32)
    expected = tiny_cnn(images, training=False).numpy()
    path = export.save_keras(tiny_cnn, tmp_path / "m.keras")
    np.testing.assert_allclose(keras.models.load_model(path)(images).numpy(), expected, atol=1e-5)
    saved = export.saved_model(tiny_cnn, tmp_path / "sm")
    float_bytes = export.to_tflite_float(saved)
    int8_bytes = export.to_tflite_int8(saved, images[:16])
    as_float = export.TFLiteClassifier(float_bytes)
    np.testing.assert_allclose(as_float.predict_logits(images), expected, atol=1e-4)
    as_int8 = export.TFLiteClassifier(int8_bytes)
    assert as_int8.input["dtype"] == np.int8 and as_int8.output["dtype"] == np.int8
    assert len(int8_bytes) < len(float_bytes)
    int8_logits = as_int8.predict_logits(images)
    assert np.corrcoef(int8_logits.ravel(), expected.ravel())[0, 1] > 0.95
    timing = export.latency_ms(as_int8.predict_one, images, runs=5, warmup=1)
    assert timing["median_ms"] > 0 and timing["p90_ms"] >= timing["median_ms"]
