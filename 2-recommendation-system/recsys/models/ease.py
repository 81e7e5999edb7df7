"""EASE^R (Steck 2019): a closed-form item-item linear autoencoder with a zero diagonal."""

from __future__ import annotations

from typing import Self

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from recsys.models.base import Recommender, binarize


class EASE(Recommender):
    """B = I - P diagMat(1 / diag(P)), P = (X'X + lambda I)^-1; one matrix inverse, no epochs."""

    name = "EASE"

    def __init__(self, l2: float = 500.0) -> None:
        self.l2 = l2

    def fit(self, train: sp.csr_matrix) -> Self:
        x = binarize(train)
        self.train_ = x
        gram = (x.T @ x).toarray()
        gram[np.diag_indices_from(gram)] += self.l2
        p = scipy.linalg.inv(gram, overwrite_a=True, check_finite=False)
        b = p / (-np.diag(p))[None, :]
        np.fill_diagonal(b, 0.0)
        self.weights_ = b
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        return np.asarray(self.train_[users] @ self.weights_)
