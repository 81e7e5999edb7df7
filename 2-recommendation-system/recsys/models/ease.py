"""EASE^R (Steck 2019): a closed-form item-item linear autoencoder with a zero diagonal."""

from __future__ import annotations

from typing import Self

import numpy as np
import scipy.sparse as sp
import scipy.linalg

from recsys.models.base import Recommender, binarize, cooccurrence
from recsys.models.memory import ITEM_ITEM_ALTERNATIVE


def symmetric_inverse_inplace(matrix: np.ndarray) -> np.ndarray:
    """Invert a symmetric, non-singular float64 matrix in its own memory.

    LAPACK's general LU path (getrf/getri, called directly: ``scipy.linalg.inv`` only takes
    ``assume_a`` from SciPy 1.17, and Colab has 1.16) on the Fortran view of the array, which for
    a symmetric matrix is the same matrix: no second n x n array. Not Cholesky, although
    X'X + lambda I is positive definite: with SciPy 1.17's bundled OpenBLAS both
    ``scipy.linalg.inv``'s symmetric path and LAPACK's potrf crash the process with a
    segmentation fault on large catalogues, and the general path does not (README, "Scale").
    """
    n = matrix.shape[0]
    work = matrix.T if matrix.flags.c_contiguous else matrix
    if matrix.shape != (n, n) or not work.flags.f_contiguous or matrix.dtype != np.float64:
        raise ValueError("expected a square, contiguous float64 matrix")
    getrf, getri, getri_lwork = scipy.linalg.lapack.get_lapack_funcs(
        ("getrf", "getri", "getri_lwork"), (work,)
    )
    lu, pivots, info = getrf(work, overwrite_a=True)
    if info == 0:
        lwork, _ = getri_lwork(n)
        lu, info = getri(lu, pivots, lwork=int(1.01 * lwork), overwrite_lu=True)
    if info > 0:
        raise np.linalg.LinAlgError(
            f"the matrix is singular (pivot {info} is zero); increase the l2 penalty"
        )
    if info < 0:  # pragma: no cover - LAPACK's argument checks; a bug here, not bad data
        raise ValueError(f"LAPACK getrf/getri rejected argument {-info}")
    if not np.shares_memory(lu, matrix):  # pragma: no cover - LAPACK copies only odd inputs
        work[...] = lu
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
        symmetric_inverse_inplace(p)
        p /= -np.diag(p).copy()[None, :]
        np.fill_diagonal(p, 0.0)
        self.weights_ = p
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        return np.asarray(self.train_[users] @ self.weights_)
