"""Model wiring: preprocessing, frozen BatchNorm, the cached split equals the full model."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest

from cifar_transfer import model, recipes, training


def test_ic_preprocess_layer_matches_keras(tiny_classifier) -> None:
    """The model's own preprocessing layer is MobileNetV2's ``preprocess_input``."""
    x = np.linspace(0, 255, 12, dtype=np.float32).reshape(1, 2, 2, 3)
    expected = keras.applications.mobilenet_v2.preprocess_input(x.copy())
    layer = tiny_classifier.get_layer(model.PREPROCESS_NAME)
    np.testing.assert_allclose(layer(x).numpy(), expected, atol=1e-6)


def test_ic_split_model_equals_full_model(tiny_classifier, synthetic_images) -> None:
    images, _ = synthetic_images
    split = training.split_classifier(tiny_classifier, "block_15_add")
    full = tiny_classifier(images, training=False).numpy()
    via_cache = split.top(split.bottom(images, training=False), training=False).numpy()
    np.testing.assert_allclose(via_cache, full, atol=1e-4)
    cached = training.extract_features(split.bottom, images[:4], flip=True)
    direct = split.bottom(images[:4, :, ::-1], training=False).numpy()
    np.testing.assert_allclose(cached.astype(np.float32), direct, rtol=1e-2, atol=1e-2)


def test_ic_tflite_bottom_matches_keras_bottom(tiny_classifier, synthetic_images) -> None:
    """The fast caching path computes the same activations as the Keras layers it replaces,
    for batches of any length (the last batch of an epoch is short)."""
    images, _ = synthetic_images
    split = training.split_classifier(tiny_classifier, "block_12_add")
    bottom = training.TFLiteBottom(split.bottom, batch_size=4)
    fast = training.extract_features(bottom, images[:10], flip=True)
    keras_path = training.extract_features(split.bottom, images[:10], flip=True)
    assert fast.shape == keras_path.shape and fast.dtype == np.float16
    scale = np.abs(keras_path.astype(np.float32)).max()
    np.testing.assert_allclose(fast.astype(np.float32), keras_path, atol=1e-2 * scale)


def test_ic_cache_views_mirrors_and_crops(tiny_classifier, synthetic_images) -> None:
    from cifar_transfer import data

    images = synthetic_images[0].astype(np.uint8)
    split = training.split_classifier(tiny_classifier, "block_15_add")
    views = training.cache_views(
        split.bottom, images[:6], ("clean", "flip", "crop", "crop"), seed=5, progress=False
    )
    assert views.shape[:2] == (4, 6) and views.dtype == np.float16
    expected = [
        images[:6],
        images[:6, :, ::-1],
        data.crop_flip_view(images[:6], seed=7),  # seed + position of the view
        data.crop_flip_view(images[:6], seed=8),
    ]
    for view, source in zip(views, expected, strict=True):
        direct = split.bottom(source.astype(np.float32), training=False).numpy()
        np.testing.assert_allclose(view.astype(np.float32), direct, rtol=1e-2, atol=1e-2)
    assert not np.allclose(views[2], views[3])  # each crop is a new draw
    with pytest.raises(ValueError, match="unknown views"):
        training.cache_views(split.bottom, images[:2], ("clean", "rotate"), progress=False)


def test_ic_cached_views_draw_one_view_per_image_and_epoch() -> None:
    n = 50
    views = np.stack(
        [np.full((n, 2), k, np.float16) + np.arange(n)[:, None] * 10 for k in range(3)]
    )
    y = np.arange(n) % 10
    cached = training.CachedViews(views, y, seed=0)
    assert cached.steps(16) == 4
    dataset = cached.dataset(16)
    epochs = []
    for _ in range(2):
        seen_rows, seen_views = [], []
        for x, t in dataset:
            x, t = x.numpy(), t.numpy()
            assert x.dtype == np.float32
            rows, view = x[:, 0] // 10, x[:, 0] % 10
            assert np.all(x[:, 0] == x[:, 1]) and np.all(t.argmax(1) == y[rows.astype(int)])
            seen_rows.extend(rows), seen_views.extend(view)
        assert sorted(seen_rows) == list(range(n))  # every image exactly once per epoch
        assert set(seen_views) == {0, 1, 2}
        epochs.append(np.array(seen_rows) * 10 + np.array(seen_views))
    assert not np.array_equal(*epochs)  # order and views are redrawn every epoch
    np.testing.assert_array_equal(
        cached.sample(np.array([3, 4]), np.array([2, 0])), [[32, 32], [40, 40]]
    )
    with pytest.raises(ValueError, match="one row per label"):
        training.CachedViews(views[:, :10], y)


def test_ic_float_predictor_averages_the_mirror_only_when_asked(
    tiny_classifier, synthetic_images
) -> None:
    images = synthetic_images[0][:8]
    plain = training.FloatPredictor.from_model(tiny_classifier)
    averaged = training.FloatPredictor(plain.runner, tta_flip=True)
    keras_logits = model.predict_logits(tiny_classifier, images)
    scale = np.abs(keras_logits).max()
    np.testing.assert_allclose(plain(images), keras_logits, atol=1e-4 * scale)
    views = averaged.logits_by_view(images)
    assert set(views) == {"image", "mirror"}
    mirrored = model.predict_logits(tiny_classifier, images[:, :, ::-1])
    np.testing.assert_allclose(averaged(images), (keras_logits + mirrored) / 2, atol=1e-4 * scale)


def test_ic_fine_tuning_keeps_batchnorm_frozen(tiny_classifier) -> None:
    count = model.set_trainable_from(tiny_classifier, "block_16_expand")
    try:
        backbone = model.backbone_of(tiny_classifier)
        trainable = [layer.name for layer in backbone.layers if layer.trainable and layer.weights]
        assert count == len(trainable) > 0
        assert "block_16_expand" in trainable and "block_15_expand" not in trainable
        assert not any(
            isinstance(backbone.get_layer(n), keras.layers.BatchNormalization) for n in trainable
        )
    finally:
        model.set_trainable_from(tiny_classifier, None)
    assert not model.backbone_of(tiny_classifier).trainable_weights
    with pytest.raises(ValueError):
        model.set_trainable_from(tiny_classifier, "no_such_layer")


def test_ic_warmup_cosine_shape() -> None:
    schedule = training.warmup_cosine(1e-3, total_steps=100, warmup_fraction=0.1)
    lrs = np.array([float(schedule(step)) for step in range(100)])
    assert lrs.argmax() in (9, 10) and abs(lrs.max() - 1e-3) < 1e-6
    assert np.all(np.diff(lrs[:10]) > 0) and np.all(np.diff(lrs[11:]) <= 1e-12)
    assert lrs[-1] < 0.05 * lrs.max()


def test_ic_cached_training_learns_synthetic_classes() -> None:
    from cifar_transfer import data

    classifier = model.build_classifier(32, 10, weights=None, alpha=0.35)
    x, y = data.make_synthetic_cifar(30, seed=0)
    model.recalibrate_batchnorm(classifier, x[:128])
    split = training.split_classifier(classifier, "block_12_add")
    feats = training.extract_features(split.bottom, x)
    recipe = recipes.recipe_for(
        "smoke", head_epochs=20, fine_tune_epochs=1, fine_tune_from="block_13_expand"
    )
    history = training.train_on_cached_features(
        classifier, split, feats[None], y, feats[:50], y[:50], recipe, verbose=0
    )
    assert history.phase == ["head"] * 20 + ["fine-tune"]
    assert history.metrics["accuracy"][19] > 0.3  # chance is 0.1
    with pytest.raises(ValueError, match="above the cached cut"):
        training.train_on_cached_features(
            classifier,
            split,
            feats[None],
            y,
            feats,
            y,
            dataclasses.replace(recipe, fine_tune_from="block_12_expand"),
            verbose=0,
        )
    assert not model.backbone_of(classifier).trainable_weights  # frozen again afterwards
