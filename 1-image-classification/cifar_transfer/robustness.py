"""Accuracy and calibration under common corruptions, generated on the fly in the style of
CIFAR-10-C (Hendrycks & Dietterich 2019) from the official test images. Evaluation only: the
training recipe never sees a corrupted image.

Corruptions (OpenCV does the image processing):
- ``jpeg``: a JPEG round trip at quality 75 and 30 (``cv2.imencode``, 4:2:0 chroma),
- ``gaussian_noise``: additive noise, sigma 0.04 / 0.08 / 0.10 of the 0..1 range,
- ``gaussian_blur``: ``cv2.GaussianBlur``, sigma 0.4 / 0.7 / 1.0 pixels,
- ``brightness``: +0.1 / +0.3 / +0.5 on HSV value (``cv2.cvtColor``),
- ``contrast``: distance from the image mean scaled by 0.4 / 0.2 / 0.05,
at severities 1, 3 and 5 of CIFAR-10-C's five (its parameters for those levels; JPEG uses the
two qualities asked for instead). Each corruption is seeded, so a rerun sees the same images.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import cv2
import numpy as np
import pandas as pd

from mlshared import classification_metrics as cm

SEVERITIES = (1, 3, 5)
# CIFAR-10-C's parameters at severities 1..5 (we use 1, 3 and 5)
NOISE_SIGMA = (0.04, 0.06, 0.08, 0.09, 0.10)
BLUR_SIGMA = (0.4, 0.6, 0.7, 0.8, 1.0)
BRIGHTNESS_SHIFT = (0.1, 0.2, 0.3, 0.4, 0.5)
CONTRAST_FACTOR = (0.4, 0.3, 0.2, 0.1, 0.05)
JPEG_QUALITIES = (75, 30)


def _check_images(images: np.ndarray) -> np.ndarray:
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(
            f"expected uint8 RGB images (N, H, W, 3), got {images.dtype} {images.shape}"
        )
    return images


def jpeg(images: np.ndarray, quality: int) -> np.ndarray:
    """A JPEG round trip of every image (OpenCV's codec works on BGR, so the channels are
    swapped around it: chroma subsampling must see the real colours)."""
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be in 1..100, got {quality}")
    out = np.empty_like(_check_images(images))
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    for index, image in enumerate(images):
        ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), params)
        if not ok:
            raise RuntimeError(f"OpenCV could not JPEG-encode image {index}")
        decoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
        if decoded is None:
            raise RuntimeError(f"OpenCV could not decode image {index} after JPEG encoding")
        out[index] = cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)
    return out


def gaussian_noise(images: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    """Additive Gaussian noise with standard deviation ``sigma`` on the 0..1 scale."""
    x = _check_images(images) / 255.0
    noisy = x + np.random.default_rng(seed).normal(0.0, sigma, size=x.shape)
    return np.clip(np.round(noisy * 255), 0, 255).astype(np.uint8)


def gaussian_blur(images: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur (kernel size chosen by OpenCV from ``sigma``), reflecting at the borders."""
    out = np.empty_like(_check_images(images))
    for index, image in enumerate(images):
        out[index] = cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REFLECT)
    return out


def brightness(images: np.ndarray, shift: float) -> np.ndarray:
    """Raise HSV value by ``shift`` (0..1 scale), as CIFAR-10-C does."""
    out = np.empty_like(_check_images(images))
    for index, image in enumerate(images):
        hsv = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2HSV)
        hsv[..., 2] = np.clip(hsv[..., 2] + shift, 0.0, 1.0)
        rgb = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
        out[index] = np.clip(np.round(rgb * 255), 0, 255).astype(np.uint8)
    return out


