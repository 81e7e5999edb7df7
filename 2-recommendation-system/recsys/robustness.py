"""Does the model comparison survive another split? The offline experiment repeated over split
seeds and a temporal split: each model's mean and spread, and how often the ranking changes.

One split's bootstrap intervals cover the sampling of users only. Which ratings land in test
(the split seed) and what the test asks for (a random 25 % of a user's ratings, or the latest
25 %) move the numbers too, and can reorder close models.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import kendalltau

from recsys.experiment import OfflineExperiment, run_offline_experiment
from recsys.splitting import Split, split_per_user

HEADLINE = ("ndcg", "precision", "recall", "map", "hit_rate", "mrr")


@dataclass
class RobustnessResult:
    """Every model's test metrics on every split, and what they say about the ranking."""

    scores: pd.DataFrame  # one row per (split, model): split, method, seed, model, metrics
    metric: str  # the metric models are ranked on, e.g. "ndcg@10"
    headline: tuple[str, ...]  # the metrics ``table`` reports
    retuned: bool  # True: tuned on each split's own validation; False: the main split's choice

    @property
    def splits(self) -> list[str]:
        return list(dict.fromkeys(self.scores["split"]))

    @property
    def models(self) -> list[str]:
        return list(dict.fromkeys(self.scores["model"]))

    def values(self, metric: str | None = None) -> pd.DataFrame:
        """split x model table of one metric's mean over users."""
        wide = self.scores.pivot(index="split", columns="model", values=metric or self.metric)
        return wide.loc[self.splits, self.models]

    def ranks(self, metric: str | None = None) -> pd.DataFrame:
        """split x model ranks on the metric (1 = best; ties share the better rank)."""
        return self.values(metric).rank(axis=1, ascending=False, method="min").astype(int)

    @property
    def ranking(self) -> list[str]:
        """Models by their mean metric over the random splits (all splits if none is random)."""
        random = self.scores[self.scores["method"] == "random"]
        rows = random if len(random) else self.scores
        means = rows.groupby("model", sort=False)[self.metric].mean()
        return means.sort_values(ascending=False, kind="stable").index.tolist()

    def table(self) -> pd.DataFrame:
        """Per model: mean and standard deviation over the random splits of each headline metric,
        the temporal split's value, and the best and worst rank over all splits; best first."""
        random = self.scores[self.scores["method"] == "random"]
        temporal = self.scores[self.scores["method"] == "temporal"].set_index("model")
        columns = {}
        for m in self.headline:
            grouped = random.groupby("model")[m]
            columns[f"{m} mean"], columns[f"{m} sd"] = grouped.mean(), grouped.std(ddof=1)
            if len(temporal):
                columns[f"{m} temporal"] = temporal[m]
        ranks = self.ranks()
        columns["best rank"], columns["worst rank"] = ranks.min(), ranks.max()
        return pd.DataFrame(columns).loc[self.ranking]

    def kendall_tau(self, metric: str | None = None) -> pd.DataFrame:
        """split x split Kendall's tau-b between the model orderings (1 = the same order)."""
        values = self.values(metric)
        tau = pd.DataFrame(1.0, index=self.splits, columns=self.splits)
        for a, b in itertools.combinations(self.splits, 2):
            tau.loc[a, b] = tau.loc[b, a] = kendalltau(values.loc[a], values.loc[b]).statistic
        return tau

    def share_better(self, a: str, b: str, metric: str | None = None) -> float:
        """Share of splits on which model ``a`` scores strictly higher than model ``b``."""
        values = self.values(metric)
        return float((values[a] > values[b]).mean())

    def stability(self) -> dict[str, Any]:
        """How often the ranking changes: the top model per split and how often it is the same
        one, the share of split pairs with an identical full ranking, and Kendall's tau between
        the splits' rankings (pairs of random splits, and the temporal split against each)."""
        values, ranks, tau = self.values(), self.ranks(), self.kendall_tau()
        top = values.idxmax(axis=1)
        pairs = list(itertools.combinations(self.splits, 2))
        method = self.scores.drop_duplicates("split").set_index("split")["method"]
        kinds = {
            "random": [tau.loc[a, b] for a, b in pairs if method[a] == method[b] == "random"],
            "temporal": [tau.loc[a, b] for a, b in pairs if "temporal" in (method[a], method[b])],
        }
        return {
            "splits": len(self.splits),
            "top_model_per_split": top.to_dict(),
            "most_common_top": top.mode().iloc[0],
            "top_model_share": float((top == top.mode().iloc[0]).mean()),
            "identical_ranking_share": float(
                np.mean([ranks.loc[a].equals(ranks.loc[b]) for a, b in pairs])
            ),
            "models_whose_rank_changes": int((ranks.nunique() > 1).sum()),
            "kendall_tau_mean": float(np.mean([tau.loc[a, b] for a, b in pairs])),
            "kendall_tau_min": float(np.min([tau.loc[a, b] for a, b in pairs])),
            **{
                f"kendall_tau_{kind}_mean": float(np.mean(found))
                for kind, found in kinds.items()
                if found
            },
        }

    def to_metrics(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "tuning": (
                "tuned on each split's own validation part"
                if self.retuned
                else "tuned once on the main split's validation part, reused on every split"
            ),
            "splits": self.splits,
            "summary": self.table().reset_index(names="model").to_dict(orient="records"),
            "ranks": self.ranks().to_dict(orient="index"),
            "kendall_tau": self.kendall_tau().to_dict(orient="index"),
            "stability": self.stability(),
            "per_split": self.scores.to_dict(orient="records"),
        }


def _same_split(a: Split, b: Split) -> bool:
    return a.train.equals(b.train) and a.test.equals(b.test)


def run_robustness(experiment: OfflineExperiment) -> RobustnessResult:
    """Repeat ``experiment`` on the recipe's ``split_seeds`` and, if asked, a temporal split.

    The split identical to the experiment's own is not refitted: its results are reused. Every
    other split refits each model on its training part with the experiment's tuned parameters
    (``recipe.retune_per_split``: tunes again on that split's validation part first).
    """
    recipe, data = experiment.recipe, experiment.data
    plan = [("random", seed, f"random (seed {seed})") for seed in recipe.split_seeds]
    if recipe.temporal_split:
        plan.append(("temporal", recipe.seed, "temporal"))
    rows = []
    for method, seed, label in plan:
        split = split_per_user(
            data.ratings, data.n_users, data.n_items, recipe.train_fraction, method, seed
        )
        if _same_split(split, experiment.split):
            run = experiment
        else:
            this = dataclasses.replace(recipe, seed=seed, split_method=method)
            params = None if recipe.retune_per_split else experiment.best_params
            run = run_offline_experiment(this, data, split, params)
        for model, result in run.results.items():
            info = {"split": label, "method": method, "seed": seed, "model": model}
            rows.append(info | result.summary())
    headline = tuple(f"{m}@{recipe.k}" for m in HEADLINE)
    return RobustnessResult(
        pd.DataFrame(rows), experiment.metric, headline, recipe.retune_per_split
    )
