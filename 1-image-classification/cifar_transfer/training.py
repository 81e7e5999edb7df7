"""Two-phase training: head only, then fine-tuning with a warm-up + cosine learning rate.

``train_classifier`` is the one call a run makes: it builds the classifier on the right
hardware and trains it the recipe's way. Two ways to run the same recipe:
- ``train_end_to_end``: images through the whole network every step (the full recipe), with
  mixed precision and ``tf.distribute.MirroredStrategy`` when GPUs are present.
- ``train_on_cached_features``: the CPU recipe. The frozen lower backbone is run once per
  view of every image (clean, mirrored, randomly flipped and shifted: ``cache_views``, through
  ``TFLiteBottom``) and cached; both phases then train only the upper blocks + head on the
  cache, one view per image and epoch (``CachedViews``). Because BatchNorm is in inference mode
  and the lower layers are frozen, this is mathematically the same network as end-to-end
  training of those layers, at a fraction of the cost; what is lost is a fresh random crop in
  every epoch (the cache holds a fixed number of them).
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


def hardware_note() -> str:
    """One line for the notebook: the GPUs TensorFlow sees, or what to do without one."""
    import tensorflow as tf

    gpus = [gpu.name for gpu in tf.config.list_physical_devices("GPU")]
    if gpus:
        return f"GPUs: {', '.join(gpus)} (mixed precision for the full recipe)"
    return "No GPU: fine for smoke and cpu. Full recipe: Runtime > Change runtime type > GPU."


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
    # both pipelines shuffle themselves (tf.data), so Keras must not be asked to
    return model.fit(train, validation_data=val, epochs=epochs, verbose=verbose, shuffle=False)


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
    seed: int = 0,
    progress: bool = True,
) -> np.ndarray:
    """Activations at the cut for each named view (``recipes.VIEWS``) of ``images``, stacked
    as (views, images, ...). Every ``crop`` is a new draw of
    :func:`cifar_transfer.data.crop_flip_view` (seeded by ``seed`` and its position)."""
    from cifar_transfer.data import crop_flip_view

    unknown = [v for v in views if v not in VIEWS]
    if unknown or not views:
        raise ValueError(f"unknown views {unknown or views}; choose from {VIEWS}")
    out: np.ndarray | None = None
    for index, view in enumerate(views):
        source = crop_flip_view(images, seed=seed + index) if view == "crop" else images
        desc = f"caching view {index + 1}/{len(views)} ({view})" if progress else None
        features = extract_features(bottom, source, flip=view == "flip", desc=desc)
        if out is None:
            out = np.empty((len(views), *features.shape), features.dtype)
        out[index] = features
    assert out is not None  # views is not empty
    return out


class CachedViews:
    """Cached activations of several views of the same images (views x images x ...) and
    their labels. Training shows each image once per epoch through a view drawn at random:
    how the cached recipe keeps augmentation without re-running the frozen layers."""

    def __init__(self, views: np.ndarray, y: np.ndarray, num_classes: int = 10, seed: int = 0):
        if views.ndim < 3 or views.shape[1] != len(y):
            raise ValueError(
                f"views must be (views, {len(y)} images, ...), one row per label; got {views.shape}"
            )
        self.views, self.y = views, np.asarray(y)
        self.targets = np.eye(num_classes, dtype=np.float32)[self.y]
        self.rng = np.random.default_rng(seed)
        self.seed = seed

    def sample(self, rows: np.ndarray, choice: np.ndarray) -> np.ndarray:
        """Activations of ``rows``, each from the view given in ``choice`` (as float32)."""
        return self.views[choice, rows].astype(np.float32)

    def dataset(self, batch_size: int) -> Any:
        """One epoch as a tf.data pipeline (Keras iterates it anew every epoch, reshuffled):
        shuffled rows, a random view per row, float32.

        Why tf.data over a Python generator: the gather runs in TensorFlow's threads beside
        the training step instead of in Python between steps. The cache is held in a
        non-trainable variable, so it is shared by reference instead of being copied into the
        pipeline's graph (2 GB limit).
        """
        import tensorflow as tf

        cache = tf.Variable(self.views, trainable=False, name="cached_views")
        targets = tf.constant(self.targets)
        n_views = len(self.views)

        def gather(rows: Any) -> Any:
            choice = tf.random.uniform(tf.shape(rows), 0, n_views, tf.int64, seed=self.seed)
            picked = tf.gather_nd(cache, tf.stack([choice, rows], axis=1))
            return tf.cast(picked, tf.float32), tf.gather(targets, rows)

        n = len(self.y)
        rows = tf.data.Dataset.range(n).shuffle(n, seed=self.seed, reshuffle_each_iteration=True)
        return rows.batch(batch_size).map(gather, num_parallel_calls=2).prefetch(2)

    def steps(self, batch_size: int) -> int:
        """Batches per epoch."""
        return math.ceil(len(self.y) / batch_size)


def _pool(split: SplitClassifier, chunks: Iterable[np.ndarray]) -> np.ndarray:
    """Pooled backbone features, one chunk of cached activations at a time (pooling never
    holds a second full copy of the cache)."""
    return np.concatenate(
        [split.pooled(np.asarray(c, np.float32), training=False).numpy() for c in chunks]
    )


def _fit_head_on_pooled(
    split: SplitClassifier,
    train: CachedViews,
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
    train_views: np.ndarray,
    y_train: np.ndarray,
    val_features: np.ndarray,
    y_val: np.ndarray,
    recipe: Recipe,
    verbose: int = 2,
    seed: int = 0,
) -> TrainingHistory:
    """Both phases on cached activations of one or more views of the training images
    (:func:`cache_views`); ``recipe.fine_tune_from`` must lie above the cut."""
    names = [layer.name for layer in backbone_of(model).layers]
    if recipe.fine_tune_from and names.index(recipe.fine_tune_from) <= names.index(split.cut_layer):
        raise ValueError("fine_tune_from must be above the cached cut layer")
    num_classes = split.top.output_shape[-1]
    train = CachedViews(train_views, y_train, num_classes, seed=seed)
    val = (val_features.astype(np.float32), np.eye(num_classes, dtype=np.float32)[y_val])
    history = TrainingHistory()
    steps = train.steps(recipe.batch_size)
    common = _phase_options(recipe, steps, verbose)
    start = time.perf_counter()
    set_trainable_from(model, None)
    if recipe.head_epochs:
        history.add(_fit_head_on_pooled(split, train, val_features, y_val, recipe, verbose), "head")
    history.seconds["head"] = time.perf_counter() - start
    start = time.perf_counter()
    if recipe.fine_tune_epochs:
        set_trainable_from(model, recipe.fine_tune_from)
        h = _fit_phase(
            split.top,
            train.dataset(recipe.batch_size),
            val,
            recipe.fine_tune_epochs,
            peak_lr=recipe.fine_tune_lr,
            **common,
        )
        history.add(h, "fine-tune")
    history.seconds["fine_tune"] = time.perf_counter() - start
    set_trainable_from(model, None)
    return history


@dataclass
class TrainedClassifier:
    """What training hands on: the trained model, its history, and its validation logits for
    the image and, with test-time flip averaging, its mirror (the cached path computes them
    from cached activations, so evaluation needs no second pass over the validation images)."""

    model: keras.Model
    history: TrainingHistory
    val_logits_by_view: dict[str, np.ndarray]
    strategy: str
    mixed_precision: bool
    seconds: dict[str, float]
    tta_flip: bool = False

    @property
    def val_logits(self) -> np.ndarray:
        """Validation logits of the recipe's prediction rule (flip-averaged or not)."""
        return combine_views(self.val_logits_by_view, self.tta_flip)

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


