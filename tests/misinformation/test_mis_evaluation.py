"""Evaluation: metrics against scikit-learn, McNemar against statsmodels, the verdict, the leak
probes, error analysis, and the result objects' metrics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, brier_score_loss, f1_score, log_loss, roc_auc_score
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests

from misinfo import evaluation
from misinfo.data import synthetic_splits


@pytest.fixture(scope="module")
def scored() -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Labels and three models' p_fake on 400 items: a good one, a weak one, and the average."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    good = np.clip(0.5 + (2 * y - 1) * 0.3 + rng.normal(0, 0.2, y.size), 0.01, 0.99)
    weak = np.clip(0.5 + (2 * y - 1) * 0.1 + rng.normal(0, 0.25, y.size), 0.01, 0.99)
    return y, {"good": good, "weak": weak, "ensemble": (good + weak) / 2}


def test_binary_metrics_match_scikit_learn(scored) -> None:
    y, probs = scored
    p = probs["weak"]
    m = evaluation.binary_metrics(y, p)
    pred = (p >= 0.5).astype(int)
    assert m["n"] == 400 and m["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert m["macro_f1"] == pytest.approx(f1_score(y, pred, average="macro"))
    assert m["weighted_f1"] == pytest.approx(f1_score(y, pred, average="weighted"))
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, p))
    assert m["nll"] == pytest.approx(log_loss(y, p))
    # Brier's original score sums over both classes: twice scikit-learn's binary Brier loss
    assert m["brier"] == pytest.approx(2 * brier_score_loss(y, p))
    assert 0 <= m["ece"] <= 1
    assert np.isnan(evaluation.binary_metrics(np.ones(3), np.array([0.2, 0.6, 0.9]))["roc_auc"])


def _by_hand(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float, int, int]:
    """McNemar straight from statsmodels on the 2x2 table of who is right."""
    ra, rb = a == y, b == y
    table = [[np.sum(ra & rb), np.sum(ra & ~rb)], [np.sum(~ra & rb), np.sum(~ra & ~rb)]]
    only_a, only_b = int(table[0][1]), int(table[1][0])
    res = mcnemar(np.array(table), exact=only_a + only_b < 25, correction=True)
    return float(res.statistic), float(res.pvalue), only_a, only_b


def test_mcnemar_matches_statsmodels_and_holm(scored) -> None:
    y, probs = scored
    preds = {m: (p >= 0.5).astype(int) for m, p in probs.items()}
    ens = preds.pop("ensemble")
    table = evaluation.mcnemar_vs_members(y, ens, preds)
    for member, pred in preds.items():
        statistic, p, only_ens, only_member = _by_hand(y, ens, pred)
        row = table.loc[member]
        assert row["statistic"] == pytest.approx(statistic) and row["p_value"] == pytest.approx(p)
        assert (row["ensemble_only_right"], row["member_only_right"]) == (only_ens, only_member)
        assert row["acc_member"] == pytest.approx(np.mean(pred == y))
    holm = multipletests(table["p_value"], method="holm")[1]
    assert table["p_holm"].to_numpy() == pytest.approx(holm)


def test_mcnemar_on_worked_examples() -> None:
    """80 items, the ensemble right on the first 60. Member a: 15 items only the ensemble gets
    right, 5 only a gets right: exact binomial, p = 2 P(X <= 5 | 20, 1/2) = 0.0414. Member b:
    30 against 10: chi-squared with continuity correction, (|30 - 10| - 1)^2 / 40 = 9.025,
    p = 0.00266. Holm: b's p doubled (0.00532), a's kept (0.0414 > 0.00532)."""
    y = np.ones(80, dtype=int)
    ens = (np.arange(80) < 60).astype(int)
    a = ((np.arange(80) < 45) | ((np.arange(80) >= 60) & (np.arange(80) < 65))).astype(int)
    b = ((np.arange(80) < 30) | ((np.arange(80) >= 60) & (np.arange(80) < 70))).astype(int)
    table = evaluation.mcnemar_vs_members(y, ens, {"a": a, "b": b})
    assert table[["ensemble_only_right", "member_only_right"]].values.tolist() == [
        [15, 5],
        [30, 10],
    ]
    assert table["statistic"].tolist() == pytest.approx([5.0, 9.025])
    assert table["p_value"].tolist() == pytest.approx([0.04139, 0.00266], abs=5e-5)
    assert table["p_holm"].tolist() == pytest.approx([0.04139, 0.00532], abs=5e-5)


def test_verdict_names_the_best_member_and_the_direction() -> None:
    table = pd.DataFrame({"macro_f1": [0.70, 0.80, 0.75]}, index=["a", "b", "ensemble"])
    assert evaluation.ensemble_verdict(table) == (
        "The ensemble does NOT beat its best member (b) on macro_f1: 0.7500 vs 0.8000 (-0.0500)."
    )
    table.loc["ensemble", "macro_f1"] = 0.8125
    assert evaluation.ensemble_verdict(table) == (
        "The ensemble beats its best member (b) on macro_f1 by +0.0125."
    )
    table.loc["ensemble", "macro_f1"] = 0.80  # a tie is not a win
    assert "does NOT beat" in evaluation.ensemble_verdict(table)


def test_evaluate_puts_the_pieces_together(scored) -> None:
    y, probs = scored
    raw = {m: np.clip(p * 1.3 - 0.15, 0.001, 0.999) for m, p in probs.items()}
    result = evaluation.evaluate(y, probs, raw)
    assert list(result.table.index) == ["good", "weak", "ensemble"]
    assert list(result.mcnemar.index) == ["good", "weak"]
    assert result.calibration.loc["weak", "ece_before"] == pytest.approx(
        evaluation.binary_metrics(y, raw["weak"])["ece"]
    )
    assert result.verdict == evaluation.ensemble_verdict(result.table)
    metrics = json.loads(json.dumps(result.to_metrics()))
    assert set(metrics) == {
        "test",
        "calibration",
        "mcnemar_vs_ensemble",
        "ensemble_vs_best_member",
        "verdict",
    }
    assert result.best_member == "good"  # higher macro-F1 than "weak"
    paired = metrics["ensemble_vs_best_member"]
    assert paired["member"] == "good"
    assert paired["p_value"] == pytest.approx(result.mcnemar.loc["good", "p_value"])
    assert paired["p_holm"] == pytest.approx(result.mcnemar.loc["good", "p_holm"])
    assert metrics["test"]["good"]["accuracy"] == pytest.approx(
        result.table.loc["good", "accuracy"]
    )


# ------------------------------------------------------------------ leak probes


def test_metadata_probe_finds_a_leaking_column_and_not_a_random_one() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 600)
    frame = pd.DataFrame(
        {
            "label": y,
            "speaker": np.where(y == 1, "pundit-", "senator-")
            + (rng.integers(0, 5, y.size)).astype(str),
            "false_count": rng.integers(0, 30, y.size),
            "date": "2017",
        }
    )
    train, test = frame.iloc[:400], frame.iloc[400:]
    leak = evaluation.metadata_probe(train, test, ["speaker", "missing_column"])
    assert leak["columns"] == ["speaker"] and leak["roc_auc"] > 0.99
    noise = evaluation.metadata_probe(train, test, ["false_count", "date"])
    assert noise["columns"] == ["false_count", "date"] and abs(noise["roc_auc"] - 0.5) < 0.1
    assert evaluation.metadata_probe(train, test, ["nothing"])["columns"] == []


def test_pattern_probe_counts_each_class_and_the_rule() -> None:
    texts = ["A (Reuters) - x", "B (Reuters) - y", "C z", "D (Reuters) w", "E v"]
    y = np.array([0, 0, 0, 1, 1])  # three real (two with the dateline), two fake (one with it)
    probe = evaluation.pattern_probe(texts, y, evaluation.DATELINE_PATTERN)
    assert probe["share_real_with_pattern"] == pytest.approx(2 / 3)
    assert probe["share_fake_with_pattern"] == pytest.approx(1 / 2)
    assert probe["rule_accuracy"] == pytest.approx(3 / 5)  # right on A, B and E


def test_leak_probes_on_raw_and_cleaned_splits() -> None:
    from misinfo.cleaning import clean_splits

    raw = synthetic_splits(n=300, seed=2)
    raw = {
        k: v.assign(subject=np.where(v["label"] == 1, "news", "politics")) for k, v in raw.items()
    }
    clean, _ = clean_splits(raw)
    probes = evaluation.leak_probes(raw, clean, seed=0)
    table = probes.table()
    assert list(table.index) == ["metadata_only", "dateline_rule_raw", "dateline_rule_cleaned"]
    assert probes.results["metadata_only"]["roc_auc"] > 0.99  # subject gives the label away
    assert probes.results["dateline_rule_raw"]["share_real_with_pattern"] > 0.2
    assert probes.results["dateline_rule_cleaned"]["share_real_with_pattern"] == 0.0
    json.dumps(probes.to_metrics())


# ------------------------------------------------------------------ error analysis, results


def test_error_examples_are_the_most_confident_mistakes() -> None:
    texts = ["a", "b", "c", "d", "e"]
    y = np.array([0, 0, 1, 1, 0])
    p = np.array([0.9, 0.6, 0.2, 0.05, 0.1])  # a, b: false fake; c, d: false real; e right
    out = evaluation.error_examples(texts, y, p, k=1)
    assert out["text"].tolist() == ["a", "d"]
    assert out["confidence"].tolist() == pytest.approx([0.9, 0.95])
    assert out[["truth", "predicted"]].values.tolist() == [["real", "fake"], ["fake", "real"]]


def test_error_rates_by_length() -> None:
    texts = ["w " * n for n in (1, 2, 3, 4, 5, 6, 7, 8)]
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    p = np.array([0.1, 0.9, 0.1, 0.1, 0.9, 0.9, 0.1, 0.1])
    table = evaluation.error_rates_by_length(texts, y, p, bins=2)
    assert table["n"].tolist() == [4, 4] and table["accuracy"].tolist() == [0.75, 0.5]


def test_saved_models_serve_like_the_app_and_the_batch_command(quick_models: Path) -> None:
    test = synthetic_splits(n=300, seed=3)["test"]
    check = evaluation.check_saved_models(quick_models, test, int8_n=20, batch_rows=30)
    assert (check.batch_rows_in, check.batch_rows_out, check.batch_errors) == (30, 30, 1)
    assert check.int8_n == 20 and check.int8_agreement == 1.0  # no transformer: int8 is a no-op
    assert len(check.predictions) == 3 and check.explanation and check.token_attributions is None
    assert json.loads(json.dumps(check.to_metrics()))["batch"]["rows_out"] == 30


def test_a_skipped_cross_dataset_check_says_so() -> None:
    from misinfo.recipes import recipe_for
    from misinfo.train import cross_dataset_check

    cross = cross_dataset_check(recipe_for("smoke"), "unused")
    assert cross.table.empty and "skipped" in cross.note
    assert cross.to_metrics()["metrics"] == {}


class FixedDetector:
    """A model set that answers from a lookup table (p_fake per text) and flags the texts of a
    given set as out of domain: the matrix's arithmetic is checked without training."""

    def __init__(self, p: dict[str, float], outside: set[str] | None) -> None:
        self.p, self.outside = p, outside
        self.has_domain_check = outside is not None

    def predict(self, texts: list[str]) -> pd.DataFrame:
        p = np.array([self.p[t] for t in texts])
        return pd.DataFrame({"p_fake": p, "p_fake_tfidf": np.clip(p + 0.2, 0, 1)})

    def domain_check(self, texts: list[str]) -> pd.DataFrame:
        flags = [t in (self.outside or set()) for t in texts]
        return pd.DataFrame({"ood_score": np.array(flags, float), "out_of_domain": flags})


