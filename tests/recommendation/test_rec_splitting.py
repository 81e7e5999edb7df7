"""Split properties: disjoint, complete, per-user 75/25, seeded, temporal order respected."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.data import synthetic_movielens
from recsys.splitting import split_per_user, validation_split


@pytest.fixture(scope="module")
def data():
    return synthetic_movielens(n_users=60, n_items=90, seed=5)


def _keys(df):
    return set(zip(df["user"], df["item"], strict=True))


@pytest.mark.parametrize("method", ["random", "temporal"])
def test_split_partitions_each_user(data, method):
    s = split_per_user(data.ratings, data.n_users, data.n_items, 0.75, method, seed=1)
    assert _keys(s.train).isdisjoint(_keys(s.test))
    assert _keys(s.train) | _keys(s.test) == _keys(data.ratings)
    n = data.ratings.groupby("user").size()
    n_train = s.train.groupby("user").size().reindex(n.index, fill_value=0)
    np.testing.assert_array_equal(n_train, np.maximum(1, np.rint(0.75 * n)).astype(int))


def test_split_is_seeded(data):
    a = split_per_user(data.ratings, data.n_users, data.n_items, seed=1)
    b = split_per_user(data.ratings, data.n_users, data.n_items, seed=1)
    c = split_per_user(data.ratings, data.n_users, data.n_items, seed=2)
    assert _keys(a.test) == _keys(b.test) != _keys(c.test)


def test_temporal_split_puts_the_past_in_train(data):
    s = split_per_user(data.ratings, data.n_users, data.n_items, method="temporal")
    last_train = s.train.groupby("user")["timestamp"].max()
    first_test = s.test.groupby("user")["timestamp"].min()
    assert (last_train.loc[first_test.index] <= first_test).all()


def test_relevance_threshold_and_validation(data):
    s = split_per_user(data.ratings, data.n_users, data.n_items)
    everything, liked = s.relevance(), s.relevance(threshold=4)
    assert everything.nnz == len(s.test)
    assert liked.nnz == int((s.test["rating"] >= 4).sum())
    assert liked.data.min() >= 4
    v = validation_split(s)
    assert _keys(v.train) | _keys(v.test) == _keys(s.train)
    with pytest.raises(ValueError):
        split_per_user(data.ratings, data.n_users, data.n_items, train_fraction=1.0)


def test_cold_item_split_hides_the_items_from_training(data):
    from recsys.splitting import cold_item_split

    s = split_per_user(data.ratings, data.n_users, data.n_items)
    cold = cold_item_split(s, fraction=0.2, seed=1)
    cold_items = set(cold.test["item"])
    assert cold_items and not cold_items & set(cold.train["item"])
    assert len(cold.train) == len(s.train) - int(s.train["item"].isin(cold_items).sum())


def test_temporal_validation_holds_out_each_users_latest_training_ratings(data):
    s = split_per_user(data.ratings, data.n_users, data.n_items, method="temporal")
    v = validation_split(s, method="temporal")
    assert _keys(v.train) | _keys(v.test) == _keys(s.train)
    last_train = v.train.groupby("user")["timestamp"].max()
    first_validation = v.test.groupby("user")["timestamp"].min()
    assert (last_train.loc[first_validation.index] <= first_validation).all()
