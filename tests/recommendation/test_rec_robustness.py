"""The comparison over several splits: mean and spread per model, and ranking changes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kendalltau

import recsys.experiment
from mlshared.run import write_metrics_json
from recsys.data import synthetic_movielens
from recsys.experiment import run_offline_experiment
from recsys.plots import plot_robustness
from recsys.recipes import recipe_for
from recsys.robustness import RobustnessResult, run_robustness

pytestmark = pytest.mark.filterwarnings("ignore::recsys.tuning.GridEdgeWarning")

# ndcg@10 of three models on three random splits and one temporal split (hand-made)
VALUES = {
    "random (seed 1)": ("random", 1, {"A": 0.50, "B": 0.40, "C": 0.10}),
    "random (seed 2)": ("random", 2, {"A": 0.46, "B": 0.48, "C": 0.12}),
    "random (seed 3)": ("random", 3, {"A": 0.54, "B": 0.44, "C": 0.08}),
    "temporal": ("temporal", 1, {"A": 0.30, "B": 0.35, "C": 0.05}),
}


@pytest.fixture
def result():
    rows = [
        {"split": label, "method": method, "seed": seed, "model": model, "ndcg@10": v, "hr": 2 * v}
        for label, (method, seed, values) in VALUES.items()
        for model, v in values.items()
    ]
    return RobustnessResult(pd.DataFrame(rows), "ndcg@10", ("ndcg@10", "hr"), retuned=False)


def test_table_gives_mean_and_sd_over_random_splits_and_the_temporal_value(result):
    table = result.table()
    assert table.index.tolist() == ["A", "B", "C"]  # by mean over the random splits
    assert table.loc["A", "ndcg@10 mean"] == pytest.approx(0.50)
    assert table.loc["B", "ndcg@10 sd"] == pytest.approx(np.std([0.40, 0.48, 0.44], ddof=1))
    assert table.loc["B", "hr temporal"] == pytest.approx(0.70)
    assert table.loc["A", ["best rank", "worst rank"]].tolist() == [1, 2]
    assert table.loc["C", ["best rank", "worst rank"]].tolist() == [3, 3]


def test_ranks_tau_and_stability(result):
    ranks = result.ranks()
    assert ranks.loc["random (seed 2)"].tolist() == [2, 1, 3]
    tau = result.kendall_tau()
    expected = kendalltau([0.50, 0.40, 0.10], [0.46, 0.48, 0.12]).statistic
    assert tau.loc["random (seed 1)", "random (seed 2)"] == pytest.approx(expected)
    assert np.allclose(tau, tau.T) and (np.diag(tau) == 1).all()
    s = result.stability()
    assert s["top_model_per_split"]["temporal"] == "B"
    assert (s["most_common_top"], s["top_model_share"]) == ("A", 0.5)
    # identical orderings: seeds 1 and 3 (A > B > C), seed 2 and temporal (B > A > C): 2 of 6 pairs
    assert s["identical_ranking_share"] == pytest.approx(2 / 6)
    assert s["models_whose_rank_changes"] == 2
    assert s["kendall_tau_min"] == pytest.approx(1 / 3)
    assert s["kendall_tau_random_mean"] == pytest.approx((1 / 3 + 1 + 1 / 3) / 3)
    assert s["kendall_tau_temporal_mean"] == pytest.approx((1 / 3 + 1 + 1 / 3) / 3)
    assert result.share_better("A", "B") == 0.5 and result.share_better("A", "C") == 1.0


def test_to_metrics_is_json_ready_and_the_plot_draws(result, tmp_path):
    payload = json.loads(write_metrics_json(tmp_path / "m.json", result.to_metrics()).read_text())
    metrics = payload["metrics"]
    assert metrics["splits"] == list(VALUES)
    assert "reused on every split" in metrics["tuning"]
    assert [row["model"] for row in metrics["summary"]] == ["A", "B", "C"]
    assert metrics["ranks"]["temporal"] == {"A": 2, "B": 1, "C": 3}
    assert len(plot_robustness(result).axes) == 2


@pytest.fixture(scope="module")
def small():
    data = synthetic_movielens(n_users=80, n_items=100, seed=4)
    recipe = recipe_for(
        "smoke", models=["Random", "MostPopular", "EASE"], seed=4, split_seeds=[4, 5]
    )
    return run_offline_experiment(recipe, data)


def test_run_reuses_the_main_split_and_its_tuned_parameters(small, monkeypatch):
    tunings = []
    original = recsys.experiment.grid_search
    monkeypatch.setattr(
        recsys.experiment, "grid_search", lambda *a, **kw: tunings.append(1) or original(*a, **kw)
    )
    result = run_robustness(small)
    assert result.splits == ["random (seed 4)", "random (seed 5)", "temporal"]
    assert tunings == []  # no grid search: the main split's parameters are reused
    main = result.values().loc["random (seed 4)"]
    for name, r in small.results.items():
        assert main[name] == r.per_user["ndcg@10"].mean()  # the same results, not a refit
    assert not np.allclose(result.values().loc["random (seed 5)"], main)
    assert result.share_better("EASE", "Random") == 1.0
    assert result.table().index[-1] == "Random"


def test_run_can_tune_on_every_split(small, monkeypatch):
    recipe = recipe_for(
        "smoke",
        models=["MostPopular", "EASE"],
        seed=4,
        split_seeds=[4, 6],
        retune_per_split=True,
        temporal_split=False,
    )
    exp = run_offline_experiment(recipe, small.data)
    tuned = []
    original = recsys.experiment.grid_search
    monkeypatch.setattr(
        recsys.experiment, "grid_search", lambda *a, **kw: tuned.append(1) or original(*a, **kw)
    )
    result = run_robustness(exp)
    assert len(tuned) == 2  # both models on the one new split; the main split is reused
    assert "each split's own validation" in result.to_metrics()["tuning"]
    assert "temporal" not in result.splits and "ndcg@10 temporal" not in result.table()
