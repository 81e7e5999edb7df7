"""How the cpu recipe was chosen: accuracy against wall time of the options tried, measured on
the validation split only (the test set is not loaded).

Each option is the cpu recipe with some fields changed; each runs in its own process (a clean
TensorFlow state and its own memory peak) and trains the way the notebook does
(``training.train_classifier``). Reported per option: validation accuracy of one pass and with
test-time flip averaging, ECE (15 bins) before and after a temperature, and the seconds of
caching, head and fine-tuning.

Usage (a local copy of CIFAR-10 and the MobileNetV2 weights; see the project README):
    CIFAR10_PATH=... MOBILENETV2_WEIGHTS=... python benchmarks/tune_cpu_recipe.py [--options a,b]
Results are merged into outputs/benchmarks/cpu_recipe_options.json, one entry per option, so an
interrupted sweep can go on where it stopped.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

PROJECT = Path(__file__).resolve().parents[1]
OUT = PROJECT / "outputs" / "benchmarks" / "cpu_recipe_options.json"
CROPS = ("clean", "flip", "crop", "crop")
# name -> (what it tries, overrides of the cpu recipe)
OPTIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "128px-cut12-flip-ft4": (
        "the previous recipe without JPEG views: 128 px, blocks 13-16 fine-tuned, clean + mirror",
        {"image_size": 128, "train_views": ("clean", "flip"), "fine_tune_epochs": 4},
    ),
    "128px-cut12-crops-ft6": (
        "two more cached views (random flip + shift) and six fine-tuning epochs",
        {"image_size": 128, "train_views": CROPS, "fine_tune_epochs": 6},
    ),
    "160px-cut12-crops-ft6": (
        "the same at 160 px",
        {"image_size": 160, "train_views": CROPS, "fine_tune_epochs": 6},
    ),
    "128px-cut9-crops-ft6": (
        "three more blocks fine-tuned (10-16, cut at block_9_add) at 128 px",
        {
            "image_size": 128,
            "train_views": CROPS,
            "fine_tune_epochs": 6,
            "cache_layer": "block_9_add",
            "fine_tune_from": "block_10_expand",
        },
    ),
}


def run_option(name: str) -> dict[str, Any]:
    """Train one option and measure it on the validation split."""
    from cifar_transfer import data, training
    from cifar_transfer.recipes import recipe_for
    from mlshared import classification_metrics as cm
    from mlshared.calibration import apply_temperature, fit_temperature

    what, overrides = OPTIONS[name]
    recipe = recipe_for("cpu", tta_flip=True, **overrides)
    start = time.perf_counter()
    splits = data.splits_for(recipe, os.environ["CIFAR10_PATH"])
    trained = training.train_classifier(
        splits, recipe, os.environ.get("MOBILENETV2_WEIGHTS"), verbose=2
    )
    wall = time.perf_counter() - start
    out: dict[str, Any] = {"what": what, "overrides": overrides, "seconds": trained.seconds}
    out["seconds"]["wall"] = wall
    for rule, tta in (("one_pass", False), ("flip_averaged", True)):
        logits = training.combine_views(trained.val_logits_by_view, tta)
        temperature = fit_temperature(logits, splits.y_val)
        out[rule] = {
            "val_accuracy": cm.accuracy(splits.y_val, logits.argmax(1)),
            "val_ece": cm.expected_calibration_error(splits.y_val, apply_temperature(logits)),
            "temperature": temperature,
            "val_ece_at_temperature": cm.expected_calibration_error(
                splits.y_val, apply_temperature(logits, temperature)
            ),
        }
    out["history"] = trained.history.as_dict()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--options", default=",".join(OPTIONS), help="comma-separated names")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # one option, in this process
    args = parser.parse_args()
    for variable in ("CIFAR10_PATH", "MOBILENETV2_WEIGHTS"):
        if not os.environ.get(variable):
            sys.exit(f"set {variable} (see the project README): this sweep needs the real data")
    if args.child:
        print("RESULT " + json.dumps(run_option(args.child), default=float), flush=True)
        return
    from mlshared.run import environment_summary

    names = args.options.split(",")
    unknown = sorted(set(names) - set(OPTIONS))
    if unknown:
        sys.exit(f"unknown options {unknown}; choose from {sorted(OPTIONS)}")
    results = json.loads(OUT.read_text()) if OUT.exists() else {"options": {}}
    for name in names:
        print(f"== {name}: {OPTIONS[name][0]}", flush=True)
        child = subprocess.run(
            [sys.executable, __file__, "--child", name],
            cwd=PROJECT,
            stdout=subprocess.PIPE,
            text=True,
            check=True,
        )
        line = next(x for x in child.stdout.splitlines() if x.startswith("RESULT "))
        results["options"][name] = json.loads(line.removeprefix("RESULT "))
        results["environment"] = environment_summary()
        results["created_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(json.dumps(results, indent=2, default=float) + "\n")
        best = results["options"][name]
        print(
            f"   val accuracy {best['one_pass']['val_accuracy']:.4f} "
            f"(flip-averaged {best['flip_averaged']['val_accuracy']:.4f}), "
            f"wall {best['seconds']['wall']:.0f} s",
            flush=True,
        )


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
