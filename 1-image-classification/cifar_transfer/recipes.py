"""The knobs of the three run modes in one dataclass: the notebook shows every value, and
``recipe_for(mode, **overrides)`` changes any of them by name."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from mlshared.run import pick_recipe

Strategy = Literal["end_to_end", "cached_features"]
# what ``train_views`` may name: the image, its mirror, or a fresh random flip + 4-pixel shift
VIEWS = ("clean", "flip", "crop")


@dataclass(frozen=True)
class Recipe:
    """Everything that differs between the full (Colab GPU), cpu and smoke runs."""

    name: str
    image_size: int  # backbone input resolution (CIFAR images are resized inside the model)
    pretrained: bool  # ImageNet weights (smoke runs use random init: no download)
    strategy: Strategy  # end-to-end fine-tuning, or training above a cached frozen cut
    cache_layer: str | None  # cut for the cached strategy (no residual crosses it)
    batch_size: int
    head_epochs: int
    head_lr: float
    fine_tune_epochs: int
    fine_tune_lr: float
    fine_tune_from: str | None  # first backbone layer unfrozen in phase 2
    warmup_fraction: float = 0.1
    alpha: float = 1.0  # MobileNetV2 width (ImageNet weights exist offline only for 1.0)
    label_smoothing: float = 0.1
    weight_decay: float = 1e-4
    dropout: float = 0.2
    # cached strategy: views of every training image cached for training, one drawn per
    # image and epoch (see VIEWS; each "crop" is a new draw); end_to_end augments on the fly
    train_views: tuple[str, ...] = ("clean", "flip")
    tta_flip: bool = False  # predictions average the logits of the image and its mirror
    train_limit: int | None = None  # subsample the training split (smoke only)
    cam_layer: str = "block_13_expand_relu"
    n_cam_grid: int = 16  # images per CAM overlay grid
    n_quality: int = 500  # test images in the deletion/insertion curves
    quality_steps: int = 16  # perturbation steps per curve
    scorecam_channels: int = 64
    n_randomisation: int = 32  # images in the cascading randomisation check
    randomisation_stages: int | None = None  # None = every block down to the stem
    n_export_eval: int | None = None  # test images for TFLite accuracy (None = all)
    n_latency_runs: int = 100  # batch-1 calls timed per model
    n_representative: int = 200  # int8 calibration images (4x for the larger-set variant)
    int8_variants: tuple[str, ...] = (
        "per_channel",
        "per_tensor",
        "more_representative",
        "selective",
    )
    n_keep_float: int = 3  # selective int8: the layers with the largest int8 error kept in float
    n_robustness: int | None = None  # test images per corruption (None = all)
    seed: int = 0  # data split, initialisation, view draws and image choices

    def __post_init__(self) -> None:
        unknown = set(self.train_views) - set(VIEWS)
        if unknown or not self.train_views:
            raise ValueError(f"train_views must name some of {VIEWS}; got {self.train_views}")

    def as_dict(self) -> dict[str, Any]:
        """For the metrics JSON."""
        return asdict(self)


FULL = Recipe(
    name="full",
    image_size=224,
    pretrained=True,
    strategy="end_to_end",
    cache_layer=None,
    batch_size=128,
    head_epochs=2,
    head_lr=1e-3,
    fine_tune_epochs=10,
    fine_tune_lr=3e-4,
    fine_tune_from="block_1_expand",
    tta_flip=True,
    n_quality=500,
    n_randomisation=64,
)

CPU = Recipe(
    name="cpu",
    image_size=160,
    pretrained=True,
    strategy="cached_features",
    cache_layer="block_12_add",
    batch_size=128,
    head_epochs=10,
    head_lr=1e-3,
    fine_tune_epochs=6,
    fine_tune_lr=3e-4,
    fine_tune_from="block_13_expand",
    train_views=("clean", "flip", "crop", "crop"),
    tta_flip=True,
    n_cam_grid=16,
    n_quality=50,
    quality_steps=8,
    scorecam_channels=32,
    n_randomisation=8,
    n_export_eval=None,
    n_latency_runs=50,
    n_representative=500,
    n_robustness=1000,
)

SMOKE = Recipe(
    name="smoke",
    image_size=64,
    pretrained=False,
    strategy="cached_features",
    cache_layer="block_12_add",
    batch_size=32,
    head_epochs=8,
    head_lr=3e-3,
    fine_tune_epochs=3,
    fine_tune_lr=3e-3,
    fine_tune_from="block_13_expand",
    train_views=("clean", "flip", "crop"),
    tta_flip=True,
    alpha=0.35,
    train_limit=400,
    randomisation_stages=6,
    n_cam_grid=8,
    n_quality=16,
    quality_steps=8,
    scorecam_channels=8,
    n_randomisation=4,
    n_export_eval=32,
    n_latency_runs=5,
    n_representative=8,
)

RECIPES: dict[str, Recipe] = {recipe.name: recipe for recipe in (FULL, CPU, SMOKE)}


def recipe_for(mode: str, **overrides: Any) -> Recipe:
    """The recipe of a run mode with some fields changed (the notebook's ``OVERRIDES``)."""
    return pick_recipe(RECIPES, mode, **overrides)
