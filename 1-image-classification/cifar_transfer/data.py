"""CIFAR-10 loading (download or local official python format), splits and tf.data pipelines.

The local parser reads the official ``cifar-10-python.tar.gz`` (or its extracted folder) so a
user without internet, and the tests, go through the same code path as the real data.
"""

from __future__ import annotations

import os
import pickle
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from cifar_transfer.recipes import Recipe

CLASS_NAMES: tuple[str, ...] = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
PIXEL_EXACT_MASK_FILE = "test_batch_pixel_exact_mask.npy"
KERAS_CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"


@dataclass
class CifarSplits:
    """Train / validation / test arrays (uint8 NHWC images, int64 labels).

    ``test_exact_mask`` marks test rows known to be pixel-exact (None when unknown).
    ``x_val_test_like`` / ``val_jpeg_rows``: the validation images degraded like the test copy
    (see :func:`like_test_copy`; set by :func:`splits_for`), and which rows were re-encoded.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...] = CLASS_NAMES
    test_exact_mask: np.ndarray | None = None
    x_val_test_like: np.ndarray | None = None
    val_jpeg_rows: np.ndarray | None = None

    @property
    def val_test_like(self) -> np.ndarray:
        """The test-like validation images (the clean ones when none were made)."""
        return self.x_val if self.x_val_test_like is None else self.x_val_test_like

    def sizes(self) -> dict[str, int]:
        """Split sizes, for the notebook's printout and the metrics JSON."""
        return {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)}

    def summary(self) -> str:
        """One line for the notebook: sizes, pixel-exact test rows, test-like validation."""
        exact = None if self.test_exact_mask is None else int(self.test_exact_mask.sum())
        jpeg = 0 if self.val_jpeg_rows is None else int(self.val_jpeg_rows.sum())
        return (
            f"{self.sizes()}; pixel-exact test rows: {exact}; "
            f"test-like validation: {jpeg} of {len(self.y_val)} rows JPEG"
        )

    def names(self, labels: np.ndarray) -> list[str]:
        """Class names of integer labels (image-grid captions)."""
        return [self.class_names[int(i)] for i in labels]


