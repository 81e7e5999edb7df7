"""Honest evaluation: point metrics, calibration, paired tests, leak probes, error analysis
and the check that the saved models serve the way the app and the batch command use them.

Metrics come from scikit-learn and ``mlshared`` (ECE, reliability bins, McNemar) so every
project measures the same way. Each result object reports itself with ``to_metrics()`` (plain
JSON-able values) for the notebook's metrics file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from misinfo.labels import FAKE, LABEL_NAMES

# Columns a metadata-only leak probe may use (LIAR: speaker and credit history; ISOT: subject,
# date); the ones a dataset lacks are skipped.
METADATA_COLUMNS: list[str] = [
    "speaker",
    "speaker_job",
    "state",
    "party",
    "context",
    "subject",
    "barely_true_count",
    "false_count",
    "half_true_count",
    "mostly_true_count",
    "pants_on_fire_count",
    "date",
]
DATELINE_PATTERN = r"\(Reuters\)"


def binary_metrics(
    y: np.ndarray, p_fake: np.ndarray, threshold: float = 0.5, n_bins: int = 15
) -> dict[str, float]:
    """Accuracy, macro-F1, weighted F1 (the CONSTRAINT shared task's measure), ROC-AUC, NLL,
    Brier and ECE (15 bins) of p_fake against y."""
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    from mlshared.classification_metrics import (
        brier_score,
        expected_calibration_error,
        negative_log_likelihood,
    )

    y = np.asarray(y).astype(int)
    p = np.clip(np.asarray(p_fake, dtype=float), 1e-7, 1 - 1e-7)
    pred = (p >= threshold).astype(int)
    out = {
        "n": float(len(y)),
        "accuracy": float(accuracy_score(y, pred)),
        "macro_f1": float(f1_score(y, pred, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(y, pred, average="weighted", zero_division=0)),
        "roc_auc": float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else float("nan"),
        "nll": float(negative_log_likelihood(y, p)),
        "brier": float(brier_score(y, p)),
        "ece": float(expected_calibration_error(y, p, n_bins=n_bins)),
    }
    return out


def metrics_table(
    y: np.ndarray, probs: dict[str, np.ndarray], threshold: float = 0.5
) -> pd.DataFrame:
    """One row per model (same test set), columns from binary_metrics."""
    return pd.DataFrame({name: binary_metrics(y, p, threshold) for name, p in probs.items()}).T


def calibration_table(
    y: np.ndarray, before: dict[str, np.ndarray], after: dict[str, np.ndarray]
) -> pd.DataFrame:
    """ECE and NLL before and after temperature scaling, per model."""
    rows = {}
    for name in after:
        b = binary_metrics(y, before[name]) if name in before else {}
        a = binary_metrics(y, after[name])
        rows[name] = {
            "ece_before": b.get("ece", np.nan),
            "ece_after": a["ece"],
            "nll_before": b.get("nll", np.nan),
            "nll_after": a["nll"],
        }
    return pd.DataFrame(rows).T


def mcnemar_vs_members(
    y: np.ndarray, ensemble_pred: np.ndarray, member_preds: dict[str, np.ndarray]
) -> pd.DataFrame:
    """McNemar's test of the ensemble against each member on the same test items (Holm-adjusted),
    with the accuracy difference, so "better" is backed by a paired test."""
    from mlshared.statistics import holm_correction, mcnemar_test

    rows = []
    for name, pred in member_preds.items():
        res = mcnemar_test(y, ensemble_pred, pred)
        rows.append(
            {
                "member": name,
                "acc_ensemble": float(np.mean(ensemble_pred == y)),
                "acc_member": float(np.mean(pred == y)),
                "ensemble_only_right": int(np.sum((ensemble_pred == y) & (pred != y))),
                "member_only_right": int(np.sum((ensemble_pred != y) & (pred == y))),
                "statistic": float(res.statistic),
                "p_value": float(res.p_value),
            }
        )
    df = pd.DataFrame(rows).set_index("member")
    if len(df):
        df["p_holm"] = holm_correction(df["p_value"].to_numpy())
    return df


def best_member(table: pd.DataFrame, ensemble: str = "ensemble", metric: str = "macro_f1") -> str:
    """The member with the highest ``metric`` (the one the ensemble has to beat)."""
    return str(table.drop(index=ensemble)[metric].idxmax())


def ensemble_verdict(
    table: pd.DataFrame, ensemble: str = "ensemble", metric: str = "macro_f1"
) -> str:
    """Plain sentence: does the ensemble beat its best member on ``metric``?"""
    members = table.drop(index=ensemble)
    best = best_member(table, ensemble, metric)
    diff = table.loc[ensemble, metric] - members.loc[best, metric]
    if diff > 0:
        return f"The ensemble beats its best member ({best}) on {metric} by {diff:+.4f}."
    return (
        f"The ensemble does NOT beat its best member ({best}) on {metric}: "
        f"{table.loc[ensemble, metric]:.4f} vs {members.loc[best, metric]:.4f} ({diff:+.4f})."
    )


# --------------------------------------------------------------------------- leak probes
def metadata_probe(
    train: pd.DataFrame, test: pd.DataFrame, columns: Sequence[str], seed: int = 0
) -> dict[str, Any]:
    """How well metadata ALONE predicts the label (a leak probe): one-hot for text columns,
    numeric columns as they are, logistic regression. High scores mean the label leaks."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    cols = [c for c in columns if c in train.columns and c in test.columns]
    if not cols:
        return {"columns": [], "note": "no metadata columns available"}
    numeric = [c for c in cols if pd.to_numeric(train[c], errors="coerce").notna().mean() > 0.95]
    categorical = [c for c in cols if c not in numeric]
    pre = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore", min_frequency=2), categorical),
            ("num", StandardScaler(), numeric),
        ]
    )

    def frame(df: pd.DataFrame) -> pd.DataFrame:
        out = df[cols].copy()
        for c in numeric:
            out[c] = pd.to_numeric(out[c], errors="coerce").fillna(0.0)
        for c in categorical:
            out[c] = out[c].astype(str)
        return out

    model = Pipeline([("pre", pre), ("lr", LogisticRegression(max_iter=2000, random_state=seed))])
    model.fit(frame(train), train["label"].to_numpy())
    p = model.predict_proba(frame(test))[:, 1]
    return {"columns": cols, **binary_metrics(test["label"].to_numpy(), p)}


