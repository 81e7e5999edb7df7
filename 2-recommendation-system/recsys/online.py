"""The simulated online study of two tuned models: one population, one click model, three designs.

The A/B test, its power analysis and team-draft interleaving all see the same visitors, the same
held-out preference model and the same two top-K lists, so their sample sizes are comparable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recsys import abtest, interleaving
from recsys.experiment import OfflineExperiment


@dataclass
class OnlineStudy:
    """Control and treatment top-K lists for every user, the visitors and the pre-launch plan."""

    control: str
    treatment: str
    recs: dict[str, np.ndarray]  # model name -> (n_users, k) top-K over the training data
    preference: abtest.PreferenceModel
    population: abtest.Population
    plan: dict[str, float]
    seed: int

    def run_ab_test(self) -> tuple[abtest.ABResult, dict[str, np.ndarray]]:
        """Pre-period on control, then the hashed 50/50 experiment (see ``abtest.run_ab_test``)."""
        return abtest.run_ab_test(
            self.population,
            self.recs[self.control],
            self.recs[self.treatment],
            self.preference,
            seed=self.seed,
        )

    def interleaving(self) -> interleaving.InterleavingComparison:
        """Team-draft interleaving of the same two lists, sized against the A/B test."""
        k = self.recs[self.control].shape[1]
        return interleaving.compare_with_ab(
            self.population,
            self.recs[self.control],
            self.recs[self.treatment],
            self.preference,
            k,
            seed=self.seed,
        )


def prepare_online_study(experiment: OfflineExperiment, treatment: str) -> OnlineStudy:
    """Fit control (``recipe.ab_control``) and treatment on train, draw visitors, plan the test.

    Clicks come from the test split's ratings, which neither model saw; the plan's power analysis
    uses a pilot period in which every visitor sees the control.
    """
    recipe, split = experiment.recipe, experiment.split
    train = split.train_matrix()
    users = np.arange(split.n_users)
    recs = {
        name: experiment.build(name).fit(train).recommend(users, recipe.k, exclude=train)
        for name in dict.fromkeys((recipe.ab_control, treatment))
    }
    preference = abtest.PreferenceModel(split.relevance())
    population = abtest.make_population(recipe.ab_visitors, users, seed=recipe.seed)
    pilot = abtest.simulate_period(
        population, recs[recipe.ab_control], preference, seed=recipe.seed + 10
    )
    plan = abtest.plan_ab_test(pilot, recipe.ab_relative_lift)
    return OnlineStudy(
        recipe.ab_control, treatment, recs, preference, population, plan, recipe.seed
    )
