"""Shared fixtures for the image-classification tests: tiny models, built once per session."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def tiny_classifier():
    """A narrow (alpha 0.35) random MobileNetV2 classifier at 32 px with calibrated BatchNorm."""
    from cifar_transfer import data, model

    classifier = model.build_classifier(32, 10, weights=None, alpha=0.35)
    images, _ = data.make_synthetic_cifar(8, seed=1)
    model.recalibrate_batchnorm(classifier, images)
    return classifier


@pytest.fixture(scope="session")
def synthetic_images() -> tuple[np.ndarray, np.ndarray]:
    from cifar_transfer import data

    images, labels = data.make_synthetic_cifar(2, seed=3)
    return images.astype(np.float32), labels
