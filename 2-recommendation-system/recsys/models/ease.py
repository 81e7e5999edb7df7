"""EASE^R (Steck 2019): a closed-form item-item linear autoencoder with a zero diagonal."""

from __future__ import annotations

from typing import Self

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack

from recsys.models.base import Recommender, binarize, cooccurrence
from recsys.models.memory import ITEM_ITEM_ALTERNATIVE


def spd_inverse_inplace(matrix: np.ndarray, block: int = 1024) -> np.ndarray:
    """Invert a symmetric positive-definite C-ordered matrix in its own memory (Cholesky).

    LAPACK's potrf/potri through SciPy's f2py wrappers: no second n x n array is allocated, and
    it avoids ``scipy.linalg.inv``, whose symmetric path in SciPy 1.17 crashes the process with
    a segmentation fault on large catalogues. potri fills one triangle, mirrored here block by
    block (no n^2 index arrays).
    """
    n = matrix.shape[0]
    if matrix.shape != (n, n) or not matrix.flags.c_contiguous or matrix.dtype != np.float64:
        raise ValueError("expected a square, C-contiguous float64 matrix")
    upper_f = matrix.T  # the Fortran view of the same memory; its upper triangle is our lower
    factor, info = lapack.dpotrf(upper_f, lower=0, clean=0, overwrite_a=1)
    if info == 0:
        factor, info = lapack.dpotri(factor, lower=0, overwrite_c=1)
    if info != 0:
        raise np.linalg.LinAlgError(
            f"matrix is not positive definite (LAPACK info {info}); increase the l2 penalty"
        )
    if not np.shares_memory(factor, matrix):  # pragma: no cover - f2py copies only odd inputs
        matrix[...] = factor.T
    for start in range(0, n, block):  # mirror the lower triangle into the upper one
        stop = min(start + block, n)
        matrix[start:stop, stop:] = matrix[stop:, start:stop].T
        diagonal_block = matrix[start:stop, start:stop]
        upper = np.triu_indices(stop - start, 1)
        diagonal_block[upper] = diagonal_block.T[upper]
    return matrix


class EASE(Recommender):
    """B = I - P diagMat(1 / diag(P)), P = (X'X + lambda I)^-1; one matrix inverse, no epochs.

    Memory: one dense items x items float64 matrix (the Gram matrix, inverted and scaled in place).
    """

    name = "EASE"

    def __init__(self, l2: float = 500.0) -> None:
        self.l2 = l2

    def fit(self, train: sp.csr_matrix) -> Self:
        n_items = train.shape[1]
        self.require_memory(
            8.0 * n_items**2,
            f"holds a dense {n_items:,} x {n_items:,} item-item matrix (items^2 x 8 bytes)",
            ITEM_ITEM_ALTERNATIVE,
        )
        x = binarize(train)
        self.train_ = x
        p = cooccurrence(x)
        p[np.diag_indices_from(p)] += self.l2
        spd_inverse_inplace(p)
        p /= -np.diag(p).copy()[None, :]
        np.fill_diagonal(p, 0.0)
        self.weights_ = p
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        return np.asarray(self.train_[users] @ self.weights_)
