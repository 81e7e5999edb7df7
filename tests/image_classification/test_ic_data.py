"""The CIFAR-10 parser reads files written in the official python format (folder and tar.gz)."""

from __future__ import annotations

import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from cifar_transfer import data


def _write_official(folder: Path, rows_per_batch: int = 6, seed: int = 0) -> dict[str, tuple]:
    """Write data_batch_1..5 + test_batch like the official pickles (bytes keys, CHW rows)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    written = {}
    for name in (*data.TRAIN_BATCHES, data.TEST_BATCH):
        chw = rng.integers(0, 256, size=(rows_per_batch, 3, 32, 32), dtype=np.uint8)
        labels = rng.integers(0, 10, size=rows_per_batch).tolist()
        batch = {
            b"batch_label": name.encode(),
            b"labels": labels,
            b"data": chw.reshape(rows_per_batch, 3072),
            b"filenames": [f"img_{i}.png".encode() for i in range(rows_per_batch)],
        }
        with open(folder / name, "wb") as handle:
            pickle.dump(batch, handle)
        written[name] = (chw, labels)
    return written


@pytest.fixture
def official_copy(tmp_path: Path) -> tuple[Path, dict[str, tuple]]:
    return tmp_path, _write_official(tmp_path / "cifar-10-batches-py")


def _check(loaded: tuple, written: dict[str, tuple]) -> None:
    x_train, y_train, x_test, y_test = loaded
    assert x_train.shape == (30, 32, 32, 3) and x_test.shape == (6, 32, 32, 3)
    assert x_train.dtype == np.uint8
    chw, labels = written["data_batch_2"]
    # row 0 of batch 2 is training row 6; pixel (r, c) channel k comes from chw[0, k, r, c]
    np.testing.assert_array_equal(x_train[6], chw[0].transpose(1, 2, 0))
    np.testing.assert_array_equal(y_train[6:12], labels)
    np.testing.assert_array_equal(x_test[3, 5, 7], written["test_batch"][0][3, :, 5, 7])
    np.testing.assert_array_equal(y_test, written["test_batch"][1])


def test_ic_parses_extracted_folder(official_copy) -> None:
    root, written = official_copy
    _check(data.load_cifar10_local(root), written)  # parent folder
    _check(data.load_cifar10_local(root / "cifar-10-batches-py"), written)


def test_ic_parses_tar_gz(official_copy, tmp_path: Path) -> None:
    root, written = official_copy
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(root / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    _check(data.load_cifar10_local(archive), written)


def test_ic_load_split_is_seeded(official_copy) -> None:
    root, _ = official_copy
    splits = data.load_cifar10(root, n_val=5, seed=1)
    assert splits.sizes() == {"train": 25, "val": 5, "test": 6}
    again = data.load_cifar10(root, n_val=5, seed=1)
    np.testing.assert_array_equal(splits.x_val, again.x_val)  # seeded


def test_ic_split_is_a_partition() -> None:
    x = np.arange(100)[:, None]
    y = np.arange(100) % 10
    x_tr, _y_tr, x_val, _y_val = data.train_val_split(x, y, n_val=20, seed=3)
    assert len(x_val) == 20 and len(x_tr) == 80
    assert sorted(np.concatenate([x_tr, x_val]).ravel().tolist()) == list(range(100))
    with pytest.raises(ValueError):
        data.train_val_split(x, y, n_val=100)


def test_ic_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        data.load_cifar10_local(tmp_path / "nope.tar.gz")
    with pytest.raises(FileNotFoundError, match="no complete CIFAR-10"):
        data.load_cifar10_local(tmp_path)


def test_ic_a_data_folder_resolves_to_the_extracted_copy_before_the_archive(
    official_copy, tmp_path: Path
) -> None:
    """``make run DATA_DIR=...`` points at ``$DATA_DIR/cifar10``: an official folder there is
    used; an archive is the fallback; a lone test batch (half a copy) is never mistaken for one."""
    root, written = official_copy
    folder = root / "cifar-10-batches-py"
    assert data.resolve_local_copy(root) == folder
    archive_only = tmp_path / "archive_only"
    archive_only.mkdir()
    with tarfile.open(archive_only / data.ARCHIVE_NAME, "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    (archive_only / data.TEST_BATCH).write_bytes((folder / data.TEST_BATCH).read_bytes())
    assert data.resolve_local_copy(archive_only) == archive_only / data.ARCHIVE_NAME
    _check(data.load_cifar10_local(archive_only), written)
    (folder / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match=r"data_batch_1\.\.5"):
        data.load_cifar10_local(folder)


def test_ic_synthetic_images_are_class_structured() -> None:
    images, labels = data.make_synthetic_cifar(6, seed=0)
    assert images.shape == (60, 32, 32, 3) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [6] * 10
    means = np.stack([images[labels == c].mean(axis=(0, 1, 2)) for c in range(10)])
    within = np.mean([images[labels == c].mean(axis=(1, 2)).std(axis=0).mean() for c in range(10)])
    assert means.std(axis=0).mean() > 2 * within  # classes differ more than images within a class


def test_ic_pipeline_shapes_and_augmentation() -> None:
    images, labels = data.make_synthetic_cifar(2, seed=0)
    ds = data.make_dataset(images, labels, batch_size=8, training=True, image_size=48)
    x, y = next(iter(ds))
    assert x.shape == (8, 48, 48, 3) and y.shape == (8, 10)
    augmented = data.augment_batch(images[:8]).numpy()
    assert augmented.shape == (8, 32, 32, 3)
    assert not np.allclose(augmented, images[:8])  # flips / crops changed something


def test_ic_crop_flip_view_is_a_seeded_mirror_and_shift_of_each_image() -> None:
    images = np.random.default_rng(0).integers(0, 256, size=(40, 32, 32, 3), dtype=np.uint8)
    out = data.crop_flip_view(images, pad=4, seed=3)
    assert out.shape == images.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out, data.crop_flip_view(images, pad=4, seed=3))  # seeded
    assert not np.array_equal(out, data.crop_flip_view(images, pad=4, seed=4))
    mirrored = 0
    for image, view in zip(images, out, strict=True):
        found = False
        for flip in (False, True):
            source = image[:, ::-1] if flip else image
            padded = np.pad(source, [(4, 4), (4, 4), (0, 0)], mode="reflect")
            for dy in range(9):
                for dx in range(9):
                    if np.array_equal(padded[dy : dy + 32, dx : dx + 32], view):
                        found, mirrored = True, mirrored + flip
        assert found  # every view is one mirror-and-shift of its own image
    assert 5 < mirrored < 35  # about half mirrored
    with pytest.raises(ValueError, match="image batch"):
        data.crop_flip_view(images[0])