def test_cross_dataset_matrix_scores_every_model_set_on_every_test_set() -> None:
    rng = np.random.default_rng(2)
    tests = {
        name: pd.DataFrame(
            {"text": [f"{name} {i}" for i in range(60)], "label": rng.integers(0, 2, 60)}
        )
        for name in ("liar", "constraint")
    }
    p = {
        t: float(v)
        for df in tests.values()
        for t, v in zip(df["text"], rng.random(60), strict=True)
    }
    models = {
        "liar": FixedDetector(p, outside=set(tests["constraint"]["text"][:45])),
        "constraint": FixedDetector(p, outside=None),  # trained before the check existed
    }
    result = evaluation.cross_dataset_matrix(models, tests)
    assert result.table.index.names == ["trained_on", "tested_on", "model"]
    assert len(result.table) == 2 * 2 * 2  # model sets x test sets x (ensemble, tfidf)
    for trained_on in models:
        for tested_on, test in tests.items():
            y, probs = test["label"].to_numpy(), np.array([p[t] for t in test["text"]])
            row = result.table.loc[(trained_on, tested_on, "ensemble")]
            assert row["macro_f1"] == pytest.approx(evaluation.binary_metrics(y, probs)["macro_f1"])
            member = result.table.loc[(trained_on, tested_on, "tfidf"), "roc_auc"]
            expected = evaluation.binary_metrics(y, np.clip(probs + 0.2, 0, 1))["roc_auc"]
            assert member == pytest.approx(expected)
    flagged = result.matrix("ood_flagged")
    assert set(flagged.index) == set(flagged.columns) == set(models)
    assert flagged.loc["liar", "constraint"] == pytest.approx(45 / 60)
    assert flagged.loc["liar", "liar"] == 0.0 and np.isnan(flagged.loc["constraint", "liar"])
    f1 = result.matrix("weighted_f1", model="tfidf")
    assert f1.shape == (2, 2) and f1.notna().all().all()
    with pytest.raises(ValueError, match="unknown metric 'f2'"):
        result.matrix("f2")
    cells = json.loads(json.dumps(result.to_metrics()))["cells"]
    assert len(cells) == 8 and {"trained_on", "tested_on", "model", "ood_flagged"} <= set(cells[0])
    with pytest.raises(ValueError, match="lacks the columns \\['label'\\]"):
        evaluation.cross_dataset_matrix(models, {"x": tests["liar"][["text"]]})
    with pytest.raises(ValueError, match="at least one model set"):
        evaluation.cross_dataset_matrix({}, tests)
