"""Grid search reports an optimum at the end of its grid (the best value may lie beyond it)."""

from __future__ import annotations

import warnings

import pytest

from recsys.data import synthetic_movielens
from recsys.models.registry import make_model
from recsys.splitting import split_per_user, validation_split
from recsys.tuning import GridEdgeWarning, grid_edges, grid_search


@pytest.mark.parametrize(
    ("grid", "chosen", "limits", "expected"),
    [
        ({"l2": [1.0, 10.0, 100.0]}, {"l2": 10.0}, None, {}),
        ({"l2": [10.0, 1.0, 100.0]}, {"l2": 100.0}, None, {"l2": "highest"}),
        ({"l2": [1.0, 10.0, 100.0]}, {"l2": 1.0}, None, {"l2": "lowest"}),
        ({"l2": [5.0]}, {"l2": 5.0}, None, {}),  # a single value is a fixed setting, not a search
        ({"w": [0.5, 1.0]}, {"w": 1.0}, {"w": (0.0, 1.0)}, {}),  # on its hard limit
        ({"w": [0.5, 0.9]}, {"w": 0.9}, {"w": (0.0, 1.0)}, {"w": "highest"}),
        ({"kind": ["a", "b"], "flag": [True, False]}, {"kind": "b", "flag": True}, None, {}),
    ],
)
def test_grid_edges(grid, chosen, limits, expected):
    assert grid_edges(grid, chosen, limits) == expected


@pytest.fixture(scope="module")
def validation():
    data = synthetic_movielens(n_users=60, n_items=80, seed=3)
    split = split_per_user(data.ratings, data.n_users, data.n_items, seed=3)
    return data, validation_split(split)


def test_an_optimum_at_the_edge_is_warned_about_and_recorded(validation):
    data, v = validation
    # EASE with a huge penalty ranks by popularity and loses to a moderate one: the lowest wins
    grid = {"l2": [100.0, 1e5, 1e7]}
    with pytest.warns(GridEdgeWarning, match=r"EASE: .*l2=100.0 is the lowest value tried"):
        tuned = grid_search(lambda **p: make_model("EASE", data.items, **p), grid, v, label="EASE")
    assert tuned.edges == {"l2": "lowest"} and tuned.best_params == {"l2": 100.0}


def test_an_inner_optimum_is_not_reported(validation):
    data, v = validation
    with warnings.catch_warnings():
        warnings.simplefilter("error", GridEdgeWarning)
        tuned = grid_search(
            lambda **p: make_model("EASE", data.items, **p), {"l2": [10.0, 100.0, 1e3]}, v
        )
    assert tuned.edges == {} and tuned.best_params == {"l2": 100.0}