def _decode_batch(handle: IO[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """Decode one official pickle batch: 3072 bytes per row, channel-major, into NHWC uint8."""
    batch: dict[Any, Any] = pickle.load(handle, encoding="bytes")
    data = batch.get(b"data", batch.get("data"))
    labels = batch.get(b"labels", batch.get("labels"))
    if data is None or labels is None:
        raise ValueError("not a CIFAR-10 python batch: keys 'data' and 'labels' are missing")
    images = np.asarray(data, dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), np.asarray(labels, dtype=np.int64)


def _iter_tar_batches(
    path: Path, names: tuple[str, ...]
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    with tarfile.open(path, "r:*") as archive:
        members = {Path(m.name).name: m for m in archive.getmembers() if m.isfile()}
        for name in names:
            if name not in members:
                raise FileNotFoundError(f"{name} not found inside {path}")
            handle = archive.extractfile(members[name])
            assert handle is not None
            yield _decode_batch(handle)


def _find_batch_folder(path: Path) -> Path:
    for candidate in (path, path / "cifar-10-batches-py"):
        if (candidate / TEST_BATCH).is_file():
            return candidate
    raise FileNotFoundError(
        f"no CIFAR-10 python batches under {path} (expected {TEST_BATCH} there or in "
        "cifar-10-batches-py/)"
    )


def _iter_folder_batches(
    path: Path, names: tuple[str, ...]
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    folder = _find_batch_folder(path)
    for name in names:
        with open(folder / name, "rb") as handle:
            yield _decode_batch(handle)


def load_cifar10_local(path: str | os.PathLike[str]) -> tuple[np.ndarray, ...]:
    """Parse a local copy in the official python format (tar.gz or extracted folder).

    Returns ``(x_train, y_train, x_test, y_test)`` with 50,000 / 10,000 rows for the real set.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"CIFAR-10 path {path} does not exist")
    reader = _iter_tar_batches if path.is_file() else _iter_folder_batches
    train = list(reader(path, TRAIN_BATCHES))
    (test,) = list(reader(path, (TEST_BATCH,)))
    x_train = np.concatenate([b[0] for b in train])
    y_train = np.concatenate([b[1] for b in train])
    return x_train, y_train, test[0], test[1]


def load_cifar10_download() -> tuple[np.ndarray, ...]:
    """Download through ``keras.datasets`` (Colab); a failure says how to use a local copy."""
    import keras

    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()
    except Exception as error:  # network errors come in many types
        raise RuntimeError(
            f"Downloading CIFAR-10 from {KERAS_CIFAR10_URL} failed ({error!r}). Download the "
            "python version yourself and set CIFAR10_PATH to the .tar.gz or its folder."
        ) from error
    return x_train, y_train.ravel().astype(np.int64), x_test, y_test.ravel().astype(np.int64)


def find_pixel_exact_mask(path: str | os.PathLike[str] | None) -> np.ndarray | None:
    """Load ``test_batch_pixel_exact_mask.npy`` next to a local copy, if one is there."""
    if path is None:
        return None
    path = Path(path).expanduser()
    folder = path.parent if path.is_file() else path
    for candidate in (folder / PIXEL_EXACT_MASK_FILE, folder.parent / PIXEL_EXACT_MASK_FILE):
        if candidate.is_file():
            return np.load(candidate).astype(bool)
    return None


def train_val_split(
    x: np.ndarray, y: np.ndarray, n_val: int = 5000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Seeded random split of the training set; the test set is never used for choices."""
    if not 0 < n_val < len(y):
        raise ValueError(f"n_val={n_val} must be between 1 and {len(y) - 1}")
    order = np.random.default_rng(seed).permutation(len(y))
    val, train = order[:n_val], order[n_val:]
    return x[train], y[train], x[val], y[val]


def load_cifar10(
    path: str | os.PathLike[str] | None = None, n_val: int = 5000, seed: int = 0
) -> CifarSplits:
    """CIFAR-10 as 45k/5k/10k splits from ``path`` (tar.gz or folder) or the Keras download."""
    if path:
        x_train, y_train, x_test, y_test = load_cifar10_local(path)
    else:
        x_train, y_train, x_test, y_test = load_cifar10_download()
    x_tr, y_tr, x_val, y_val = train_val_split(x_train, y_train, n_val=n_val, seed=seed)
    mask = find_pixel_exact_mask(path)
    if mask is not None and len(mask) != len(y_test):
        raise ValueError(f"pixel-exact mask has {len(mask)} rows, test set {len(y_test)}")
    return CifarSplits(x_tr, y_tr, x_val, y_val, x_test, y_test, test_exact_mask=mask)


def make_synthetic_cifar(
    n_per_class: int, image_size: int = 32, num_classes: int = 10, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Class-structured images for smoke runs: each class has its own tint and stripe angle,
    plus a bright blob at a random place.

    The structure is learnable from random-weight features in a few steps (smoke runs have no
    pretrained weights) and the blob gives CAMs something to point at; noise keeps it from
    being trivial.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:image_size, 0:image_size] / image_size
    images, labels = [], []
    for label in range(num_classes):
        hue = np.array([np.cos(label), np.sin(label * 1.7), np.cos(label * 0.6 + 1.0)])
        angle = np.pi * label / num_classes
        for _ in range(n_per_class):
            phase = rng.uniform(0, 2 * np.pi)
            stripes = np.sin(12 * (xx * np.cos(angle) + yy * np.sin(angle)) + phase)
            cy, cx = rng.uniform(0.25, 0.75, size=2)
            blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 0.01)
            image = 0.5 + 0.2 * hue + 0.15 * stripes[..., None] * hue + 0.3 * blob[..., None]
            image += rng.normal(0, 0.08, size=image.shape)
            images.append(np.clip(image * 255, 0, 255).astype(np.uint8))
            labels.append(label)
    order = rng.permutation(len(labels))
    return np.stack(images)[order], np.asarray(labels, dtype=np.int64)[order]


def synthetic_splits(
    n_train_per_class: int = 40, n_eval_per_class: int = 10, image_size: int = 32, seed: int = 0
) -> CifarSplits:
    """Smoke-mode splits made by :func:`make_synthetic_cifar` (no download, seconds)."""
    x_train, y_train = make_synthetic_cifar(n_train_per_class, image_size, seed=seed)
    x_val, y_val = make_synthetic_cifar(n_eval_per_class, image_size, seed=seed + 1)
    x_test, y_test = make_synthetic_cifar(n_eval_per_class, image_size, seed=seed + 2)
    mask = np.zeros(len(y_test), dtype=bool)
    mask[: len(y_test) // 2] = True  # exercise the subset reporting path
    return CifarSplits(x_train, y_train, x_val, y_val, x_test, y_test, test_exact_mask=mask)


def splits_for(
    recipe: Recipe, path: str | os.PathLike[str] | None = None, synthetic: bool = False
) -> CifarSplits:
    """The splits a run uses, prepared the recipe's way: CIFAR-10 from ``path`` (or the
    download) or synthetic images, the training split cut to ``train_limit`` and partly
    JPEG-re-encoded (``jpeg_fraction``), and the test-like validation images made."""
    if synthetic:
        splits = synthetic_splits(seed=recipe.seed)
    else:
        splits = load_cifar10(path, seed=recipe.seed)
    if recipe.train_limit:
        splits.x_train = splits.x_train[: recipe.train_limit]
        splits.y_train = splits.y_train[: recipe.train_limit]
    if recipe.jpeg_fraction:  # end-to-end recipes: JPEG copies replace part of the training set
        splits.x_train = jpeg_augment(splits.x_train, recipe.jpeg_fraction, seed=recipe.seed)
    splits.x_val_test_like, splits.val_jpeg_rows = like_test_copy(
        splits.x_val, splits.test_exact_mask, recipe.jpeg_quality, seed=recipe.seed
    )
    return splits


def representative_images(splits: CifarSplits, recipe: Recipe) -> np.ndarray:
    """int8 calibration images: the first ``n_representative`` training images, degraded in
    the test copy's share like the validation split (never test images)."""
    images = splits.x_train[: recipe.n_representative]
    return like_test_copy(images, splits.test_exact_mask, recipe.jpeg_quality, seed=recipe.seed)[0]


def augment_batch(images: Any, pad: int = 4, seed: Any = None) -> Any:
    """Random horizontal flip and pad-and-crop (reflect padding) on a uint8/float image batch."""
    import tensorflow as tf

    images = tf.cast(images, tf.float32)
    size = tf.shape(images)[1:3]
    images = tf.image.random_flip_left_right(images)
    padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]], mode="REFLECT")
    batch = tf.shape(images)[0]
    offsets = tf.random.uniform([batch, 2], 0, 2 * pad + 1, dtype=tf.int32)

    def crop(args: Any) -> Any:
        image, offset = args
        return tf.slice(image, [offset[0], offset[1], 0], [size[0], size[1], -1])

    return tf.map_fn(crop, (padded, offsets), fn_output_signature=tf.float32)


def make_dataset(
    x: np.ndarray,
    y: np.ndarray | None,
    batch_size: int,
    training: bool = False,
    image_size: int | None = None,
    num_classes: int = 10,
    seed: int = 0,
) -> Any:
    """A tf.data pipeline: shuffle + flip/pad-crop when training, optional resize, prefetch.

    Labels come out one-hot so label smoothing works with the standard loss. Resizing is
    optional because the classifier carries its own ``Resizing`` layer (so exported models and
    explainers take native 32x32 images); pass ``image_size`` to resize in the pipeline instead.
    """
    import tensorflow as tf

    autotune = tf.data.AUTOTUNE
    features = tf.data.Dataset.from_tensor_slices(x)
    if y is not None:
        labels = tf.data.Dataset.from_tensor_slices(tf.one_hot(y, num_classes))
        ds = tf.data.Dataset.zip((features, labels))
    else:
        ds = features
    if training:
        ds = ds.shuffle(min(len(x), 20_000), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=training)

    def transform(images: Any) -> Any:
        images = augment_batch(images) if training else tf.cast(images, tf.float32)
        if image_size is not None:
            images = tf.image.resize(images, (image_size, image_size))
        return images

    if y is not None:
        ds = ds.map(lambda a, b: (transform(a), b), num_parallel_calls=autotune)
    else:
        ds = ds.map(transform, num_parallel_calls=autotune)
    return ds.prefetch(autotune)


def _jpeg_roundtrip(image: np.ndarray, quality: int) -> np.ndarray:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=int(quality))
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def jpeg_copy(images: np.ndarray, quality: int = 75) -> np.ndarray:
    """Every image re-encoded as JPEG (Pillow, default 4:2:0 chroma subsampling).

    Why quality 75 with Pillow's defaults: the local copy's JPEG-degraded test images are
    near-fixed points of exactly this round trip (the project README quotes the measurement), so
    views made this way match that degradation.
    """
    if not 1 <= quality <= 95:
        raise ValueError(f"JPEG quality must be in 1..95, got {quality}")
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(
            f"expected uint8 RGB images (N, H, W, 3), got {images.dtype} {images.shape}"
        )
    out = np.empty_like(images)
    for index, image in enumerate(images):
        out[index] = _jpeg_roundtrip(image, quality)
    return out