def pattern_probe(texts: Sequence[str], y: np.ndarray, pattern: str) -> dict[str, Any]:
    """Predict "real" iff a regex (e.g. an agency dateline) is present: how much does it alone
    separate the classes? Reports coverage per class and the rule's accuracy."""
    import re

    rx = re.compile(pattern)
    has = np.array([bool(rx.search(str(t))) for t in texts])
    y = np.asarray(y).astype(int)
    pred = np.where(has, 1 - FAKE, FAKE)
    return {
        "pattern": pattern,
        "share_real_with_pattern": float(has[y != FAKE].mean())
        if np.any(y != FAKE)
        else float("nan"),
        "share_fake_with_pattern": float(has[y == FAKE].mean())
        if np.any(y == FAKE)
        else float("nan"),
        "rule_accuracy": float((pred == y).mean()),
    }


def error_examples(
    texts: Sequence[str], y: np.ndarray, p_fake: np.ndarray, k: int = 5, threshold: float = 0.5
) -> pd.DataFrame:
    """The most confident mistakes of each kind (false fake, false real), for reading."""
    df = pd.DataFrame(
        {"text": list(texts), "y": np.asarray(y).astype(int), "p_fake": np.asarray(p_fake)}
    )
    df["pred"] = (df["p_fake"] >= threshold).astype(int)
    wrong = df[df["pred"] != df["y"]].copy()
    wrong["confidence"] = np.where(wrong["pred"] == FAKE, wrong["p_fake"], 1 - wrong["p_fake"])
    wrong["truth"] = wrong["y"].map(lambda v: LABEL_NAMES[v])
    wrong["predicted"] = wrong["pred"].map(lambda v: LABEL_NAMES[v])
    wrong = wrong.sort_values("confidence", ascending=False)
    parts = [wrong[wrong["pred"] == c].head(k) for c in (FAKE, 1 - FAKE)]
    out = pd.concat(parts)[["truth", "predicted", "confidence", "text"]]
    return out.reset_index(drop=True)


def error_rates_by_length(
    texts: Sequence[str], y: np.ndarray, p_fake: np.ndarray, bins: int = 4
) -> pd.DataFrame:
    """Accuracy by text-length quartile: where does the model struggle?"""
    n_words = np.array([len(str(t).split()) for t in texts])
    df = pd.DataFrame(
        {"words": n_words, "correct": (np.asarray(p_fake) >= 0.5).astype(int) == np.asarray(y)}
    )
    df["length_bin"] = pd.qcut(df["words"], q=bins, duplicates="drop")
    return (
        df.groupby("length_bin", observed=True)["correct"]
        .agg(["mean", "size"])
        .rename(columns={"mean": "accuracy", "size": "n"})
    )


