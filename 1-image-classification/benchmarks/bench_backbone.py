"""MobileNetV2 forward throughput on this machine at several input sizes (the numbers the cpu
recipe was designed from: how many images per second the frozen backbone can process).

Usage: ``python benchmarks/bench_backbone.py`` (``MOBILENETV2_WEIGHTS`` optional; weights do not
change the speed). JSON to outputs/benchmarks/backbone_throughput.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import keras
import tensorflow as tf

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from mlshared.run import environment_summary  # noqa: E402


def images_per_second(size: int, batch: int, repeats: int) -> float:
    """Best-of-``repeats`` forward throughput of a no-top MobileNetV2 in inference mode."""
    net = keras.applications.MobileNetV2(
        input_shape=(size, size, 3), include_top=False, weights=None
    )
    forward = tf.function(lambda x: net(x, training=False))
    x = tf.random.uniform((batch, size, size, 3), -1, 1)
    forward(x)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        forward(x).numpy()
        best = min(best, time.perf_counter() - start)
    return batch / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[96, 128, 160, 224])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--out", default=str(PROJECT / "outputs" / "benchmarks" / "backbone_throughput.json")
    )
    args = parser.parse_args()
    result = {
        "what": "MobileNetV2 (alpha 1.0, no top) forward images/second, batch inference, CPU",
        "batch": args.batch,
        "timing": "best of repeats after one warm-up call",
        "images_per_second": {
            str(s): images_per_second(s, args.batch, args.repeats) for s in args.sizes
        },
        "environment": environment_summary(),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["images_per_second"], indent=2))


if __name__ == "__main__":
    main()
