"""Shared fixtures for the image-classification tests: tiny models, built once per session."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def tiny_classifier():
    """A narrow (alpha 0.35) random MobileNetV2 classifier at 32 px with calibrated BatchNorm."""
    import keras

    from cifar_transfer import data, model

    # Seeded: an unseeded random network occasionally puts a ReLU6 kink where the batch-of-1 and
    # batch-of-6 float32 kernels land on different sides, and the CAM comparison then measures
    # that kink instead of the batching code (seen once in CI: one cell of 24 off by 0.08).
    keras.utils.set_random_seed(0)
    classifier = model.build_classifier(32, 10, weights=None, alpha=0.35)
    images, _ = data.make_synthetic_cifar(8, seed=1)
    model.recalibrate_batchnorm(classifier, images)
    return classifier


def _build_tiny_cnn():
    import keras

    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = keras.layers.Conv2D(16, 3, activation="relu")(x)
    x = keras.layers.Conv2D(32, 3, strides=2, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(4, dtype="float32")(x))


@pytest.fixture(scope="session")
def tiny_cnn():
    """A two-convolution float32 classifier on 16x16 images (fast to convert and export)."""
    import keras

    keras.utils.set_random_seed(0)
    return _build_tiny_cnn()


@pytest.fixture(scope="session")
def build_tiny_cnn():
    """The architecture of ``tiny_cnn`` as a function, to build it under another dtype policy
    (``from_config`` would restore the float32 policies saved in the config)."""
    return _build_tiny_cnn


@pytest.fixture(scope="session")
def synthetic_images() -> tuple[np.ndarray, np.ndarray]:
    from cifar_transfer import data

    images, labels = data.make_synthetic_cifar(2, seed=3)
    return images.astype(np.float32), labels


@pytest.fixture
def restore_dtype_policy():
    """Put the global Keras dtype policy back after a test that sets ``mixed_float16`` (the
    full recipe does), so later tests build float32 models."""
    import keras

    previous = keras.mixed_precision.global_policy()
    yield
    keras.mixed_precision.set_dtype_policy(previous)
