"""Corruptions: each generator does what its name says (checked against NumPy / Pillow
references or closed forms), the table has every level, and CAM overlays come out right."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from scipy.special import softmax

from cifar_transfer import cams, figures, robustness


@pytest.fixture
def images() -> np.ndarray:
    rng = np.random.default_rng(0)
    smooth = np.linspace(40, 210, 32)[None, :, None] * np.ones((6, 32, 32, 3))
    return np.clip(smooth + rng.normal(0, 12, size=smooth.shape), 0, 255).astype(np.uint8)


def test_ic_jpeg_matches_pillow_and_degrades_with_quality(images: np.ndarray) -> None:
    ours = robustness.jpeg(images, 75)
    for image, out in zip(images, ours, strict=True):
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="JPEG", quality=75)
        pillow = np.asarray(Image.open(buffer).convert("RGB")).astype(int)
        assert np.abs(out.astype(int) - pillow).mean() < 1.5  # both libjpeg, 4:2:0
    error = [np.abs(robustness.jpeg(images, q).astype(int) - images).mean() for q in (75, 30)]
    assert 0 < error[0] < error[1]
    with pytest.raises(ValueError, match="quality"):
        robustness.jpeg(images, 0)


def test_ic_noise_blur_brightness_contrast_follow_their_definitions(images: np.ndarray) -> None:
    noisy = robustness.gaussian_noise(images, 0.08, seed=1).astype(float)
    residual = (noisy - images) / 255
    inside = (images > 60) & (images < 195)  # away from clipping
    assert residual[inside].std() == pytest.approx(0.08, rel=0.1)
    np.testing.assert_array_equal(
        robustness.gaussian_noise(images, 0.08, seed=1), robustness.gaussian_noise(images, 0.08, 1)
    )
    blurred = robustness.gaussian_blur(images, 1.0)
    assert blurred.astype(float).std() < images.astype(float).std()
    flat = np.full((1, 8, 8, 3), 100, np.uint8)
    np.testing.assert_array_equal(robustness.gaussian_blur(flat, 1.0), flat)
    grey = np.full((1, 4, 4, 3), 100, np.uint8)  # value 100/255; +0.3 -> 176.5
    np.testing.assert_allclose(robustness.brightness(grey, 0.3), 176, atol=1)
    low = robustness.contrast(images, 0.2).astype(float)
    means = images.astype(float).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(low.mean(axis=(1, 2, 3)), means, atol=1.0)
    spread = (images.astype(float) - means[:, None, None, None]).std()
    assert (low - means[:, None, None, None]).std() == pytest.approx(0.2 * spread, rel=0.05)
    with pytest.raises(ValueError, match="uint8 RGB"):
        robustness.contrast(images.astype(float), 0.5)


def test_ic_corruption_table_has_every_level_and_the_clean_row(images: np.ndarray) -> None:
    labels = [c.label for c in robustness.corruptions()]
    assert len(labels) == 14 and "jpeg q75" in labels and "gaussian_noise s5" in labels
    y = np.arange(len(images)) % 3

    def predict(x: np.ndarray) -> np.ndarray:
        """Right on clean images, wrong wherever a pixel changed."""
        changed = np.any(x != images, axis=(1, 2, 3))
        logits = np.zeros((len(x), 3))
        logits[np.arange(len(x)), np.where(changed, (y + 1) % 3, y)] = 5.0
        return logits

    def calibrate(z: np.ndarray) -> np.ndarray:
        return softmax(z / 5, axis=1)  # confidence e / (e + 2) on every image

    result = robustness.evaluate_corruptions(predict, images, y, calibrate)
    table = result.table.set_index("label")
    assert len(table) == 15 and table.loc["clean", "accuracy"] == 1.0
    assert table.loc["gaussian_noise s5", "accuracy"] == 0.0
    assert table.loc["gaussian_noise s5", "accuracy_drop_points"] == 100.0
    confidence = np.e / (np.e + 2)
    assert table.loc["clean", "ece_calibrated"] == pytest.approx(1 - confidence)  # all right
    assert table.loc["clean", "ece"] == pytest.approx(1 - softmax([5.0, 0, 0])[0])
    grid = figures.robustness_grid(result.table, "accuracy")
    assert list(grid.columns) == ["s1", "s3", "s5", "q75", "q30"]
    assert np.isnan(grid.loc["jpeg", "s1"]) and grid.loc["contrast", "s5"] == 0.0
    assert result.to_metrics()["n_images"] == len(images)
    shown, names = robustness.examples(images[0])
    assert shown.shape == (14, 32, 32, 3) and names == labels
    np.testing.assert_array_equal(
        shown[names.index("contrast s5")], robustness.contrast(images[:1], 0.05)[0]
    )


def test_ic_overlay_resizes_colours_and_blends(images: np.ndarray) -> None:
    maps = np.zeros((6, 4, 4))
    maps[:, 0, 0] = 1.0  # hot top-left corner
    out = cams.overlay(images, maps, alpha=0.5)
    assert out.shape == images.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(cams.overlay(images, maps, alpha=0.0), images)
    pure = cams.overlay(images, maps, alpha=1.0)
    assert pure[0, 0, 0, 0] > 100 and pure[0, 0, 0, 2] < 100  # jet: hot is red
    assert pure[0, -1, -1, 2] > 100 and pure[0, -1, -1, 0] < 100  # cold is blue
    with pytest.raises(ValueError, match="alpha"):
        cams.overlay(images, maps, alpha=2.0)
