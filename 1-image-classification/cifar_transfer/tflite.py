"""TFLite conversion (float32 and full-integer int8) and a runner for the converted models.

One module for both users: ``training.TFLiteBottom`` runs the frozen lower backbone with it
(XNNPACK kernels, for caching) and ``export`` writes and measures the deployable files with it.

Conversion uses ``tf.lite.TFLiteConverter`` (TensorFlow 2.21 still ships it; the standalone
LiteRT package, ``ai-edge-litert``, is only a runtime) through a SavedModel export, the path
that works for Keras 3 models. Inference uses LiteRT's ``Interpreter`` when that package is
installed and ``tf.lite.Interpreter`` (deprecated) otherwise.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from cifar_transfer.model import float32_copy


def saved_model(model: keras.Model, directory: str | os.PathLike[str]) -> Path:
    """Export the inference graph of a float32 copy of ``model`` as a SavedModel.

    Why a SavedModel: converting the Keras 3 model's concrete function directly leaves
    READ_VARIABLE ops that break int8 calibration. Why float32: a ``mixed_float16`` model (the
    full recipe on a GPU) has float16 convolutions that the converter refuses ("neither a
    custom op nor a flex op").
    """
    float32_copy(model).export(os.fspath(directory), format="tf_saved_model", verbose=False)
    return Path(directory)


def to_float(saved_model_dir: str | os.PathLike[str]) -> bytes:
    """Float32 TFLite flatbuffer."""
    return tf.lite.TFLiteConverter.from_saved_model(os.fspath(saved_model_dir)).convert()


def _int8_converter(
    saved_model_dir: str | os.PathLike[str], representative_images: np.ndarray, per_channel: bool
) -> Any:
    converter = tf.lite.TFLiteConverter.from_saved_model(os.fspath(saved_model_dir))

    def representative() -> Iterator[list[np.ndarray]]:
        for image in representative_images:
            yield [image[None].astype(np.float32)]

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter._experimental_disable_per_channel = not per_channel  # no public switch exists
    return converter


def to_int8(
    saved_model_dir: str | os.PathLike[str],
    representative_images: np.ndarray,
    per_channel: bool = True,
    keep_float: Sequence[str] = (),
) -> bytes:
    """Int8 TFLite: weights and activations int8, calibrated on ``representative_images``
    (training images, never test).

    Default: full integer with int8 input and output, per-channel weight scales.
    ``per_channel=False``: one scale per weight tensor. ``keep_float``: tensor names (as in
    :func:`int8_layer_errors`) whose ops stay float (selective quantisation, through LiteRT's
    quantisation debugger); the model then takes and returns float32.
    """
    converter = _int8_converter(saved_model_dir, representative_images, per_channel)
    if keep_float:
        options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=list(keep_float))
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter,
            debug_dataset=converter.representative_dataset,
            debug_options=options,
        )
        return debugger.get_nondebug_quantized_model()
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter.convert()


def int8_layer_errors(
    saved_model_dir: str | os.PathLike[str],
    representative_images: np.ndarray,
    debug_images: np.ndarray,
) -> pd.DataFrame:
    """Per-layer int8 error from LiteRT's quantisation debugger: for every quantised tensor,
    the RMSE between its float and int8 values on ``debug_images``, in units of the tensor's
    quantisation step (``rmse_per_scale``), worst first. The guide's rule of thumb: above
    about 0.7 a layer is a candidate to keep in float."""

    def debug_dataset() -> Iterator[list[np.ndarray]]:
        for image in debug_images:
            yield [image[None].astype(np.float32)]

    converter = _int8_converter(saved_model_dir, representative_images, per_channel=True)
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter, debug_dataset=debug_dataset
    )
    debugger.run()
    buffer = io.StringIO()
    debugger.layer_statistics_dump(buffer)
    buffer.seek(0)
    stats = pd.read_csv(buffer)
    stats["rmse_per_scale"] = np.sqrt(stats["mean_squared_error"]) / stats["scale"]
    stats["layer"] = [layer_label(name) for name in stats["tensor_name"]]
    columns = ["layer", "op_name", "tensor_name", "rmse_per_scale", "mean_error", "scale"]
    return stats.sort_values("rmse_per_scale", ascending=False)[columns].reset_index(drop=True)


def layer_label(tensor_name: str) -> str:
    """A readable label for a converted tensor's name: the Keras layer it comes from (the
    converter joins the names of fused ops with ";" and prefixes model scopes)."""
    first = tensor_name.split(";")[0]
    if first.startswith("StatefulPartitionedCall"):
        return "model output (logits)"
    parts = [p for p in first.split("/") if p]
    label = parts[-2] if len(parts) >= 2 else first
    return label.removesuffix("_1")


def float_flatbuffer(model: keras.Model) -> bytes:
    """A Keras model straight to a float32 TFLite flatbuffer (the SavedModel is temporary)."""
    with tempfile.TemporaryDirectory() as tmp:
        return to_float(saved_model(model, Path(tmp) / "saved_model"))


def _interpreter_class() -> Any:
    """LiteRT's ``Interpreter`` when installed, TensorFlow's otherwise."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        return tf.lite.Interpreter
    return Interpreter


class TFLiteRunner:
    """Runs a TFLite model (the exported classifier, or the float cached bottom) on batches of
    any length, (de)quantising int8 input and output."""

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
