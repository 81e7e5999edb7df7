"""Export on a tiny model: the .keras file reloads identically; the table compares the three
formats on the same images; latency is measured, not assumed."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from cifar_transfer import export


def test_ic_export_all_writes_and_measures_three_formats(
    tiny_cnn: keras.Model, tmp_path: Path
) -> None:
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, size=(24, 16, 16, 3)).astype(np.float32)
    labels = rng.integers(0, 4, 24)
    expected = tiny_cnn(images, training=False).numpy()
    result = export.export_all(tiny_cnn, tmp_path, images, labels, images[:8], latency_runs=3)
    reloaded = keras.models.load_model(tmp_path / "cifar_mobilenetv2.keras")
    np.testing.assert_allclose(reloaded(images).numpy(), expected, atol=1e-5)
    table = result.table
    assert list(table.index) == ["keras", "tflite_float32", "tflite_int8"]
    assert table.loc["keras", "accuracy"] == pytest.approx((expected.argmax(1) == labels).mean())
    assert abs(result.accuracy_drop("tflite_float32")) <= 1 / 24  # at most one near-tie flips
    assert table.loc["tflite_int8", "size_mb"] < table.loc["tflite_float32", "size_mb"]
    assert (table["median_ms"] > 0).all() and (table["p90_ms"] >= table["median_ms"]).all()
    for name in ("float32", "int8"):
        assert (tmp_path / f"cifar_mobilenetv2_{name}.tflite").stat().st_size > 0
    metrics = result.to_metrics()
    assert metrics["n_images"] == 24 and len(metrics["formats"]) == 3
    with pytest.raises(ValueError, match="rows"):
        export.export_all(
            tiny_cnn, tmp_path, images, labels, images[:8], 1, keras_logits=expected[:3]
        )


def test_ic_latency_reports_median_and_p90() -> None:
    timing = export.latency_ms(lambda image: image.sum(), np.ones((4, 2, 2, 3)), runs=7, warmup=1)
    assert timing["median_ms"] > 0 and timing["p90_ms"] >= timing["median_ms"]