@dataclass
class LeakProbes:
    """How much of the label can be read without the text's content: a metadata-only model,
    and a dateline rule on the raw and on the cleaned test split."""

    results: dict[str, dict[str, Any]]

    def table(self) -> pd.DataFrame:
        """One row per probe."""
        return pd.DataFrame(self.results).T

    def to_metrics(self) -> dict[str, Any]:
        """For the metrics JSON."""
        return self.results


def leak_probes(
    raw: Mapping[str, pd.DataFrame], clean: Mapping[str, pd.DataFrame], seed: int = 0
) -> LeakProbes:
    """The three probes the notebook reports (metadata on raw train -> raw test, and the
    "(Reuters)" rule before and after cleaning)."""
    return LeakProbes(
        {
            "metadata_only": metadata_probe(raw["train"], raw["test"], METADATA_COLUMNS, seed=seed),
            "dateline_rule_raw": pattern_probe(
                raw["test"]["text"], raw["test"]["label"].to_numpy(), DATELINE_PATTERN
            ),
            "dateline_rule_cleaned": pattern_probe(
                clean["test"]["text"], clean["test"]["label"].to_numpy(), DATELINE_PATTERN
            ),
        }
    )


@dataclass
class Evaluation:
    """Test-split results of a trained ensemble and its members (same items for all)."""

    table: pd.DataFrame  # binary_metrics per model, calibrated probabilities
    calibration: pd.DataFrame  # ECE / NLL before and after temperature scaling
    mcnemar: pd.DataFrame  # ensemble vs each member, Holm-adjusted
    verdict: str

    @property
    def best_member(self) -> str:
        """The member with the highest macro-F1 (the verdict's yardstick)."""
        return best_member(self.table)

    def vs_best_member(self) -> dict[str, Any]:
        """The paired test of the ensemble against its best member: McNemar's row for it
        (unadjusted and Holm-adjusted p-values, who is right where the other is wrong)."""
        return {"member": self.best_member, **self.mcnemar.loc[self.best_member].to_dict()}

    def to_metrics(self) -> dict[str, Any]:
        """For the metrics JSON."""
        return {
            "test": self.table.to_dict(orient="index"),
            "calibration": self.calibration.to_dict(orient="index"),
            "mcnemar_vs_ensemble": self.mcnemar.to_dict(orient="index"),
            "ensemble_vs_best_member": self.vs_best_member(),
            "verdict": self.verdict,
        }


def evaluate(
    y: np.ndarray,
    p_calibrated: Mapping[str, np.ndarray],
    p_uncalibrated: Mapping[str, np.ndarray],
    ensemble: str = "ensemble",
    threshold: float = 0.5,
) -> Evaluation:
    """Metrics table, calibration table, McNemar of ``ensemble`` against every other model,
    and the verdict sentence, from per-model test probabilities."""
    y = np.asarray(y).astype(int)
    table = metrics_table(y, dict(p_calibrated), threshold)
    preds = {m: (np.asarray(p) >= threshold).astype(int) for m, p in p_calibrated.items()}
    ens = preds.pop(ensemble)
    return Evaluation(
        table=table,
        calibration=calibration_table(y, dict(p_uncalibrated), dict(p_calibrated)),
        mcnemar=mcnemar_vs_members(y, ens, preds),
        verdict=ensemble_verdict(table, ensemble),
    )


@dataclass
class CrossDataset:
    """The saved models on another dataset (empty table and a note when skipped)."""

    dataset: str
    table: pd.DataFrame = field(default_factory=pd.DataFrame)
    direction_check: dict[str, float] = field(default_factory=dict)
    note: str = ""

    def to_metrics(self) -> dict[str, Any]:
        """For the metrics JSON."""
        return {
            "dataset": self.dataset,
            "note": self.note,
            "label_direction_check": self.direction_check,
            "metrics": self.table.to_dict(orient="index"),
        }


@dataclass
class CrossDatasetMatrix:
    """Every trained model set on every labelled test set: one row per (trained_on,
    tested_on, model) with the metrics of ``binary_metrics`` and ``ood_flagged``, the share of
    the test texts the model set's out-of-domain check flags (NaN without one)."""

    table: pd.DataFrame

    def matrix(self, metric: str = "macro_f1", model: str = "ensemble") -> pd.DataFrame:
        """trained_on x tested_on for one metric and one model (the ensemble by default)."""
        if metric not in self.table.columns:
            raise ValueError(f"unknown metric {metric!r}; choose from {list(self.table.columns)}")
        rows = self.table.xs(model, level="model")
        return rows[metric].unstack("tested_on")

    def to_metrics(self) -> dict[str, Any]:
        """For the metrics JSON: one record per cell and model."""
        records = self.table.reset_index().to_dict(orient="records")
        return {"cells": [{str(k): v for k, v in r.items()} for r in records]}


