"""Honest evaluation: point metrics, calibration, paired tests, leak probes and error analysis.

Metrics come from scikit-learn and ``mlshared`` (ECE, reliability bins, McNemar) so every
project measures the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from misinfo.labels import FAKE, LABEL_NAMES


def binary_metrics(
    y: np.ndarray, p_fake: np.ndarray, threshold: float = 0.5, n_bins: int = 15
) -> dict[str, float]:
    """Accuracy, macro-F1, ROC-AUC, NLL, Brier and ECE (15 bins) of p_fake against y."""
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


def ensemble_verdict(
    table: pd.DataFrame, ensemble: str = "ensemble", metric: str = "macro_f1"
) -> str:
    """Plain sentence: does the ensemble beat its best member on ``metric``?"""
    members = table.drop(index=ensemble)
    best = members[metric].idxmax()
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


def pattern_probe(texts: Sequence[str], y: np.ndarray, pattern: str) -> dict[str, float]:
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
