"""Two-phase training: head only, then fine-tuning with a warm-up + cosine learning rate.

``train_classifier`` is the one call a run makes: it builds the classifier on the right
hardware and trains it the recipe's way. Two ways to run the same recipe:
- ``train_end_to_end``: images through the whole network every step (the full recipe), with
  mixed precision and ``tf.distribute.MirroredStrategy`` when GPUs are present.
- ``train_on_cached_features``: the CPU recipe. The frozen lower backbone is run once per
  view of every image (clean, flipped, JPEG, ...: ``cache_views``, through ``TFLiteBottom``)
  and cached; both phases then train only the upper blocks + head on the cache, one view per
  image and epoch (``ViewSampler``). Because BatchNorm is in inference mode and the lower
  layers are frozen, this is mathematically the same network as end-to-end training of those
  layers, at a fraction of the cost; what is lost is random-crop augmentation.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from cifar_transfer import tflite
from cifar_transfer.data import CifarSplits, make_dataset
from cifar_transfer.model import (
    HEAD_DROPOUT_NAME,
    HEAD_LOGITS_NAME,
    POOL_NAME,
    PREPROCESS_NAME,
    RESIZE_NAME,
    backbone_of,
    build_classifier,
    compile_classifier,
    predict_logits,
    recalibrate_batchnorm,
    resolve_weights,
    set_trainable_from,
)
from cifar_transfer.recipes import VIEWS, Recipe


def configure_hardware(
    mixed_precision: bool | None = None, devices: Sequence[str] | None = None
) -> Any:
    """Set the global dtype policy and return the distribution strategy to build and train in.

    Defaults (what a run gets): ``mixed_float16`` when a GPU exists (it only pays off on
    tensor cores; on CPU it is slower), and ``MirroredStrategy`` over all GPUs when there are
    several, the default strategy otherwise. ``mixed_precision`` and ``devices`` (mirror over
    exactly these, e.g. ``["/cpu:0"]``) force the GPU path's settings, so a CPU test can run it.
    """
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    use_mixed = bool(gpus) if mixed_precision is None else mixed_precision
    keras.mixed_precision.set_dtype_policy("mixed_float16" if use_mixed else "float32")
    if devices is not None:
        return tf.distribute.MirroredStrategy(list(devices))
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def warmup_cosine(
    peak_lr: float, total_steps: int, warmup_fraction: float = 0.1, final_fraction: float = 0.01
) -> keras.optimizers.schedules.LearningRateSchedule:
    """Linear warm-up to ``peak_lr`` then cosine decay: warm-up protects pretrained weights
    from the first large, noisy updates of a freshly initialised head."""
    total_steps = max(int(total_steps), 2)
    warmup = max(1, int(total_steps * warmup_fraction))
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=peak_lr * 0.01,
        decay_steps=total_steps - warmup,
        alpha=final_fraction,
        warmup_target=peak_lr,
        warmup_steps=warmup,
    )


@dataclass
class TrainingHistory:
    """Per-epoch metrics of both phases, concatenated, with the phase of each epoch."""

    metrics: dict[str, list[float]] = field(default_factory=dict)
    phase: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, history: keras.callbacks.History, phase: str) -> None:
        """Append one ``fit`` call's history."""
        for key, values in history.history.items():
            self.metrics.setdefault(key, []).extend(float(v) for v in values)
        self.phase.extend([phase] * len(next(iter(history.history.values()), [])))

    def as_dict(self) -> dict[str, list[float]]:
        """Plain dict for plotting and the metrics JSON."""
        return dict(self.metrics)


def _phase_options(recipe: Recipe, steps_per_epoch: int, verbose: int) -> dict[str, Any]:
    """Optimiser settings both training paths pass to every phase."""
    return {
        "steps_per_epoch": steps_per_epoch,
        "warmup_fraction": recipe.warmup_fraction,
        "label_smoothing": recipe.label_smoothing,
        "weight_decay": recipe.weight_decay,
        "verbose": verbose,
    }


