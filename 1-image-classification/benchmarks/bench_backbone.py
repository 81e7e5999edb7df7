"""Frozen-backbone throughput on this machine: TensorFlow's kernels against TFLite's XNNPACK
kernels, on the same Keras model, at several input sizes.

The cpu recipe was designed from these numbers: caching runs the frozen lower backbone once
per training image and view, so its speed decides how many views and how deep a fine-tune fit
in 30 minutes. Two models per size, both taking raw 32x32 images (resize + preprocess inside):
the whole no-top backbone, and the recipe's bottom (up to ``--cut``).

Usage: ``python benchmarks/bench_backbone.py`` (weights do not change the speed).
JSON to outputs/benchmarks/backbone_throughput.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np

from cifar_transfer import model, training
from mlshared.run import environment_summary

PROJECT = Path(__file__).resolve().parents[1]


def images_per_second(bottom: Any, images: np.ndarray, repeats: int) -> float:
    """Best-of-``repeats`` throughput of :func:`training.extract_features` (the caching path)."""
    training.extract_features(bottom, images[: len(images) // 2])  # warm-up / tracing
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        training.extract_features(bottom, images)
        best = min(best, time.perf_counter() - start)
    return len(images) / best


def measure(size: int, cut: str, images: np.ndarray, repeats: int) -> dict[str, dict[str, float]]:
    """Images/second of both engines for the whole backbone and for the bottom up to ``cut``."""
    classifier = model.build_classifier(size, 10, weights=None)
    whole = keras.Model(classifier.input, classifier.get_layer("pool").input)
    out = {}
    for name, bottom in (
        ("whole_backbone", whole),
        (f"bottom_to_{cut}", training.split_classifier(classifier, cut).bottom),
    ):
        keras_ips = images_per_second(bottom, images, repeats)
        tflite_bottom = training.TFLiteBottom(bottom, batch_size=len(images) // 4)
        tflite_ips = images_per_second(tflite_bottom, images, repeats)
        out[name] = {
            "tensorflow": keras_ips,
            "tflite_xnnpack": tflite_ips,
            "speedup": tflite_ips / keras_ips,
        }
        print(size, name, {k: round(v, 1) for k, v in out[name].items()}, flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[96, 128, 160, 224])
    parser.add_argument("--cut", default="block_12_add")
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--out", default=str(PROJECT / "outputs" / "benchmarks" / "backbone_throughput.json")
    )
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    images = np.random.default_rng(0).integers(0, 256, (args.images, 32, 32, 3), dtype=np.uint8)
    result = {
        "what": "MobileNetV2 (alpha 1.0, no top) frozen-backbone images/second on raw 32x32 "
        "images (resize + preprocess included), TensorFlow vs TFLite XNNPACK, CPU",
        "batch": {"tensorflow": 128, "tflite_xnnpack": args.images // 4},
        "timing": "best of repeats after one warm-up pass, float16 activations returned",
        "images_per_second": {
            str(s): measure(s, args.cut, images, args.repeats) for s in args.sizes
        },
        "environment": environment_summary(),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
