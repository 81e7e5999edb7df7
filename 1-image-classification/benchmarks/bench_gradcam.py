"""Batched Grad-CAM throughput on CPU vs two peers, on the same model and images.

Peers:
(a) the per-image ``make_gradcam_heatmap`` of the official Keras example,
    https://keras.io/examples/vision/grad_cam/ (reproduced below operation for operation);
(b) tf-keras-vis ``Gradcam`` (``ReplaceToLinear`` + ``CategoricalScore``), if it runs with the
    installed Keras; otherwise the exact error is recorded.

Both peers need the target layer at the top level of the model, so every method runs on the
flat copy of the classifier (same weights). Ratios come from one run. Map agreement is the
Pearson correlation of the raw (layer-resolution) maps, per image, averaged.

Usage: ``python benchmarks/bench_gradcam.py`` (``CIFAR10_PATH`` / ``MOBILENETV2_WEIGHTS`` use the
real images and ImageNet weights; otherwise synthetic images and random weights).
"""

from __future__ import annotations

import argparse
import json
import os
import time
import traceback
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from cifar_transfer import cams, data, model
from mlshared.run import environment_summary

PROJECT = Path(__file__).resolve().parents[1]

KERAS_EXAMPLE_URL = "https://keras.io/examples/vision/grad_cam/"


def make_gradcam_heatmap(img_array, model, last_conv_layer_name, pred_index=None):
    """The per-image function of the official Keras Grad-CAM example (see KERAS_EXAMPLE_URL).

    Kept as in the example: a new two-output model per call, one image, gradient of the chosen
    logit, channel weights = mean gradient, ReLU, divide by the maximum.
    """
    grad_model = keras.models.Model(
        model.inputs, [model.get_layer(last_conv_layer_name).output, model.output]
    )
    with tf.GradientTape() as tape:
        last_conv_layer_output, preds = grad_model(img_array)
        if pred_index is None:
            pred_index = tf.argmax(preds[0])
        class_channel = preds[:, pred_index]
    grads = tape.gradient(class_channel, last_conv_layer_output)
    pooled_grads = tf.reduce_mean(grads, axis=(0, 1, 2))
    last_conv_layer_output = last_conv_layer_output[0]
    heatmap = last_conv_layer_output @ pooled_grads[..., tf.newaxis]
    heatmap = tf.squeeze(heatmap)
    heatmap = tf.maximum(heatmap, 0) / tf.math.reduce_max(heatmap)
    return heatmap.numpy()


def _timed(fn, repeats: int) -> tuple[float, object]:
    """Best-of-``repeats`` wall time (after one warm-up call) and the last result."""
    result = fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    values = []
    for x, y in zip(a.reshape(len(a), -1), b.reshape(len(b), -1), strict=True):
        if np.ptp(x) == 0 or np.ptp(y) == 0:
            values.append(float(np.allclose(x, y)))
        else:
            values.append(float(np.corrcoef(x, y)[0, 1]))
    return float(np.mean(values))


def _tf_keras_vis(
    flat: keras.Model, images: np.ndarray, classes: np.ndarray, layer: str, repeats: int
) -> dict:
    try:
        from tf_keras_vis.gradcam import Gradcam
        from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
        from tf_keras_vis.utils.scores import CategoricalScore

        gradcam = Gradcam(flat, model_modifier=ReplaceToLinear(), clone=True)
        score = CategoricalScore(classes.tolist())

        def run() -> np.ndarray:
            return gradcam(
                score,
                images,
                penultimate_layer=layer,
                seek_penultimate_conv_layer=False,
                expand_cam=False,
                normalize_cam=False,
            )

        seconds, maps = _timed(run, repeats)
        maps = np.maximum(np.asarray(maps), 0)
        return {"runs": True, "seconds": seconds, "maps": maps}
    except Exception as error:  # record exactly why it does not run
        return {
            "runs": False,
            "error": f"{type(error).__name__}: {error}",
            "traceback_tail": traceback.format_exc().strip().splitlines()[-6:],
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--layer", default=model.CAM_LAYER)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(PROJECT / "outputs" / "benchmarks" / "gradcam.json"))
    args = parser.parse_args()

    keras.utils.set_random_seed(0)
    weights_path = os.environ.get("MOBILENETV2_WEIGHTS")
    cifar_path = os.environ.get("CIFAR10_PATH")
    classifier = model.build_classifier(args.image_size, 10, weights=weights_path or None)
    flat = model.flat_copy(classifier)
    if cifar_path:
        _, _, x_test, _ = data.load_cifar10_local(cifar_path)
        images = x_test[: args.batch].astype(np.float32)
    else:
        images = data.make_synthetic_cifar(args.batch // 10 + 1)[0][: args.batch].astype(np.float32)
    if not weights_path:
        model.recalibrate_batchnorm(classifier, images)
        flat = model.flat_copy(classifier)

    explainer = cams.CamExplainer(flat, args.layer)
    classes = explainer.logits(images).argmax(axis=1)
    ours_s, ours = _timed(
        lambda: explainer.explain(images, classes, "gradcam", batch_size=args.batch), args.repeats
    )

    def keras_example() -> np.ndarray:
        return np.stack(
            [
                make_gradcam_heatmap(images[i : i + 1], flat, args.layer, int(classes[i]))
                for i in range(len(images))
            ]
        )

    example_s, example = _timed(keras_example, max(1, args.repeats - 2))
    peer_vis = _tf_keras_vis(flat, images, classes, args.layer, args.repeats)

    result = {
        "what": "Grad-CAM maps for one batch on CPU: batched cifar_transfer.cams vs peers",
        "keras_example_url": KERAS_EXAMPLE_URL,
        "model": f"MobileNetV2 classifier, {args.image_size} px backbone input, 32x32 images in",
        "weights": "ImageNet (local file)"
        if weights_path
        else "random init (BatchNorm recalibrated)",
        "images": "CIFAR-10 test[:batch]" if cifar_path else "synthetic",
        "batch": args.batch,
        "target_layer": args.layer,
        "map_shape": list(ours.shape[1:]),
        "timing": "best of repeats after one warm-up call, same process",
        "ours_seconds": ours_s,
        "ours_images_per_second": args.batch / ours_s,
        "keras_example_seconds": example_s,
        "keras_example_images_per_second": args.batch / example_s,
        "speedup_vs_keras_example": example_s / ours_s,
        "pearson_vs_keras_example": _pearson(ours, example),
        "max_abs_diff_vs_keras_example": float(np.nanmax(np.abs(ours - np.nan_to_num(example)))),
        "tf_keras_vis": {k: v for k, v in peer_vis.items() if k != "maps"},
        "environment": environment_summary(),
    }
    if peer_vis["runs"]:
        vis_s = peer_vis["seconds"]
        result["tf_keras_vis"].update(
            images_per_second=args.batch / vis_s,
            speedup_vs_tf_keras_vis=vis_s / ours_s,
            pearson_vs_tf_keras_vis=_pearson(ours, peer_vis["maps"]),
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=float) + "\n")
    print(
        json.dumps({k: v for k, v in result.items() if k != "environment"}, indent=2, default=float)
    )


if __name__ == "__main__":
    main()
