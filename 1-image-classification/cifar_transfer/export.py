"""Export to ``.keras`` and TFLite (float32 and int8 variants, converted by
:mod:`cifar_transfer.tflite`), and the size / accuracy / latency table of every file.

The int8 variants are the known fixes for MobileNetV2's int8 accuracy loss, measured side by
side rather than guessed: per-channel (the default) against per-tensor weight scales, a larger
representative set, and selective quantisation that keeps the layers with the largest int8
error (LiteRT's quantisation debugger) in float."""

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


INT8_VARIANTS = ("per_channel", "per_tensor", "more_representative", "selective")


def export_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Size / accuracy / latency per format, with the accuracy change against TFLite float32
    (the Keras model is the same network: a unit test checks their logits agree)."""
    table = pd.DataFrame(rows).set_index("format")
    if "tflite_float32" in table.index:
        reference = table.loc["tflite_float32", "accuracy"]
        table["accuracy_change_points"] = 100 * (table["accuracy"] - reference)
    return table


@dataclass
class ExportResult:
    """The export table (one row per file: size, accuracy, batch-1 latency), the per-layer
    int8 errors behind the selective variant, and what it was measured on."""

    table: pd.DataFrame
    layer_errors: pd.DataFrame | None
    n_images: int
    seconds: float

    def accuracy_drop(self, fmt: str) -> float:
        """Accuracy lost by ``fmt`` against TFLite float32 (a fraction, not points)."""
        return float(self.table.loc["tflite_float32", "accuracy"] - self.table.loc[fmt, "accuracy"])

    def to_metrics(self) -> dict[str, Any]:
        """The table as records, for the metrics JSON."""
        errors = self.layer_errors
        return {
            "formats": self.table.reset_index().to_dict("records"),
            "int8_layer_errors": None if errors is None else errors.head(10).to_dict("records"),
            "n_images": self.n_images,
            "seconds": self.seconds,
        }


def _int8_variant(
    name: str,
    exported: Path,
    x_representative: np.ndarray,
    keep_float: list[str],
    labels: list[str],
) -> tuple[str, bytes, str]:
    """(row name, flatbuffer, what it is) of one int8 variant."""
    n = len(x_representative)
    if name == "per_channel":
        content = tflite.to_int8(exported, x_representative[: n // 4])
        return "tflite_int8", content, f"full integer, per-channel, {n // 4} representative images"
    if name == "per_tensor":
        content = tflite.to_int8(exported, x_representative[: n // 4], per_channel=False)
        return "tflite_int8_per_tensor", content, f"per-tensor weight scales, {n // 4} images"
    if name == "more_representative":
        content = tflite.to_int8(exported, x_representative)
        return "tflite_int8_more_representative", content, f"per-channel, {n} images"
    if name == "selective":
        content = tflite.to_int8(exported, x_representative[: n // 4], keep_float=keep_float)
        what = f"{len(keep_float)} worst layers in float: " + ", ".join(labels)
        return "tflite_int8_selective", content, what
    raise ValueError(f"unknown int8 variant {name!r}; choose from {INT8_VARIANTS}")


def export_all(
    model: keras.Model,
    out_dir: str | os.PathLike[str],
    x_eval: np.ndarray,
    y_eval: np.ndarray,
    x_representative: np.ndarray,
    latency_runs: int = 100,
    num_threads: int | None = None,
    variants: tuple[str, ...] = INT8_VARIANTS,
    n_keep_float: int = 3,
    n_debug: int = 32,
) -> ExportResult:
    """Write ``.keras``, float32 and int8 ``.tflite`` files and measure each on the same images.

    Accuracy is one pass over ``x_eval`` (no flip averaging, the deployed rule); latency is
    batch 1. ``x_representative`` (training images): the int8 variants calibrate on the first
    quarter, ``more_representative`` on all of them, and the quantisation debugger ranks the
    layers on ``n_debug`` of them for ``selective``, which keeps ``n_keep_float`` in float.
    The TFLite files come from a float32 copy of a mixed-precision model.
    """
    unknown = sorted(set(variants) - set(INT8_VARIANTS))
    if unknown:
        raise ValueError(f"unknown int8 variants {unknown}; choose from {INT8_VARIANTS}")
    start = time.perf_counter()
    out_dir = Path(out_dir)
    keras_path = save_keras(model, out_dir / "cifar_mobilenetv2.keras")
    images = x_eval.astype(np.float32)
    keras_one = keras_predict_one(model)
    rows: list[dict[str, Any]] = [
        {
            "format": "keras",
            "what": "Keras v3 file (same network as float32; accuracy not re-measured)",
            "size_mb": keras_path.stat().st_size / 1e6,
            "accuracy": np.nan,
            **latency_ms(keras_one, images, latency_runs),
        }
    ]
    files: list[tuple[str, bytes, str]] = []
    layer_errors = None
    with tempfile.TemporaryDirectory() as tmp:
        exported = tflite.saved_model(model, Path(tmp) / "saved_model")
        files.append(("tflite_float32", tflite.to_float(exported), "float32"))
        keep_float: list[str] = []
        labels: list[str] = []
        if "selective" in variants:
            layer_errors = tflite.int8_layer_errors(
                exported, x_representative[: len(x_representative) // 4], x_representative[:n_debug]
            )
            keep_float = list(layer_errors["tensor_name"].head(n_keep_float))
            labels = list(layer_errors["layer"].head(n_keep_float))
        files += [
            _int8_variant(v, exported, x_representative, keep_float, labels) for v in variants
        ]
    for name, content, what in files:
        (out_dir / f"cifar_mobilenetv2_{name.removeprefix('tflite_')}.tflite").write_bytes(content)
        runner = tflite.TFLiteRunner(content, num_threads=num_threads)
        logits = runner.predict_logits(images)
        rows.append(
            {
                "format": name,
                "what": what,
                "size_mb": len(content) / 1e6,
                "accuracy": float((logits.argmax(1) == y_eval).mean()),
                **latency_ms(runner.predict_one, images, latency_runs),
            }
        )
    return ExportResult(export_table(rows), layer_errors, len(y_eval), time.perf_counter() - start)
