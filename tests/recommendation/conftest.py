"""Toy interaction data shared by the model tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import scipy.sparse as sp


def _two_blocks(n_users: int = 40, n_items: int = 20, seed: int = 0) -> sp.csr_matrix:
    """Users 0..19 like items 0..9, users 20..39 like items 10..19; each misses a few."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n_users, n_items))
    half_u, half_i = n_users // 2, n_items // 2
    x[:half_u, :half_i] = rng.random((half_u, half_i)) < 0.7
    x[half_u:, half_i:] = rng.random((half_u, half_i)) < 0.7
    return sp.csr_matrix(x * 4.0)


@pytest.fixture
def two_blocks() -> Callable[..., sp.csr_matrix]:
    """Builder of two-community ratings: ``two_blocks(n_users, n_items, seed)``."""
    return _two_blocks