def _fit_phase(
    model: keras.Model,
    train: Any,
    val: Any,
    epochs: int,
    steps_per_epoch: int,
    peak_lr: float,
    warmup_fraction: float,
    label_smoothing: float,
    weight_decay: float,
    verbose: int,
) -> keras.callbacks.History:
    schedule = warmup_cosine(peak_lr, epochs * steps_per_epoch, warmup_fraction)
    compile_classifier(model, schedule, label_smoothing, weight_decay)
    return model.fit(train, validation_data=val, epochs=epochs, verbose=verbose)


def train_end_to_end(
    model: keras.Model,
    train_ds: Any,
    val_ds: Any,
    steps_per_epoch: int,
    recipe: Recipe,
    verbose: int = 2,
) -> TrainingHistory:
    """Phase 1 trains the head on a frozen backbone; phase 2 unfreezes from
    ``recipe.fine_tune_from`` (BatchNorm frozen) with warm-up + cosine."""
    history = TrainingHistory()
    common = _phase_options(recipe, steps_per_epoch, verbose)
    start = time.perf_counter()
    set_trainable_from(model, None)
    if recipe.head_epochs:
        h = _fit_phase(
            model, train_ds, val_ds, recipe.head_epochs, peak_lr=recipe.head_lr, **common
        )
        history.add(h, "head")
    history.seconds["head"] = time.perf_counter() - start
    start = time.perf_counter()
    if recipe.fine_tune_epochs:
        set_trainable_from(model, recipe.fine_tune_from)
        h = _fit_phase(
            model, train_ds, val_ds, recipe.fine_tune_epochs, peak_lr=recipe.fine_tune_lr, **common
        )
        history.add(h, "fine-tune")
    history.seconds["fine_tune"] = time.perf_counter() - start
    return history


@dataclass
class SplitClassifier:
    """A classifier cut inside its backbone: ``bottom`` (image -> activations at the cut) and
    ``top`` (activations -> logits). Both share layers, hence weights, with the full model."""

    bottom: keras.Model
    top: keras.Model
    pooled: keras.Model  # activations at the cut -> pooled backbone features (before the head)
    cut_layer: str


def split_classifier(model: keras.Model, cut_layer: str) -> SplitClassifier:
    """Split a :func:`~cifar_transfer.model.build_classifier` model at a backbone layer.

    The cut must be a layer no residual connection crosses (e.g. ``block_12_add``: the next
    block is a stride-2 block without a skip connection).
    """
    backbone = backbone_of(model)
    cut_output = backbone.get_layer(cut_layer).output
    inner_bottom = keras.Model(backbone.input, cut_output, name="backbone_bottom")
    inner_top = keras.Model(cut_output, backbone.output, name="backbone_top")
    image = keras.Input(model.input_shape[1:], name="image")
    x = model.get_layer(RESIZE_NAME)(image)
    x = model.get_layer(PREPROCESS_NAME)(x)
    bottom = keras.Model(image, inner_bottom(x, training=False), name="bottom")
    features = keras.Input(tuple(cut_output.shape[1:]), name="cached_features")
    h = inner_top(features, training=False)
    pooled = model.get_layer(POOL_NAME)(h)
    h = model.get_layer(HEAD_DROPOUT_NAME)(pooled)
    top = keras.Model(features, model.get_layer(HEAD_LOGITS_NAME)(h), name="top")
    pooled_model = keras.Model(features, pooled, name="pooled")
    return SplitClassifier(bottom=bottom, top=top, pooled=pooled_model, cut_layer=cut_layer)


class TFLiteBottom:
    """The frozen lower backbone compiled to a float32 TFLite model (XNNPACK kernels).

    Why: caching runs the frozen layers once per image and view, the cpu recipe's largest cost,
    and on a CPU XNNPACK runs them several times faster than TensorFlow's own kernels
    (``benchmarks/bench_backbone.py`` measures both; the project README has the numbers), with
    activations equal to float32 rounding. Inference only: nothing is trained through it.
    """

    def __init__(self, bottom: keras.Model, batch_size: int = 64, num_threads: int | None = None):
        content = tflite.float_flatbuffer(bottom)
        self.runner = tflite.TFLiteRunner(content, num_threads=num_threads or os.cpu_count())
        self.batch_size = batch_size

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """Activations for one batch of images (0..255)."""
        return self.runner.run(batch)


