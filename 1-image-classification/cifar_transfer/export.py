"""Export to ``.keras`` and TFLite (float32 and full-integer int8, converted by
:mod:`cifar_transfer.tflite`), and the size / accuracy / latency table of the three files."""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from cifar_transfer import tflite
from cifar_transfer.model import predict_logits


def save_keras(model: keras.Model, path: str | os.PathLike[str]) -> Path:
    """Native Keras v3 format (architecture + weights in one zip)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    return path


def latency_ms(predict_one: Any, images: np.ndarray, runs: int = 100, warmup: int = 5) -> dict:
    """Median and p90 batch-1 latency in milliseconds over ``runs`` calls."""
    for i in range(warmup):
        predict_one(images[i % len(images)])
    times = []
    for i in range(runs):
        start = time.perf_counter()
        predict_one(images[i % len(images)])
        times.append((time.perf_counter() - start) * 1000)
    return {"median_ms": float(np.median(times)), "p90_ms": float(np.percentile(times, 90))}


def keras_predict_one(model: keras.Model) -> Any:
    """A compiled batch-1 call of the Keras model (eager calls would time Python overhead)."""
    spec = tf.TensorSpec((1, *model.input_shape[1:]), tf.float32)
    function = tf.function(lambda x: model(x, training=False), input_signature=[spec])
    return lambda image: function(tf.convert_to_tensor(image[None], tf.float32)).numpy()[0]


def export_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Size / accuracy / latency per format, with accuracy change vs the Keras model."""
    table = pd.DataFrame(rows).set_index("format")
    if "keras" in table.index:
        table["accuracy_change_points"] = 100 * (table["accuracy"] - table.loc["keras", "accuracy"])
    return table


@dataclass
class ExportResult:
    """The export table (one row per format: size, accuracy, batch-1 latency) and what it was
    measured on."""

    table: pd.DataFrame
    n_images: int
    seconds: float

    def accuracy_drop(self, fmt: str) -> float:
        """Accuracy lost by ``fmt`` against the Keras model (a fraction, not points)."""
        return float(self.table.loc["keras", "accuracy"] - self.table.loc[fmt, "accuracy"])

    def to_metrics(self) -> dict[str, Any]:
        """The table as records, for the metrics JSON."""
        return {
            "formats": self.table.reset_index().to_dict("records"),
            "n_images": self.n_images,
            "seconds": self.seconds,
        }


def export_all(
    model: keras.Model,
    out_dir: str | os.PathLike[str],
    x_eval: np.ndarray,
    y_eval: np.ndarray,
    x_representative: np.ndarray,
    latency_runs: int = 100,
    num_threads: int | None = None,
    keras_logits: np.ndarray | None = None,
) -> ExportResult:
    """Write ``.keras``, float and int8 ``.tflite`` files and measure each on the same images.

    Accuracy is on ``x_eval`` (the notebook says how many test images); latency is batch 1.
    ``keras_logits``: the Keras model's logits on ``x_eval`` when already computed. The TFLite
    files come from a float32 copy of a mixed-precision model (see ``tflite.saved_model``).
    """
    start = time.perf_counter()
    out_dir = Path(out_dir)
    keras_path = save_keras(model, out_dir / "cifar_mobilenetv2.keras")
    with tempfile.TemporaryDirectory() as tmp:
        exported = tflite.saved_model(model, Path(tmp) / "saved_model")
        float_bytes = tflite.to_float(exported)
        int8_bytes = tflite.to_int8(exported, x_representative)
    (out_dir / "cifar_mobilenetv2_float32.tflite").write_bytes(float_bytes)
    (out_dir / "cifar_mobilenetv2_int8.tflite").write_bytes(int8_bytes)
    images = x_eval.astype(np.float32)
    keras_one = keras_predict_one(model)
    if keras_logits is None:
        keras_logits = predict_logits(model, images)
    elif len(keras_logits) != len(y_eval):
        raise ValueError(f"keras_logits has {len(keras_logits)} rows for {len(y_eval)} images")
    rows = [
        {
            "format": "keras",
            "size_mb": keras_path.stat().st_size / 1e6,
            "accuracy": float((keras_logits.argmax(1) == y_eval).mean()),
            **latency_ms(keras_one, images, latency_runs),
        }
    ]
    for name, content in (("tflite_float32", float_bytes), ("tflite_int8", int8_bytes)):
        runner = tflite.TFLiteRunner(content, num_threads=num_threads)
        logits = runner.predict_logits(images)
        rows.append(
            {
                "format": name,
                "size_mb": len(content) / 1e6,
                "accuracy": float((logits.argmax(1) == y_eval).mean()),
                **latency_ms(runner.predict_one, images, latency_runs),
            }
        )
    return ExportResult(export_table(rows), len(y_eval), time.perf_counter() - start)
