"""Export on a tiny model: the .keras file reloads identically; the table compares float32 and
every int8 variant on the same images; latency is measured, not assumed."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from cifar_transfer import export


def test_ic_export_all_writes_and_measures_every_variant(
    tiny_cnn: keras.Model, tmp_path: Path
) -> None:
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, size=(24, 16, 16, 3)).astype(np.float32)
    labels = rng.integers(0, 4, 24)
    expected = tiny_cnn(images, training=False).numpy()
    result = export.export_all(
        tiny_cnn, tmp_path, images, labels, images[:16], latency_runs=3, n_keep_float=2, n_debug=4
    )
    reloaded = keras.models.load_model(tmp_path / "cifar_mobilenetv2.keras")
    np.testing.assert_allclose(reloaded(images).numpy(), expected, atol=1e-5)
    table = result.table
    assert list(table.index) == [
        "keras",
        "tflite_float32",
        "tflite_int8",
        "tflite_int8_per_tensor",
        "tflite_int8_more_representative",
        "tflite_int8_selective",
    ]
    float_accuracy = table.loc["tflite_float32", "accuracy"]
    assert abs(float_accuracy - (expected.argmax(1) == labels).mean()) <= 1 / 24  # a near-tie
    assert np.isnan(table.loc["keras", "accuracy"])  # same network, not re-measured
    assert table.loc["tflite_float32", "accuracy_change_points"] == 0.0
    assert table.loc["tflite_int8", "size_mb"] < table.loc["tflite_float32", "size_mb"]
    assert (table["median_ms"] > 0).all() and (table["p90_ms"] >= table["median_ms"]).all()
    # the selective variant keeps the debugger's worst layers in float, and says which
    worst = list(result.layer_errors["layer"][:2])
    assert result.layer_errors["rmse_per_scale"].is_monotonic_decreasing
    assert all(name in table.loc["tflite_int8_selective", "what"] for name in worst)
    for name in ("float32", "int8", "int8_per_tensor", "int8_selective"):
        assert (tmp_path / f"cifar_mobilenetv2_{name}.tflite").stat().st_size > 0
    metrics = result.to_metrics()
    assert metrics["n_images"] == 24 and len(metrics["formats"]) == 6
    with pytest.raises(ValueError, match="unknown int8 variants"):
        export.export_all(tiny_cnn, tmp_path, images, labels, images[:8], 1, variants=("int4",))


def test_ic_latency_reports_median_and_p90() -> None:
    timing = export.latency_ms(lambda image: image.sum(), np.ones((4, 2, 2, 3)), runs=7, warmup=1)
    assert timing["median_ms"] > 0 and timing["p90_ms"] >= timing["median_ms"]