def contrast(images: np.ndarray, factor: float) -> np.ndarray:
    """Scale every pixel's distance from its image's mean colour by ``factor``."""
    x = _check_images(images).astype(np.float32)
    means = x.mean(axis=(1, 2, 3), keepdims=True)
    return np.clip(np.round((x - means) * factor + means), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Corruption:
    """One corruption at one level: a name, a severity (1..5; 0 = quality level for JPEG) and
    what to do to the images."""

    name: str
    severity: int
    parameter: float
    apply: Callable[[np.ndarray], np.ndarray]

    @property
    def label(self) -> str:
        """Short label for tables and figures."""
        if self.name == "jpeg":
            return f"jpeg q{int(self.parameter)}"
        if self.severity == 0:
            return self.name
        return f"{self.name} s{self.severity}"


def corruptions(seed: int = 0) -> list[Corruption]:
    """Every corruption of the module docstring, in table order."""
    out = [Corruption("jpeg", 0, q, partial(jpeg, quality=q)) for q in JPEG_QUALITIES]
    for severity in SEVERITIES:
        level = severity - 1
        noise, blur = NOISE_SIGMA[level], BLUR_SIGMA[level]
        shift, factor = BRIGHTNESS_SHIFT[level], CONTRAST_FACTOR[level]
        out += [
            Corruption(
                "gaussian_noise",
                severity,
                noise,
                partial(gaussian_noise, sigma=noise, seed=seed + severity),
            ),
            Corruption("gaussian_blur", severity, blur, partial(gaussian_blur, sigma=blur)),
            Corruption("brightness", severity, shift, partial(brightness, shift=shift)),
            Corruption("contrast", severity, factor, partial(contrast, factor=factor)),
        ]
    return sorted(out, key=lambda c: (c.name, c.severity, -c.parameter))


def examples(image: np.ndarray, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """One (H, W, 3) uint8 image under every corruption, with the labels, for a figure."""
    levels = corruptions(seed)
    images = np.concatenate([c.apply(np.asarray(image)[None]) for c in levels])
    return images, [c.label for c in levels]


def _unchanged(images: np.ndarray) -> np.ndarray:
    return images


@dataclass
class RobustnessResult:
    """Accuracy and ECE (raw and calibrated) per corruption and level, with the clean row."""

    table: pd.DataFrame
    n_images: int
    seconds: float

    def to_metrics(self) -> dict[str, Any]:
        """The table as records, for the metrics JSON."""
        return {
            "rows": self.table.to_dict("records"),
            "n_images": self.n_images,
            "seconds": self.seconds,
        }


def evaluate_corruptions(
    predict_logits: Callable[[np.ndarray], np.ndarray],
    images: np.ndarray,
    y: np.ndarray,
    calibrate: Callable[[np.ndarray], np.ndarray],
    seed: int = 0,
    progress: bool = True,
) -> RobustnessResult:
    """Run ``predict_logits`` (the recipe's prediction rule) on the clean and every corrupted
    version of ``images``; ``calibrate`` maps logits to the calibrated probabilities fitted
    on clean validation data (so ECE shows how calibration holds up under shift)."""
    from tqdm.auto import tqdm

    start = time.perf_counter()
    levels = [Corruption("clean", 0, 0.0, _unchanged), *corruptions(seed)]
    rows = []
    for corruption in tqdm(levels, desc="corruptions", disable=not progress):
        logits = predict_logits(corruption.apply(images))
        raw = np.exp(logits - logits.max(1, keepdims=True))
        raw /= raw.sum(1, keepdims=True)
        calibrated = calibrate(logits)
        rows.append(
            {
                "corruption": corruption.name,
                "severity": corruption.severity,
                "parameter": corruption.parameter,
                "label": corruption.label,
                "accuracy": cm.accuracy(y, logits.argmax(1)),
                "ece": cm.expected_calibration_error(y, raw),
                "ece_calibrated": cm.expected_calibration_error(y, calibrated),
            }
        )
    table = pd.DataFrame(rows)
    clean = table.loc[table["corruption"] == "clean", "accuracy"].iloc[0]
    table["accuracy_drop_points"] = 100 * (clean - table["accuracy"])
    return RobustnessResult(table, len(y), time.perf_counter() - start)
