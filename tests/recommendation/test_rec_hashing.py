"""Counter-based hashing: the published SplitMix64 sequence, and uniform values fixed by key."""

from __future__ import annotations

import numpy as np

from recsys.hashing import salt_of, splitmix64, uniform_hash


def test_splitmix64_reproduces_the_reference_sequence_for_seed_zero():
    """SplitMix64's first outputs from state 0 (Vigna's splitmix64.c): state += golden, mix."""
    golden = np.uint64(0x9E3779B97F4A7C15)
    states = np.array([0, 1], dtype=np.uint64) * golden
    assert splitmix64(states).tolist() == [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4]


def test_uniform_hash_is_fixed_by_key_and_salt():
    keys = np.arange(100_000)
    values = uniform_hash(keys, salt_of("a"))
    assert values.min() >= 0.0 and values.max() < 1.0
    assert abs(values.mean() - 0.5) < 0.005
    np.testing.assert_array_equal(uniform_hash(keys[::-1], salt_of("a")), values[::-1])
    other = uniform_hash(keys, salt_of("b"))
    assert abs(np.corrcoef(values, other)[0, 1]) < 0.01
