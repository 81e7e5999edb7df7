"""Counter-based uniform numbers: the same key always hashes to the same value in [0, 1).

Unlike a random generator's stream, a value depends only on its key (a user id, or a user x item
cell) and a salt, so it does not change with batching, ordering or what else was drawn.
"""

from __future__ import annotations

import hashlib

import numpy as np

_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser (Steele et al. 2014): a well-mixed 64-bit hash, vectorised."""
    with np.errstate(over="ignore"):
        z = (x + np.uint64(0x9E3779B97F4A7C15)) & _MASK64
        z = ((z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _MASK64
        z = ((z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _MASK64
        return z ^ (z >> np.uint64(31))


def salt_of(label: str) -> int:
    """A 64-bit salt from a name (an experiment, a model's seed)."""
    return int.from_bytes(hashlib.sha256(label.encode()).digest()[:8], "little")


def uniform_hash(keys: np.ndarray, salt: int) -> np.ndarray:
    """Uniform [0, 1) doubles, one per integer key, fixed by (key, salt)."""
    h = splitmix64(np.asarray(keys).astype(np.uint64) ^ np.uint64(salt))
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)
