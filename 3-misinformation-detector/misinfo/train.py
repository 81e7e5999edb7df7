"""Training recipes and the command line that produces an artifacts folder the Detector loads.

    python -m misinfo.train --recipe quick|cpu|full|smoke --data liar:PATH|synthetic|isot --out DIR

- smoke: synthetic corpus, TF-IDF + features + a tiny random-init BERT (tokenizer trained on
  the corpus), seconds, no download;
- quick: TF-IDF + feature model + ensemble only (seconds; what ``make app`` trains);
- cpu: + one small pretrained transformer (TRANSFORMER_MODEL, e.g. the offline MiniLM);
- full: + BERT-base and DistilBERT, max length 256, fp16 on a GPU (Colab).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from misinfo.artifacts import Manifest, library_versions, save_manifest, sha256_texts
from misinfo.cleaning import CleaningReport, clean_splits
from misinfo.data import Splits, load_data
from misinfo.detector import ensemble_key
from misinfo.ensemble import Ensemble, fit_ensemble
from misinfo.features import feature_quantiles, text_features
from misinfo.labels import LABEL_MEANING, LABEL_NAMES
from misinfo.models import FeatureModel, TfidfLogReg, sigmoid
from mlshared.calibration import apply_temperature, fit_temperature

TINY = "tiny-random-bert"


@dataclass
class Recipe:
    """Every knob of a training run (the notebook's parameters cell shows and overrides them)."""

    name: str
    transformers: dict[str, str] = field(
        default_factory=dict
    )  # member name -> model name/folder/TINY
    max_length: int = 256
    epochs: float = 2.0
    batch_size: int = 16
    lr: float = 3e-5
    max_steps: int | None = None
    max_train: int | None = None  # stratified subsample of the cleaned train split
    near_threshold: float = 0.9
    tfidf_c: float = 4.0
    feature_c: float = 1.0
    ensemble_method: str = "auto"
    synthetic_size: int = 600
    seed: int = 0
    torch_threads: int | None = None  # None = torch default; 1 is faster on a busy shared CPU

    def to_dict(self) -> dict[str, Any]:
        """For the manifest."""
        return dataclasses.asdict(self)


def default_transformer_model() -> str:
    """TRANSFORMER_MODEL if set, else DistilBERT from the hub (Colab)."""
    return os.environ.get("TRANSFORMER_MODEL") or "distilbert-base-uncased"


def make_recipe(name: str, **overrides: Any) -> Recipe:
    """The named recipe with keyword overrides."""
    if name == "smoke":
        r = Recipe(
            "smoke",
            {"tinybert": TINY},
            max_length=64,
            epochs=6,
            batch_size=16,
            lr=1e-3,
            near_threshold=0.9,
            synthetic_size=500,
            torch_threads=1,  # a 2-layer, 64-wide model gains nothing from more threads
        )
    elif name == "quick":
        r = Recipe("quick", {}, max_length=256)
    elif name == "cpu":
        r = Recipe(
            "cpu",
            {"minilm": default_transformer_model()},
            max_length=64,
            epochs=1,
            batch_size=32,
            lr=1e-4,
        )
    elif name == "full":
        r = Recipe(
            "full",
            {"bert": "bert-base-uncased", "distilbert": "distilbert-base-uncased"},
            max_length=256,
            epochs=2,
            batch_size=32,
            lr=2e-5,
        )
    else:
        raise ValueError(f"unknown recipe {name!r}: use smoke, quick, cpu or full")
    return dataclasses.replace(r, **overrides)


@dataclass
class TrainOutcome:
    """Everything a run produced, for the notebook's evaluation sections."""

    recipe: Recipe
    data_description: str
    splits: Splits  # cleaned
    cleaning: CleaningReport
    members: dict[str, Any]
    kinds: dict[str, str]
    features: dict[str, pd.DataFrame]
    z_valid: pd.DataFrame  # raw (uncalibrated) log-odds per member
    z_test: pd.DataFrame
    temperatures: dict[str, float]
    ensembles: dict[str, Ensemble]
    metrics: dict[str, dict[str, float]]
    timings: dict[str, float]
    artifacts_dir: Path | None = None

    @property
    def ensemble(self) -> Ensemble:
        """The ensemble over all members."""
        return self.ensembles[ensemble_key(list(self.members))]

    def p_test(self, calibrated: bool = True) -> dict[str, np.ndarray]:
        """Test-set p_fake per member and for the full ensemble."""
        out = {}
        for m in self.members:
            t = self.temperatures[m] if calibrated else 1.0
            out[m] = apply_temperature(self.z_test[m].to_numpy(), t)
        zc = np.column_stack(
            [self.z_test[m].to_numpy() / self.temperatures[m] for m in self.ensemble.members]
        )
        if calibrated:
            out["ensemble"] = self.ensemble.p_fake(zc)
        else:
            out["ensemble"] = sigmoid(self.ensemble.raw_log_odds(zc))
        return out


def _subsample(df: pd.DataFrame, n: int | None, seed: int) -> pd.DataFrame:
    if n is None or len(df) <= n:
        return df
    from sklearn.model_selection import train_test_split

    keep, _ = train_test_split(df, train_size=n, stratify=df["label"], random_state=seed)
    return keep.reset_index(drop=True)


def fit_all(
    splits: Splits,
    recipe: Recipe,
    data_description: str,
    out_dir: str | Path | None = None,
    progress: bool = False,
    log: Any = print,
    cleaning: CleaningReport | None = None,
) -> TrainOutcome:
    """Clean (unless ``cleaning`` says the splits already are), fit every member, calibrate, fit ensembles for every member subset, evaluate on
    test, and (if ``out_dir``) save a verified artifacts folder."""
    from misinfo.evaluation import binary_metrics

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    if cleaning is None:
        cleaned, report = clean_splits(splits, near_threshold=recipe.near_threshold)
    else:  # already cleaned by the caller (the notebook shows the cleaning step on its own)
        cleaned, report = {k: v[["text", "label"]].copy() for k, v in splits.items()}, cleaning
    cleaned["train"] = _subsample(cleaned["train"], recipe.max_train, recipe.seed)
    timings["clean_s"] = time.perf_counter() - t0
    log = log or (lambda *_: None)
    log(f"cleaned: {report.rows_out} (from {report.rows_in})")
    texts = {k: v["text"].tolist() for k, v in cleaned.items()}
    y = {k: v["label"].to_numpy().astype(int) for k, v in cleaned.items()}

    t0 = time.perf_counter()
    feats = {k: text_features(v) for k, v in texts.items()}
    timings["features_s"] = time.perf_counter() - t0

    members: dict[str, Any] = {}
    kinds: dict[str, str] = {}
    model_names: dict[str, str] = {}
    t0 = time.perf_counter()
    members["tfidf"] = TfidfLogReg(
        c=recipe.tfidf_c, seed=recipe.seed, min_df=2 if len(texts["train"]) > 200 else 1
    ).fit(texts["train"], y["train"])
    kinds["tfidf"], model_names["tfidf"] = "tfidf", "TF-IDF (1-2 grams) + logistic regression"
    timings["fit_tfidf_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    members["features"] = FeatureModel(c=recipe.feature_c, seed=recipe.seed).fit(
        texts["train"], y["train"], features=feats["train"]
    )
    kinds["features"], model_names["features"] = "features", "text features + logistic regression"
    timings["fit_features_s"] = time.perf_counter() - t0

    if recipe.transformers and recipe.torch_threads:
        import torch

        torch.set_num_threads(recipe.torch_threads)
    tmp = tempfile.TemporaryDirectory(prefix="misinfo-tiny-")
    for name, model_name in recipe.transformers.items():
        from misinfo.transformer import TransformerClassifier, build_tiny_bert

        t0 = time.perf_counter()
        source = model_name
        if model_name == TINY:
            source = str(build_tiny_bert(texts["train"], Path(tmp.name) / name, seed=recipe.seed))
        clf = TransformerClassifier(
            source,
            name=name,
            max_length=recipe.max_length,
            batch_size=recipe.batch_size,
            epochs=recipe.epochs,
            lr=recipe.lr,
            seed=recipe.seed,
        )
        clf.fit(
            texts["train"],
            y["train"],
            valid=(texts["valid"], y["valid"]) if recipe.epochs > 1 else None,
            max_steps=recipe.max_steps,
            progress=progress,
        )
        members[name] = clf
        kinds[name] = "transformer"
        model_names[name] = model_name if model_name != TINY else "tiny random-init BERT (smoke)"
        timings[f"fit_{name}_s"] = time.perf_counter() - t0
        log(f"fine-tuned {name} in {timings[f'fit_{name}_s']:.0f} s")

    def log_odds(split: str) -> pd.DataFrame:
        cols = {}
        for name, m in members.items():
            if kinds[name] == "features":
                cols[name] = m.decision_function(texts[split], features=feats[split])
            else:
                cols[name] = m.decision_function(texts[split])
        return pd.DataFrame(cols)

    t0 = time.perf_counter()
    z_valid, z_test = log_odds("valid"), log_odds("test")
    timings["predict_valid_test_s"] = time.perf_counter() - t0
    temperatures = {m: fit_temperature(z_valid[m].to_numpy(), y["valid"]) for m in members}
    zc_valid = pd.DataFrame({m: z_valid[m] / temperatures[m] for m in members})
    ensembles: dict[str, Ensemble] = {}
    names = list(members)
    for r in range(2, len(names) + 1):
        for combo in itertools.combinations(names, r):
            ens, _ = fit_ensemble(
                zc_valid[list(combo)].to_numpy(),
                y["valid"],
                list(combo),
                method=recipe.ensemble_method,
                seed=recipe.seed,
            )
            ensembles[ensemble_key(combo)] = ens

    outcome = TrainOutcome(
        recipe,
        data_description,
        cleaned,
        report,
        members,
        kinds,
        feats,
        z_valid,
        z_test,
        temperatures,
        ensembles,
        {},
        timings,
    )
    p_cal = outcome.p_test(calibrated=True)
    p_raw = outcome.p_test(calibrated=False)
    for name, p in p_cal.items():
        m = binary_metrics(y["test"], p)
        m["ece_uncalibrated"] = binary_metrics(y["test"], p_raw[name])["ece"]
        outcome.metrics[name] = m

    if out_dir is not None:
        outcome.artifacts_dir = save_artifacts(outcome, out_dir, model_names)
    tmp.cleanup()
    return outcome


def save_artifacts(outcome: TrainOutcome, out_dir: str | Path, model_names: dict[str, str]) -> Path:
    """Write every member in a safe format, then the manifest with per-file hashes."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    old = out / "manifest.json"
    if old.exists():
        old.unlink()  # the folder is incomplete until the new manifest is written
    paths: dict[str, str] = {}
    for name, member in outcome.members.items():
        kind = outcome.kinds[name]
        if kind in ("tfidf", "features"):
            member.save(out / f"{name}.skops")
            paths[name] = f"{name}.skops"
        else:
            member.save(out / name)
            paths[name] = name
    train = outcome.splits["train"]
    manifest = Manifest(
        members=list(outcome.members),
        files={},
        label_names=list(LABEL_NAMES),
        label_meaning=LABEL_MEANING,
        threshold=0.5,
        temperatures={k: float(v) for k, v in outcome.temperatures.items()},
        ensemble={k: e.to_dict() for k, e in outcome.ensembles.items()},
        model_names=model_names,
        member_kinds=dict(outcome.kinds),
        member_paths=paths,
        max_length=outcome.recipe.max_length,
        metrics={k: {mk: float(mv) for mk, mv in v.items()} for k, v in outcome.metrics.items()},
        training_data={
            "description": outcome.data_description,
            "rows": {k: len(v) for k, v in outcome.splits.items()},
            "fake_share_train": float(train["label"].mean()),
            "sha256": sha256_texts(train["text"].tolist(), train["label"].to_numpy()),
            "cleaning": outcome.cleaning.to_dict(),
            "metrics_split": "test",
        },
        feature_distribution=feature_quantiles(outcome.features["train"]),
        feature_names=list(outcome.features["train"].columns),
        recipe=outcome.recipe.to_dict(),
        versions=library_versions(),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    save_manifest(out, manifest)
    return out


def train(
    recipe: str | Recipe,
    data: str,
    out: str | Path | None,
    progress: bool = False,
    log: Any = print,
    **overrides: Any,
) -> TrainOutcome:
    """Load ``data`` (a spec like ``liar:PATH``), run the recipe, save to ``out``."""
    r = (
        make_recipe(recipe, **overrides)
        if isinstance(recipe, str)
        else dataclasses.replace(recipe, **overrides)
    )
    splits, description = load_data(data, seed=r.seed, synthetic_size=r.synthetic_size)
    return fit_all(splits, r, description, out_dir=out, progress=progress, log=log)


def train_to(
    directory: str | Path, recipe: str = "quick", data: str = "synthetic", **overrides: Any
) -> Path:
    """Test fixture helper: train ``recipe`` on ``data`` into ``directory`` (seconds for
    quick/synthetic) and return the folder, ready for ``load_detector``."""
    outcome = train(recipe, data, directory, log=lambda *_: None, **overrides)
    if outcome.artifacts_dir is None:  # pragma: no cover - fit_all always saves when given a folder
        raise RuntimeError("training did not write an artifacts folder")
    return outcome.artifacts_dir


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(
        prog="python -m misinfo.train", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--recipe", default="quick", choices=["smoke", "quick", "cpu", "full"])
    parser.add_argument(
        "--data", default="synthetic", help="synthetic | liar:PATH | isot | csv:PATH[:TEXT:LABEL]"
    )
    parser.add_argument("--out", default="models", help="artifacts folder to (over)write")
    parser.add_argument(
        "--transformer-model", default=None, help="model name or local folder (cpu recipe)"
    )
    parser.add_argument("--epochs", type=float, default=None)
    parser.add_argument("--max-train", type=int, default=None)
    parser.add_argument("--max-length", type=int, default=None)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--torch-threads", type=int, default=None, help="1 is faster on a busy CPU")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    overrides: dict[str, Any] = {}
    for key in ("epochs", "max_train", "max_length", "seed", "torch_threads"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    if args.transformer_model:
        base = make_recipe(args.recipe)
        name = next(iter(base.transformers), "transformer")
        overrides["transformers"] = {name: args.transformer_model}
    start = time.perf_counter()
    outcome = train(args.recipe, args.data, args.out, progress=not args.quiet, **overrides)
    summary = {
        "artifacts": str(outcome.artifacts_dir),
        "seconds": round(time.perf_counter() - start, 1),
        "cleaning": outcome.cleaning.rows_out,
        "test_metrics": {
            k: {m: round(v, 4) for m, v in d.items()} for k, d in outcome.metrics.items()
        },
    }
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
