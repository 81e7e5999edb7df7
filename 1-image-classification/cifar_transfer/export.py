"""Export to ``.keras`` and TFLite (float32 and full-integer int8), and the comparison table.

TFLite conversion uses ``tf.lite.TFLiteConverter``, which TensorFlow 2.21 still ships (the
standalone LiteRT package, ``ai-edge-litert``, is only a runtime). Inference uses the LiteRT
``Interpreter`` when that package is installed and ``tf.lite.Interpreter`` otherwise. The
Keras 3 model is converted through a concrete function of its call (the Keras-3-safe path).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf


def save_keras(model: keras.Model, path: str | os.PathLike[str]) -> Path:
    """Native Keras v3 format (architecture + weights in one zip)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    return path


def saved_model(model: keras.Model, directory: str | os.PathLike[str]) -> Path:
    """Export the inference graph as a SavedModel: the converter path that works for Keras 3
    models (converting a concrete function directly leaves READ_VARIABLE ops that break int8
    calibration)."""
    model.export(os.fspath(directory), format="tf_saved_model", verbose=False)
    return Path(directory)


def to_tflite_float(saved_model_dir: str | os.PathLike[str]) -> bytes:
    """Float32 TFLite flatbuffer."""
    return tf.lite.TFLiteConverter.from_saved_model(os.fspath(saved_model_dir)).convert()


def to_tflite_int8(
    saved_model_dir: str | os.PathLike[str], representative_images: np.ndarray
) -> bytes:
    """Full-integer int8 TFLite: weights and activations int8, int8 input and output.

    ``representative_images`` (training images, never test) calibrate activation ranges.
    """
    converter = tf.lite.TFLiteConverter.from_saved_model(os.fspath(saved_model_dir))

    def representative() -> Iterator[list[np.ndarray]]:
        for image in representative_images:
            yield [image[None].astype(np.float32)]

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter.convert()


def _interpreter_class() -> Any:
    """LiteRT's ``Interpreter`` when installed, TensorFlow's otherwise."""
    try:
        from ai_edge_litert.interpreter import Interpreter  # type: ignore[import-not-found]
    except ImportError:
        return tf.lite.Interpreter
    return Interpreter


class TFLiteClassifier:
    """Runs a TFLite model (the exported classifier, or the float cached bottom) on image batches,
    (de)quantising int8 input/output."""

    def __init__(self, model_content: bytes, num_threads: int | None = None) -> None:
        self.interpreter = _interpreter_class()(
            model_content=model_content, num_threads=num_threads
        )
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self.size_bytes = len(model_content)
        self._batch = int(self.input["shape"][0])

    def _quantise(self, image: np.ndarray) -> np.ndarray:
        dtype = self.input["dtype"]
        if dtype == np.float32:
            return np.ascontiguousarray(image, dtype=np.float32)
        scale, zero = self.input["quantization"]
        info = np.iinfo(dtype)
        return np.clip(np.round(image / scale + zero), info.min, info.max).astype(dtype)

    def _dequantise(self, values: np.ndarray) -> np.ndarray:
        if self.output["dtype"] == np.float32:
            return values.astype(np.float32)
        scale, zero = self.output["quantization"]
        return (values.astype(np.float32) - zero) * scale

    def run(self, images: np.ndarray) -> np.ndarray:
        """Outputs for one batch of any length (the input is resized when the length changes)."""
        if len(images) != self._batch:
            self.interpreter.resize_tensor_input(
                self.input["index"], [len(images), *images.shape[1:]]
            )
            self.interpreter.allocate_tensors()
            self._batch = len(images)
        self.interpreter.set_tensor(self.input["index"], self._quantise(images))
        self.interpreter.invoke()
        return self._dequantise(self.interpreter.get_tensor(self.output["index"]))

    def predict_one(self, image: np.ndarray) -> np.ndarray:
        """Logits for one (H, W, 3) image with values 0..255 (the batch-1 path a device runs)."""
        return self.run(image[None])[0]

    def predict_logits(self, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Logits for many images, in batches (same numbers as batch 1, much faster)."""
        return np.concatenate(
            [self.run(images[i : i + batch_size]) for i in range(0, len(images), batch_size)]
        )


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


def export_all(
    model: keras.Model,
    out_dir: str | os.PathLike[str],
    x_eval: np.ndarray,
    y_eval: np.ndarray,
    x_representative: np.ndarray,
    latency_runs: int = 100,
    num_threads: int | None = None,
    keras_logits: np.ndarray | None = None,
) -> pd.DataFrame:
    """Write ``.keras``, float and int8 ``.tflite`` files and measure each on the same images.

    Accuracy is on ``x_eval`` (the notebook says how many test images); latency is batch 1.
    ``keras_logits``: the Keras model's logits on ``x_eval`` when already computed.
    """
    out_dir = Path(out_dir)
    keras_path = save_keras(model, out_dir / "cifar_mobilenetv2.keras")
    with tempfile.TemporaryDirectory() as tmp:
        exported = saved_model(model, Path(tmp) / "saved_model")
        float_bytes = to_tflite_float(exported)
        int8_bytes = to_tflite_int8(exported, x_representative)
    (out_dir / "cifar_mobilenetv2_float32.tflite").write_bytes(float_bytes)
    (out_dir / "cifar_mobilenetv2_int8.tflite").write_bytes(int8_bytes)
    images = x_eval.astype(np.float32)
    keras_one = keras_predict_one(model)
    if keras_logits is None:
        from cifar_transfer.evaluation import predict_logits

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
        runner = TFLiteClassifier(content, num_threads=num_threads)
        logits = runner.predict_logits(images)
        rows.append(
            {
                "format": name,
                "size_mb": len(content) / 1e6,
                "accuracy": float((logits.argmax(1) == y_eval).mean()),
                **latency_ms(runner.predict_one, images, latency_runs),
            }
        )
    return export_table(rows)