def combine_views(logits_by_view: dict[str, np.ndarray], tta_flip: bool) -> np.ndarray:
    """The image's logits, or their mean with the mirror's (test-time flip averaging)."""
    if not tta_flip:
        return logits_by_view["image"]
    return (logits_by_view["image"] + logits_by_view["mirror"]) / 2


@dataclass
class FloatPredictor:
    """The trained classifier as a float32 TFLite model (XNNPACK: several times faster than
    TensorFlow on a CPU, same network; a unit test checks the logits) with the recipe's
    prediction rule: one pass, or the mean logits of the image and its mirror."""

    runner: tflite.TFLiteRunner
    tta_flip: bool = False

    @classmethod
    def from_model(cls, model: keras.Model, tta_flip: bool = False) -> FloatPredictor:
        """Convert ``model`` (a float32 copy when it is mixed precision)."""
        content = tflite.float_flatbuffer(model)
        return cls(tflite.TFLiteRunner(content, num_threads=os.cpu_count()), tta_flip)

    def logits_by_view(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """Logits of the images ("image") and, with flip averaging, of their mirrors."""
        images = np.asarray(images, np.float32)
        out = {"image": self.runner.predict_logits(images).astype(np.float64)}
        if self.tta_flip:
            out["mirror"] = self.runner.predict_logits(images[:, :, ::-1]).astype(np.float64)
        return out

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """Logits of the prediction rule."""
        return combine_views(self.logits_by_view(images), self.tta_flip)


def _train_cached(
    classifier: keras.Model,
    splits: CifarSplits,
    recipe: Recipe,
    seconds: dict[str, float],
    verbose: int,
) -> tuple[TrainingHistory, dict[str, np.ndarray]]:
    """The cached strategy: cache the views of the training images and the validation images
    (and their mirrors for flip averaging) at the cut, train on the cache, and return the
    validation logits from the cached activations (the same network as the full model)."""
    if recipe.cache_layer is None:
        raise ValueError("the cached_features strategy needs a cache_layer")
    start = time.perf_counter()
    split = split_classifier(classifier, recipe.cache_layer)
    bottom = TFLiteBottom(split.bottom)
    train_views = cache_views(bottom, splits.x_train, recipe.train_views, seed=recipe.seed)
    val_features = {"image": extract_features(bottom, splits.x_val)}
    if recipe.tta_flip:
        val_features["mirror"] = extract_features(bottom, splits.x_val, flip=True)
    seconds["cache"] = time.perf_counter() - start
    history = train_on_cached_features(
        classifier,
        split,
        train_views,
        splits.y_train,
        val_features["image"],
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
            val_ds = make_dataset(splits.x_val, splits.y_val, 256)
            steps = len(splits.y_train) // recipe.batch_size
            history = train_end_to_end(classifier, train_ds, val_ds, steps, recipe, verbose)
            val_logits = {"image": predict_logits(classifier, splits.x_val)}
            if recipe.tta_flip:
                val_logits["mirror"] = predict_logits(classifier, splits.x_val[:, :, ::-1])
    seconds |= {"head": history.seconds["head"], "fine_tune": history.seconds["fine_tune"]}
    return TrainedClassifier(
        model=classifier,
        history=history,
        val_logits_by_view=val_logits,
        strategy=type(strategy).__name__,
        mixed_precision=keras.mixed_precision.global_policy().name == "mixed_float16",
        seconds=seconds,
        tta_flip=recipe.tta_flip,
    )
