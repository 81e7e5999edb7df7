"""Is an explanation faithful? Deletion/insertion curves and the model-randomisation check.

- Deletion / insertion (Petsiuk et al. 2018, RISE): remove (or reveal) pixels in the order a
  map ranks them and track the class probability. A faithful map makes the probability fall
  fast when deleting (low AUC) and rise fast when inserting (high AUC). A random map is the
  baseline every method must beat.
- Cascading model randomisation (Adebayo et al. 2018): re-initialise the weights from the top
  layer down and recompute the maps. A method that explains the *model* must produce maps
  that become dissimilar to the original ones; a method that only detects edges does not.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import keras
import numpy as np
from scipy.ndimage import gaussian_filter
from scipy.stats import spearmanr

from cifar_transfer.cams import CamExplainer
from cifar_transfer.model import BACKBONE_NAME, CAM_LAYER, float32_copy

ProbaFn = Callable[[np.ndarray], np.ndarray]


def blurred(images: np.ndarray, sigma: float = 3.0) -> np.ndarray:
    """Per-channel Gaussian blur: the insertion start point (keeps colours, removes shape)."""
    return np.stack(
        [gaussian_filter(img.astype(np.float32), sigma=(sigma, sigma, 0)) for img in images]
    )


def perturbation_curves(
    proba_fn: ProbaFn,
    images: np.ndarray,
    maps: np.ndarray,
    classes: np.ndarray,
    steps: int = 16,
    mode: str = "deletion",
    batch_size: int = 512,
) -> np.ndarray:
    """Class probability after perturbing fractions 0, 1/steps, ..., 1 of the pixels.

    ``maps`` are at image resolution (n, H, W); pixels are taken most-salient first (ties broken
    by a fixed random order so flat maps are not scanned row by row). Deletion replaces pixels
    with black (0), insertion starts from a blurred copy and reveals the original pixels.
    Returns (n, steps + 1) probabilities.
    """
    if mode not in ("deletion", "insertion"):
        raise ValueError("mode must be 'deletion' or 'insertion'")
    images = images.astype(np.float32)
    n, h, w, _ = images.shape
    if maps.shape != (n, h, w):
        raise ValueError(f"maps must be (n, H, W) = {(n, h, w)}, got {maps.shape}")
    jitter = np.random.default_rng(0).random((h * w,)) * 1e-6
    order = np.argsort(-(maps.reshape(n, -1) + jitter), axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(h * w)[None, :].repeat(n, 0), axis=1)
    rank = rank.reshape(n, h, w, 1)
    counts = np.round(np.linspace(0, h * w, steps + 1)).astype(int)
    if mode == "deletion":
        start, end = images, np.zeros_like(images)
    else:
        start, end = blurred(images), images
    perturbed = np.stack([np.where(rank < c, end, start) for c in counts], axis=1)
    flat = perturbed.reshape(n * (steps + 1), h, w, -1)
    proba = np.concatenate(
        [proba_fn(flat[i : i + batch_size]) for i in range(0, len(flat), batch_size)]
    )
    return proba[np.arange(len(flat)), np.repeat(classes, steps + 1)].reshape(n, steps + 1)


def curve_auc(curves: np.ndarray) -> np.ndarray:
    """Area under each probability-vs-fraction curve (trapezoid over [0, 1])."""
    x = np.linspace(0.0, 1.0, curves.shape[1])
    return np.trapezoid(curves, x, axis=1)


def random_maps(n: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    """Uniform random saliency: the baseline a real explanation must beat."""
    return np.random.default_rng(seed).random((n, h, w)).astype(np.float32)


@dataclass
class RandomisationResult:
    """Mean similarity of maps to the original maps after each cumulative randomisation."""

    stages: list[str]
    spearman: list[float]
    spearman_abs_diff: list[float]
    weights_changed: list[bool]
    seconds: float = 0.0

    def to_metrics(self) -> dict[str, Any]:
        """Every field, for the metrics JSON."""
        return asdict(self)


@dataclass
class RandomisationCheck:
    """Cascading randomisation of several methods on the same images."""

    results: dict[str, RandomisationResult]

    def table(self) -> Any:
        """Spearman similarity, one row per method and one column per stage (a DataFrame)."""
        import pandas as pd

        return pd.DataFrame({m: r.spearman for m, r in self.results.items()}).T.set_axis(
            next(iter(self.results.values())).stages, axis=1
        )

    def to_metrics(self) -> dict[str, Any]:
        """Every result, by method, for the metrics JSON."""
        return {method: result.to_metrics() for method, result in self.results.items()}


@dataclass
class FaithfulnessResult:
    """Deletion / insertion curves (``curves[method][mode]``, ``(n, steps + 1)``) and their
    mean AUCs (``auc[method][mode]``) for each method and the random baselines."""

    curves: dict[str, dict[str, np.ndarray]]
    auc: dict[str, dict[str, float]]
    n_images: int
    steps: int
    seconds: float = 0.0

    def table(self) -> Any:
        """AUCs, one row per method (a pandas DataFrame)."""
        import pandas as pd

        return pd.DataFrame(self.auc).T

    def to_metrics(self) -> dict[str, Any]:
        """The AUCs and what they were measured on (the curves are in the figure)."""
        return {
            "auc": self.auc,
            "n_images": self.n_images,
            "steps": self.steps,
            "seconds": self.seconds,
        }


def _stage_of(name: str) -> str:
    """MobileNetV2 block a layer belongs to (``bn_Conv1`` -> ``Conv1``, ``Conv_1_bn`` -> ``Conv_1``)."""
    if name.startswith("block_"):
        return "_".join(name.split("_")[:2])
    if name.startswith("expanded_conv"):
        return "expanded_conv"
    if name in ("Conv1", "bn_Conv1"):
        return "Conv1"
    if name.startswith("Conv_1"):
        return "Conv_1"
    return name


def weight_stages(
    backbone: keras.Model, head_layers: Sequence[keras.Layer]
) -> list[tuple[str, list]]:
    """Layers to randomise, grouped top-down: the head first, then backbone blocks.

    Groups are MobileNetV2 block prefixes (``block_16``, ..., ``expanded_conv``, ``Conv1``);
    only layers with weights count.
    """
    stages: list[tuple[str, list]] = [("logits", [layer for layer in head_layers if layer.weights])]
    groups: dict[str, list] = {}
    order: list[str] = []
    for layer in backbone.layers:
        if not layer.weights:
            continue
        prefix = _stage_of(layer.name)
        if prefix not in groups:
            groups[prefix] = []
            order.append(prefix)
        groups[prefix].append(layer)
    stages += [(prefix, groups[prefix]) for prefix in reversed(order)]
    return stages


def randomise_layers(layers: Sequence[keras.Layer], rng: np.random.Generator) -> bool:
    """Re-initialise kernels and biases (Gaussian, He-scaled); BatchNorm layers get random
    scale/offset (their moving statistics are kept so activations stay finite). Returns
    whether any weight value changed."""
    changed = False
    for layer in layers:
        for variable in layer.weights:
            name = variable.path.split("/")[-1]
            old = np.asarray(variable.numpy())
            if isinstance(layer, keras.layers.BatchNormalization):
                if name == "gamma":
                    new = rng.uniform(0.5, 1.5, old.shape)
                elif name == "beta":
                    new = rng.normal(0.0, 0.5, old.shape)
                else:
                    continue
            else:
                fan_in = int(np.prod(old.shape[:-1])) if old.ndim > 1 else 1
                new = rng.normal(0.0, np.sqrt(2.0 / max(fan_in, 1)), old.shape)
            variable.assign(new.astype(old.dtype))
            changed = changed or not np.allclose(old, new)
    return changed


def map_similarity(original: np.ndarray, other: np.ndarray) -> tuple[float, float]:
    """Mean Spearman rank correlation and mean absolute difference between paired maps."""
    rhos = []
    for a, b in zip(
        original.reshape(len(original), -1), other.reshape(len(other), -1), strict=True
    ):
        if np.ptp(a) == 0 or np.ptp(b) == 0:
            rhos.append(0.0)
        else:
            rhos.append(float(spearmanr(a, b).statistic))
    return float(np.mean(rhos)), float(np.mean(np.abs(original - other)))


def copy_model(model: keras.Model) -> keras.Model:
    """An independent float32 copy (new variables, same values), so randomising never touches
    the trained model. float32 because the explainer of a mixed-precision model explains its
    own float32 copy, which randomising this one would not reach."""
    return float32_copy(model, always_copy=True)


def cascading_randomisation(
    model: keras.Model,
    images: np.ndarray,
    classes: np.ndarray,
    method: str = "gradcam",
    target_layer: str = CAM_LAYER,
    backbone_name: str = BACKBONE_NAME,
    max_stages: int | None = None,
    seed: int = 0,
    **explainer_kwargs: Any,
) -> RandomisationResult:
    """Randomise a copy of the model cumulatively from the logits down and compare maps.

    Maps are always computed for the same ``classes`` (the trained model's predictions).
    Similarity is the Spearman rank correlation with the trained model's maps; a method passes
    when it drops towards 0 as layers are randomised.
    """
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    original = CamExplainer(model, target_layer, **explainer_kwargs).explain(
        images, classes, method
    )
    copy = copy_model(model)
    explainer = CamExplainer(copy, target_layer, **explainer_kwargs)
    head = [layer for layer in copy.layers if layer.name != backbone_name]
    stages = weight_stages(copy.get_layer(backbone_name), head)
    if max_stages is not None:
        stages = stages[:max_stages]
    result = RandomisationResult(stages=[], spearman=[], spearman_abs_diff=[], weights_changed=[])
    for name, layers in stages:
        changed = randomise_layers(layers, rng)
        maps = explainer.explain(images, classes, method)
        rho, diff = map_similarity(original, maps)
        result.stages.append(name)
        result.spearman.append(rho)
        result.spearman_abs_diff.append(diff)
        result.weights_changed.append(changed)
    result.seconds = time.perf_counter() - start
    return result


def randomisation_check(
    model: keras.Model,
    images: np.ndarray,
    classes: np.ndarray,
    methods: Sequence[str],
    target_layer: str = CAM_LAYER,
    max_stages: int | None = None,
    seed: int = 0,
) -> RandomisationCheck:
    """:func:`cascading_randomisation` for each method, each from the same seed."""
    return RandomisationCheck(
        {
            m: cascading_randomisation(
                model, images, classes, m, target_layer, max_stages=max_stages, seed=seed
            )
            for m in methods
        }
    )


def evaluate_methods(
    explainer: CamExplainer,
    proba_fn: ProbaFn,
    images: np.ndarray,
    classes: np.ndarray,
    methods: Sequence[str],
    steps: int = 16,
    seed: int = 0,
) -> FaithfulnessResult:
    """Deletion and insertion curves and mean AUCs for each method plus two random baselines.

    ``random`` is uniform noise at the CAM resolution, upsampled like the CAMs, so it removes
    pixels in blobs of the same size (the like-for-like baseline). ``random_pixel`` is
    per-pixel noise: scattered deletions destroy a 32x32 image much faster than any blob
    order, so it makes deletion look easy to beat only in the wrong direction; it is kept to
    show that effect.
    """
    start = time.perf_counter()
    h, w = images.shape[1:3]
    maps = {}
    for m in methods:
        raw = explainer.explain(images, classes, m)
        maps[m] = explainer.upsample(raw)
    cam_h, cam_w = raw.shape[1:]
    maps["random"] = explainer.upsample(random_maps(len(images), cam_h, cam_w, seed))
    maps["random_pixel"] = random_maps(len(images), h, w, seed)
    curves: dict[str, dict[str, np.ndarray]] = {}
    auc: dict[str, dict[str, float]] = {}
    for method, method_maps in maps.items():
        curves[method] = {
            mode: perturbation_curves(proba_fn, images, method_maps, classes, steps, mode)
            for mode in ("deletion", "insertion")
        }
        auc[method] = {mode: float(curve_auc(c).mean()) for mode, c in curves[method].items()}
    return FaithfulnessResult(curves, auc, len(images), steps, time.perf_counter() - start)
