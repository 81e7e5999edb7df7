"""Report tables and figures: the numbers behind them, checked on data with known answers."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from sklearn.inspection import permutation_importance

from misinfo import report
from misinfo.data import synthetic_splits
from misinfo.features import FEATURE_NAMES
from misinfo.models import FeatureModel, TfidfLogReg


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_split_summary() -> None:
    splits = {
        "train": pd.DataFrame({"label": [1, 0, 0, 0]}),
        "test": pd.DataFrame({"label": [1, 1]}),
    }
    table = report.split_summary(splits)
    assert table.loc["train"].tolist() == [4, 0.25] and table.loc["test"].tolist() == [2, 1.0]


def test_feature_class_summary_is_the_standardised_mean_difference() -> None:
    y = np.array([1, 1, 1, 0, 0, 0])
    features = pd.DataFrame(
        {"exclamations": [4.0, 6.0, 5.0, 0.0, 1.0, 2.0], "n_words": [10.0, 12, 11, 11, 10, 12]}
    )
    table = report.feature_class_summary(features, y)
    assert list(table.index) == ["exclamations", "n_words"]  # sorted by |difference|
    pooled = np.sqrt((np.var([4, 6, 5], ddof=1) + np.var([0, 1, 2], ddof=1)) / 2)
    assert table.loc["exclamations", "std_mean_diff"] == pytest.approx((5 - 1) / pooled)
    assert table.loc["n_words", "std_mean_diff"] == pytest.approx(0.0)
    assert table.loc["exclamations", ["median_real", "median_fake"]].tolist() == [1.0, 5.0]
    assert table.loc["exclamations", "description"] == "'!' per 100 words"


def test_feature_importance_shuffles_what_the_model_sees() -> None:
    """Only ``exclamations`` decides the label: shuffling it costs ROC-AUC, the rest nothing,
    and the numbers are scikit-learn's on the model's own (log-transformed) inputs."""
    rng = np.random.default_rng(0)
    features = pd.DataFrame(rng.gamma(2.0, 2.0, (400, len(FEATURE_NAMES))), columns=FEATURE_NAMES)
    y = (features["exclamations"] > features["exclamations"].median()).astype(int).to_numpy()
    model = FeatureModel(c=10.0)
    model.pipeline.fit(model.inputs(features), y)
    table = report.feature_importance(model, features, y, seed=0, repeats=3)
    assert table.index[0] == "exclamations" and table.iloc[0]["permutation_auc_drop"] > 0.3
    assert table.iloc[1:]["permutation_auc_drop"].abs().max() < 0.05
    expected = permutation_importance(
        model.pipeline, model.inputs(features), y, scoring="roc_auc", n_repeats=3, random_state=0
    )
    assert table.loc["exclamations", "permutation_auc_drop"] == pytest.approx(
        expected.importances_mean[FEATURE_NAMES.index("exclamations")]
    )
    assert table.loc["exclamations", "coefficient"] > 0


def test_top_terms_table_puts_fake_and_real_side_by_side() -> None:
    tr = synthetic_splits(n=300, seed=1)["train"]
    table = report.top_terms_table(TfidfLogReg(min_df=1).fit(tr["text"], tr["label"]), k=5)
    assert list(table.columns) == ["toward_fake", "weight_fake", "toward_real", "weight_real"]
    assert len(table) == 5 and (table["weight_fake"] > 0).all() and (table["weight_real"] < 0).all()
    assert table["weight_fake"].is_monotonic_decreasing


def test_transformer_history_and_training_curves() -> None:
    history = [
        {"step": 50, "epoch": 0.5, "train_loss": 0.6},
        {"step": 100, "epoch": 1.0, "train_loss": 0.5},
        {"step": 100, "epoch": 1.0, "valid_loss": 0.55},
    ]
    assert report.transformer_history(history) == {"loss": [0.6, 0.5], "val_loss": [0.55]}
    assert report.transformer_history(history[:1]) == {"loss": [0.6]}
    figures = report.training_curve_figures({"bert": history})
    assert list(figures) == ["training_bert"] and isinstance(figures["training_bert"], Figure)


def test_figures_have_one_panel_per_thing_shown() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    p = {"tfidf": rng.random(200), "ensemble": rng.random(200)}
    confusion = report.confusion_figures(y, p, ["ensemble", "tfidf"])
    assert list(confusion) == ["confusion_ensemble", "confusion_tfidf"]
    reliability = report.reliability_figure(y, p, p)
    labels = reliability.axes[0].get_legend_handles_labels()[1]
    assert sum("ensemble" in t for t in labels) == 2 and sum("tfidf" in t for t in labels) == 1
    features = pd.DataFrame(rng.random((200, 4)), columns=["a", "b", "c", "d"])
    dist = report.plot_feature_distributions(features, y, ["a", "b", "c", "d"])
    assert sum(ax.has_data() for ax in dist.axes) == 4
    table = pd.DataFrame(
        {"accuracy": [0.6, 0.7], "macro_f1": [0.55, 0.68], "roc_auc": [0.7, 0.8]},
        index=["tfidf", "ensemble"],
    )
    bars = report.plot_metric_comparison(table)
    assert len(bars.axes[0].patches) == 6
    importance = pd.DataFrame(
        {
            "coefficient": [0.5, -0.2],
            "permutation_auc_drop": [0.1, 0.0],
            "permutation_sd": [0.01, 0.0],
        },
        index=["exclamations", "n_words"],
    )
    assert len(report.plot_feature_importance(importance).axes) == 2


def test_cross_dataset_heat_maps_show_the_matrix_cell_by_cell() -> None:
    from misinfo.evaluation import CrossDatasetMatrix

    cells = {
        ("liar", "liar", "ensemble"): (0.64, 0.05),
        ("liar", "constraint", "ensemble"): (0.48, 0.66),
        ("constraint", "liar", "ensemble"): (0.51, 0.91),
        ("constraint", "constraint", "ensemble"): (0.95, 0.04),
    }
    table = pd.DataFrame(cells.values(), columns=["macro_f1", "ood_flagged"])
    table.index = pd.MultiIndex.from_tuples(cells, names=["trained_on", "tested_on", "model"])
    fig = report.plot_cross_dataset_matrix(CrossDatasetMatrix(table))
    heat, flags = fig.axes[:2]  # then the two colour bars
    assert len(fig.axes) == 4
    assert (heat.get_xlabel(), heat.get_ylabel()) == ("tested on", "trained on")
    assert heat.get_title() == "ensemble macro_f1" and "out of domain" in flags.get_title()
    rows = [t.get_text() for t in heat.get_yticklabels()]
    cols = [t.get_text() for t in heat.get_xticklabels()]
    shown = [t.get_text() for t in heat.texts]  # row by row, as seaborn annotates
    expected = [f"{cells[(r, c, 'ensemble')][0]:.2f}" for r in rows for c in cols]
    assert shown == expected
    assert sorted(t.get_text() for t in flags.texts) == ["0.04", "0.05", "0.66", "0.91"]