def extract_features(
    bottom: keras.Model | TFLiteBottom,
    images: np.ndarray,
    batch_size: int = 128,
    flip: bool = False,
    desc: str | None = None,
) -> np.ndarray:
    """Run the frozen lower backbone once (Keras model or :class:`TFLiteBottom`); float16
    storage halves memory at no accuracy cost worth measuring (activations are ReLU6-bounded
    sums of a few terms). ``desc`` shows a progress bar with that label."""
    from tqdm.auto import tqdm

    run: Any
    if isinstance(bottom, TFLiteBottom):
        run = bottom
        batch_size = bottom.batch_size
    else:
        import tensorflow as tf

        @tf.function(reduce_retracing=True)
        def compiled(batch: Any) -> Any:
            return bottom(tf.cast(batch, tf.float32), training=False)

        def run(batch: np.ndarray) -> np.ndarray:
            return compiled(batch).numpy()

    chunks = []
    for i in tqdm(range(0, len(images), batch_size), desc=desc, disable=desc is None):
        batch = images[i : i + batch_size]
        chunks.append(np.asarray(run(batch[:, :, ::-1] if flip else batch), dtype=np.float16))
    return np.concatenate(chunks)


def cache_views(
    bottom: keras.Model | TFLiteBottom,
    images: np.ndarray,
    views: Sequence[str],
    jpeg_quality: int = 75,
    progress: bool = True,
) -> list[np.ndarray]:
    """Activations at the cut for each named view (``recipes.VIEWS``) of ``images``.

    ``jpeg`` views are re-encoded with :func:`cifar_transfer.data.jpeg_copy` once and shared by
    ``jpeg`` and ``jpeg_flip``.
    """
    from cifar_transfer.data import jpeg_copy

    unknown = [v for v in views if v not in VIEWS]
    if unknown:
        raise ValueError(f"unknown views {unknown}; choose from {VIEWS}")
    jpeg = jpeg_copy(images, jpeg_quality) if any(v.startswith("jpeg") for v in views) else None
    out = []
    for view in views:
        source = images
        if view.startswith("jpeg"):
            assert jpeg is not None  # made above whenever a JPEG view is asked for
            source = jpeg
        desc = f"caching {view} view" if progress else None
        out.append(extract_features(bottom, source, flip=view.endswith("flip"), desc=desc))
    return out


