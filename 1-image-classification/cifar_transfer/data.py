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
KERAS_CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"


@dataclass
class CifarSplits:
    """Train / validation / test arrays (uint8 NHWC images, int64 labels)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...] = CLASS_NAMES

    def sizes(self) -> dict[str, int]:
        """Split sizes, for the notebook's printout and the metrics JSON."""
        return {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)}

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


ARCHIVE_NAME = "cifar-10-python.tar.gz"


def _complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in (*TRAIN_BATCHES, TEST_BATCH))


def resolve_local_copy(path: str | os.PathLike[str]) -> Path:
    """The batch folder or archive a local path means: the path itself (archive, or folder
    holding all six batches), its ``cifar-10-batches-py/`` (what ``tar -xzf`` and the official
    layout give), or the ``cifar-10-python.tar.gz`` inside it, in that order."""
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"CIFAR-10 path {path} does not exist")
    if path.is_file():
        return path
    for candidate in (path, path / "cifar-10-batches-py"):
        if _complete(candidate):
            return candidate
    if (path / ARCHIVE_NAME).is_file():
        return path / ARCHIVE_NAME
    raise FileNotFoundError(
        f"no complete CIFAR-10 python copy under {path}: expected data_batch_1..5 and "
        f"{TEST_BATCH} there or in cifar-10-batches-py/, or {ARCHIVE_NAME}"
    )


def _iter_folder_batches(
    folder: Path, names: tuple[str, ...]
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    for name in names:
        with open(folder / name, "rb") as handle:
            yield _decode_batch(handle)


def load_cifar10_local(path: str | os.PathLike[str]) -> tuple[np.ndarray, ...]:
    """Parse a local copy in the official python format (tar.gz or extracted folder, see
    :func:`resolve_local_copy`).

    Returns ``(x_train, y_train, x_test, y_test)`` with 50,000 / 10,000 rows for the real set.
    """
    path = resolve_local_copy(path)
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
    return CifarSplits(x_tr, y_tr, x_val, y_val, x_test, y_test)


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
    return CifarSplits(x_train, y_train, x_val, y_val, x_test, y_test)


def splits_for(
    recipe: Recipe, path: str | os.PathLike[str] | None = None, synthetic: bool = False
) -> CifarSplits:
    """The splits a run uses: CIFAR-10 from ``path`` (or the download) or synthetic images,
    the training split cut to the recipe's ``train_limit``."""
    if synthetic:
        splits = synthetic_splits(seed=recipe.seed)
    else:
        splits = load_cifar10(path, seed=recipe.seed)
    if recipe.train_limit:
        splits.x_train = splits.x_train[: recipe.train_limit]
        splits.y_train = splits.y_train[: recipe.train_limit]
    return splits


def representative_images(splits: CifarSplits, n: int) -> np.ndarray:
    """int8 calibration images: the first ``n`` training images (never test images)."""
    return splits.x_train[:n]


def crop_flip_view(images: np.ndarray, pad: int = 4, seed: int = 0) -> np.ndarray:
    """One random view per image: mirrored with probability 1/2, then shifted by up to ``pad``
    pixels (reflect-padded, cropped back): the classic CIFAR augmentation, drawn once so the
    cached recipe can store its activations (:func:`augment_batch` is the on-the-fly twin)."""
    if images.ndim != 4:
        raise ValueError(f"expected an (N, H, W, C) image batch, got shape {images.shape}")
    rng = np.random.default_rng(seed)
    n, height, width = images.shape[:3]
    flips = rng.random(n) < 0.5
    source = images.copy()
    source[flips] = source[flips, :, ::-1]
    padded = np.pad(source, [(0, 0), (pad, pad), (pad, pad), (0, 0)], mode="reflect")
    offsets = rng.integers(0, 2 * pad + 1, size=(n, 2))
    out = np.empty_like(images)
    for index, (dy, dx) in enumerate(offsets):
        out[index] = padded[index, dy : dy + height, dx : dx + width]
    return out


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