def like_test_copy(
    images: np.ndarray, exact_mask: np.ndarray | None, quality: int = 75, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Validation images degraded in the same share as the test copy (``1 - exact_mask``).

    Why: temperature scaling is only as good as the match between the data it is fitted on and
    the data it is used on. With no mask (the official download) the images come back clean.
    Returns the images and a boolean array marking the re-encoded rows.
    """
    share = 0.0 if exact_mask is None else 1.0 - float(np.mean(exact_mask))
    rows = np.zeros(len(images), dtype=bool)
    rows[np.random.default_rng(seed).permutation(len(images))[: round(share * len(images))]] = True
    out = images.copy()
    if rows.any():
        out[rows] = jpeg_copy(images[rows], quality)
    return out, rows


def jpeg_augment(
    images: np.ndarray,
    fraction: float = 0.5,
    quality_range: tuple[int, int] = (50, 95),
    seed: int = 0,
) -> np.ndarray:
    """Re-encode a random ``fraction`` of images as JPEG at a random quality.

    Why: the local CIFAR-10 copy's test images 1000-9999 went through JPEG (quality 75), and
    upscaled 8x8-block artefacts cost a frozen ImageNet backbone accuracy (the project README
    has the measured gap). Training on a
    mix of clean and JPEG views makes the model robust to that corruption without ever looking
    at test images. Returns a new array; the originals are untouched.
    """
    rng = np.random.default_rng(seed)
    out = images.copy()
    chosen = np.flatnonzero(rng.random(len(images)) < fraction)
    qualities = rng.integers(quality_range[0], quality_range[1] + 1, size=len(chosen))
    for index, quality in zip(chosen, qualities, strict=True):
        out[index] = _jpeg_roundtrip(images[index], quality)
    return out