class ViewSampler(keras.utils.PyDataset):
    """Batches over cached activations of several views of the same images (e.g. clean,
    flipped, JPEG): every epoch shows each image once, through a view drawn at random. Caching
    views is how the cached recipe keeps augmentation without re-running the frozen layers."""

    def __init__(
        self,
        views: Sequence[np.ndarray],
        y: np.ndarray,
        batch_size: int,
        num_classes: int = 10,
        shuffle: bool = True,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if not views or any(len(v) != len(y) for v in views):
            raise ValueError(
                f"every view needs one row per label ({len(y)}); got {[len(v) for v in views]}"
            )
        self.views, self.y, self.batch_size, self.shuffle = list(views), y, batch_size, shuffle
        self.targets = np.eye(num_classes, dtype=np.float32)[y]
        self.rng = np.random.default_rng(seed)
        self.on_epoch_end()

    def on_epoch_end(self) -> None:
        """Draw the next epoch's order and the view of every image."""
        n = len(self.y)
        self.order = self.rng.permutation(n) if self.shuffle else np.arange(n)
        self.choice = self.rng.integers(0, len(self.views), n) if self.shuffle else np.zeros(n, int)

    def __len__(self) -> int:
        return math.ceil(len(self.y) / self.batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        rows = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        return self.sample(rows, self.choice[rows]), self.targets[rows]

    def sample(self, rows: np.ndarray, choice: np.ndarray) -> np.ndarray:
        """Activations of ``rows``, each from the view given in ``choice`` (as float32)."""
        out = np.empty((len(rows), *self.views[0].shape[1:]), np.float32)
        for k, view in enumerate(self.views):
            picked = choice == k
            if picked.any():
                out[picked] = view[rows[picked]]
        return out


def _pool(split: SplitClassifier, chunks: Iterable[np.ndarray]) -> np.ndarray:
    """Pooled backbone features, one chunk of cached activations at a time (pooling never
    holds a second full copy of the cache)."""
    return np.concatenate(
        [split.pooled(np.asarray(c, np.float32), training=False).numpy() for c in chunks]
    )


def _fit_head_on_pooled(
    split: SplitClassifier,
    train: ViewSampler,
    val_features: np.ndarray,
    y_val: np.ndarray,
    recipe: Recipe,
    verbose: int,
) -> keras.callbacks.History:
    """Phase 1 with the whole backbone frozen: pool the top's output once (one view per image,
    drawn at random), then train only the (shared) dropout + logits layers on 1280-d vectors,
    which costs seconds per epoch."""
    rows, step = np.arange(len(train.y)), 512
    choice = train.rng.integers(0, len(train.views), len(rows))
    pooled_train = _pool(
        split,
        (train.sample(rows[i : i + step], choice[i : i + step]) for i in range(0, len(rows), step)),
    )
    pooled_val = _pool(
        split, (val_features[i : i + step] for i in range(0, len(val_features), step))
    )
    vector = keras.Input((pooled_train.shape[1],), name="pooled")
    h = split.top.get_layer(HEAD_DROPOUT_NAME)(vector)
    head = keras.Model(vector, split.top.get_layer(HEAD_LOGITS_NAME)(h), name="head")
    steps = math.ceil(len(rows) / recipe.batch_size)
    schedule = warmup_cosine(recipe.head_lr, recipe.head_epochs * steps, recipe.warmup_fraction)
    compile_classifier(head, schedule, recipe.label_smoothing, recipe.weight_decay)
    return head.fit(
        pooled_train,
        train.targets,
        batch_size=recipe.batch_size,
        epochs=recipe.head_epochs,
        validation_data=(pooled_val, np.eye(train.targets.shape[1], dtype=np.float32)[y_val]),
        verbose=verbose,
    )


def train_on_cached_features(
    model: keras.Model,
    split: SplitClassifier,
    train_views: Sequence[np.ndarray],
    y_train: np.ndarray,
    val_features: np.ndarray,
    y_val: np.ndarray,
    recipe: Recipe,
    verbose: int = 2,
    seed: int = 0,
) -> TrainingHistory:
    """Both phases on cached activations of one or more views of the training images;
    ``recipe.fine_tune_from`` must lie above the cut."""
    names = [layer.name for layer in backbone_of(model).layers]
    if recipe.fine_tune_from and names.index(recipe.fine_tune_from) <= names.index(split.cut_layer):
        raise ValueError("fine_tune_from must be above the cached cut layer")
    num_classes = split.top.output_shape[-1]
    train = ViewSampler(train_views, y_train, recipe.batch_size, num_classes, seed=seed)
    val = ViewSampler([val_features], y_val, 256, num_classes, shuffle=False)
    history = TrainingHistory()
    common = _phase_options(recipe, len(train), verbose)
    start = time.perf_counter()
    set_trainable_from(model, None)
    if recipe.head_epochs:
        history.add(_fit_head_on_pooled(split, train, val_features, y_val, recipe, verbose), "head")
    history.seconds["head"] = time.perf_counter() - start
    start = time.perf_counter()
    if recipe.fine_tune_epochs:
        set_trainable_from(model, recipe.fine_tune_from)
        h = _fit_phase(
            split.top, train, val, recipe.fine_tune_epochs, peak_lr=recipe.fine_tune_lr, **common
        )
        history.add(h, "fine-tune")
    history.seconds["fine_tune"] = time.perf_counter() - start
    set_trainable_from(model, None)
    return history


@dataclass
class TrainedClassifier:
    """What training hands on: the trained model, its history, and its logits on the clean
    and test-like validation images (the cached path computes them from the activations it
    cached, so evaluation needs no second pass over the validation images)."""

    model: keras.Model
    history: TrainingHistory
    val_logits: dict[str, np.ndarray]
    strategy: str
    mixed_precision: bool
    seconds: dict[str, float]

    def summary(self) -> str:
        """One line for the notebook."""
        return (
            f"{self.model.count_params():,} parameters; strategy {self.strategy}; mixed "
            f"precision {self.mixed_precision}; phases {self.history.phase}; seconds "
            + ", ".join(f"{k} {v:.0f}" for k, v in self.seconds.items())
        )

    def to_metrics(self) -> dict[str, Any]:
        """History, hardware and timings for the metrics JSON."""
        return {
            "history": self.history.as_dict(),
            "history_phase": self.history.phase,
            "strategy": self.strategy,
            "mixed_precision": self.mixed_precision,
            "seconds": self.seconds,
        }


def _train_cached(
    classifier: keras.Model,
    splits: CifarSplits,
    recipe: Recipe,
    seconds: dict[str, float],
    verbose: int,
) -> tuple[TrainingHistory, dict[str, np.ndarray]]:
    """The cached strategy: cache the views of the training images and the clean and
    test-like validation images at the cut, train on the cache, and return the validation
    logits from the cached activations (the same network as the full model)."""
    if recipe.cache_layer is None:
        raise ValueError("the cached_features strategy needs a cache_layer")
    start = time.perf_counter()
    split = split_classifier(classifier, recipe.cache_layer)
    bottom = TFLiteBottom(split.bottom)
    train_views = cache_views(bottom, splits.x_train, recipe.train_views, recipe.jpeg_quality)
    val_features = {
        "clean": extract_features(bottom, splits.x_val),
        "test-like": extract_features(bottom, splits.val_test_like),
    }
    seconds["cache"] = time.perf_counter() - start
    history = train_on_cached_features(
        classifier,
        split,
        train_views,
        splits.y_train,
        val_features["test-like"],
        splits.y_val,
        recipe,
        verbose=verbose,
        seed=recipe.seed,
    )
    del train_views  # up to a few GB of activations
    return history, {k: predict_logits(split.top, f) for k, f in val_features.items()}


def train_classifier(
    splits: CifarSplits,
    recipe: Recipe,
    weights: str | os.PathLike[str] | None = None,
    *,
    mixed_precision: bool | None = None,
    devices: Sequence[str] | None = None,
    verbose: int = 2,
) -> TrainedClassifier:
    """Build the classifier on this machine's hardware and train it the recipe's way.

    ``weights``: a local no-top MobileNetV2 file (None downloads ImageNet weights when the
    recipe is pretrained). ``mixed_precision`` / ``devices``: see :func:`configure_hardware`.
    ``splits.x_val_test_like`` is the validation version the training curves report.
    """
    start = time.perf_counter()
    strategy = configure_hardware(mixed_precision, devices)
    with strategy.scope():  # model, optimiser and their variables under the same strategy
        classifier = build_classifier(
            recipe.image_size,
            len(splits.class_names),
            resolve_weights(weights, pretrained=recipe.pretrained),
            recipe.dropout,
            alpha=recipe.alpha,
        )
        if not recipe.pretrained:  # random weights: give frozen BatchNorm sensible statistics
            recalibrate_batchnorm(classifier, splits.x_train[:256])
        seconds = {"build": time.perf_counter() - start}
        if recipe.strategy == "cached_features":
            history, val_logits = _train_cached(classifier, splits, recipe, seconds, verbose)
        else:
            train_ds = make_dataset(
                splits.x_train, splits.y_train, recipe.batch_size, training=True, seed=recipe.seed
            )
            val_ds = make_dataset(splits.val_test_like, splits.y_val, 256)
            steps = len(splits.y_train) // recipe.batch_size
            history = train_end_to_end(classifier, train_ds, val_ds, steps, recipe, verbose)
            val_logits = {
                "clean": predict_logits(classifier, splits.x_val),
                "test-like": predict_logits(classifier, splits.val_test_like),
            }
    seconds |= {"head": history.seconds["head"], "fine_tune": history.seconds["fine_tune"]}
    return TrainedClassifier(
        model=classifier,
        history=history,
        val_logits=val_logits,
        strategy=type(strategy).__name__,
        mixed_precision=keras.mixed_precision.global_policy().name == "mixed_float16",
        seconds=seconds,
    )