def cross_dataset_matrix(
    models: Mapping[str, Any], test_sets: Mapping[str, pd.DataFrame]
) -> CrossDatasetMatrix:
    """Score every model set (a loaded Detector or its artifacts folder, keyed by the dataset
    it was trained on) on every test set (``text`` and ``label`` columns, keyed by dataset):
    the ensemble and each member, and the out-of-domain flag rate. The diagonal is in-domain;
    everything off it is what a user gets from a model trained on other data."""
    from misinfo.detector import load_detector

    if not models or not test_sets:
        raise ValueError("the cross-dataset matrix needs at least one model set and one test set")
    rows: dict[tuple[str, str, str], dict[str, float]] = {}
    for trained_on, model in models.items():
        detector = model if hasattr(model, "predict") else load_detector(model, warm_up=False)
        for tested_on, test in test_sets.items():
            missing = {"text", "label"} - set(test.columns)
            if missing:
                raise ValueError(f"test set {tested_on!r} lacks the columns {sorted(missing)}")
            texts, y = test["text"].tolist(), test["label"].to_numpy().astype(int)
            pred = detector.predict(texts)
            flagged = (
                float(detector.domain_check(texts)["out_of_domain"].mean())
                if detector.has_domain_check
                else float("nan")
            )
            probs = {"ensemble": pred["p_fake"].to_numpy()} | {
                c.removeprefix("p_fake_"): pred[c].to_numpy()
                for c in pred.columns
                if c.startswith("p_fake_")
            }
            for name, p in probs.items():
                rows[(trained_on, tested_on, name)] = binary_metrics(y, p) | {
                    "ood_flagged": flagged
                }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index = pd.MultiIndex.from_tuples(table.index, names=["trained_on", "tested_on", "model"])
    return CrossDatasetMatrix(table)


@dataclass
class ServingCheck:
    """The saved folder used as the app and the batch command use it: a few predictions with
    their reasons, a CSV with an empty row scored by the batch path, and int8 against fp32."""

    predictions: pd.DataFrame
    explanation: list[tuple[str, float]]
    token_attributions: list[tuple[str, float]] | None
    batch_rows_in: int
    batch_rows_out: int
    batch_errors: int
    int8_n: int
    int8_agreement: float

    def to_metrics(self) -> dict[str, Any]:
        """For the metrics JSON."""
        return {
            "batch": {
                "rows_in": self.batch_rows_in,
                "rows_out": self.batch_rows_out,
                "errors": self.batch_errors,
            },
            "int8_label_agreement": self.int8_agreement,
            "int8_texts": self.int8_n,
        }


def check_saved_models(
    artifacts_dir: str | Path, test: pd.DataFrame, int8_n: int | None = None, batch_rows: int = 50
) -> ServingCheck:
    """Load the folder like the app, score ``batch_rows`` test rows (one blanked) through the
    batch command's CSV path, and compare int8 with fp32 labels on ``int8_n`` test texts."""
    import tempfile

    from misinfo.batch import predict_csv
    from misinfo.detector import load_detector

    detector = load_detector(artifacts_dir)
    texts = test["text"].tolist()
    sample = test.head(batch_rows).rename(columns={"text": "statement"})
    sample.loc[sample.index[min(3, len(sample) - 1)], "statement"] = "   "  # kept, with an error
    with tempfile.TemporaryDirectory() as tmp:
        sample.to_csv(Path(tmp) / "in.csv", index=False)
        report = predict_csv(
            Path(tmp) / "in.csv", Path(tmp) / "out.csv", detector, "statement", progress=False
        )
        rows_out = len(pd.read_csv(Path(tmp) / "out.csv"))
    int8_texts = texts[:int8_n]
    int8 = load_detector(artifacts_dir, quantize_int8=True)
    agreement = (int8.predict(int8_texts)["label"] == detector.predict(int8_texts)["label"]).mean()
    return ServingCheck(
        predictions=detector.predict(texts[:3]),
        explanation=detector.explain(texts[0], top_k=8),
        token_attributions=detector.token_attributions(texts[0]),
        batch_rows_in=len(sample),
        batch_rows_out=rows_out,
        batch_errors=report.errors,
        int8_n=len(int8_texts),
        int8_agreement=float(agreement),
    )
