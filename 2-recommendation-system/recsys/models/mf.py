"""Matrix factorisation: implicit-feedback ALS and BPR from ``implicit``, and explicit-rating MF.

The explicit model is our own ALS with biases, vectorised across users: every user's normal
equations are built at once with one sparse x dense product and solved as a batched linear system.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from recsys.models.base import Recommender, binarize


class _ImplicitLibraryModel(Recommender):
    """Shared glue for ``implicit`` models: fit on binarised CSR, score = U V^T."""

    threads: int = 2

    def _make(self) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def fit(self, train: sp.csr_matrix) -> Self:
        with threadpool_limits(1, "blas"):  # implicit's advice: its own threads, single-thread BLAS
            model = self._make()
            model.fit(binarize(train).tocsr(), show_progress=False)
        self.user_factors_ = np.asarray(model.user_factors)
        self.item_factors_ = np.asarray(model.item_factors)
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        return self.user_factors_[users] @ self.item_factors_.T


class ImplicitALS(_ImplicitLibraryModel):
    """Weighted ALS for implicit feedback (Hu, Koren & Volinsky 2008) via ``implicit``."""

    name = "ALS"

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.05,
        alpha: float = 2.0,
        iterations: int = 15,
        seed: int = 0,
    ) -> None:
        self.factors, self.regularization, self.alpha = factors, regularization, alpha
        self.iterations, self.seed = iterations, seed

    def _make(self) -> Any:  # an implicit.cpu model (the library ships no type hints)
        from implicit.cpu.als import AlternatingLeastSquares

        return AlternatingLeastSquares(
            factors=self.factors,
            regularization=self.regularization,
            alpha=self.alpha,
            iterations=self.iterations,
            num_threads=self.threads,
            random_state=self.seed,
        )


class ImplicitBPR(_ImplicitLibraryModel):
    """Bayesian personalised ranking via ``implicit``, kept to compare with ``models.bpr.BPR``.

    implicit samples each negative from a random training interaction (popular items are
    over-sampled as negatives) and updates with unsynchronised threads (runs differ).
    """

    name = "ImplicitBPR"

    def __init__(
        self,
        factors: int = 64,
        learning_rate: float = 0.05,
        regularization: float = 0.01,
        iterations: int = 100,
        seed: int = 0,
    ) -> None:
        self.factors, self.learning_rate, self.regularization = factors, learning_rate, regularization
        self.iterations, self.seed = iterations, seed

    def _make(self) -> Any:  # an implicit.cpu model (the library ships no type hints)
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        return BayesianPersonalizedRanking(
            factors=self.factors,
            learning_rate=self.learning_rate,
            regularization=self.regularization,
            iterations=self.iterations,
            num_threads=self.threads,
            random_state=self.seed,
        )


def _solve_side(
    indicator: sp.csr_matrix, targets: sp.csr_matrix, features: np.ndarray, l2: float
) -> np.ndarray:
    """Ridge solutions for every row at once.

    Row r solves (sum_{j in r} f_j f_j' + l2 n_r I) w = sum_j t_rj f_j. The Gram matrices of all
    rows come from one product ``indicator @ vec(f f')`` instead of a Python loop over rows.
    """
    d = features.shape[1]
    outer = np.einsum("if,ig->ifg", features, features).reshape(len(features), d * d)
    gram = np.asarray(indicator @ outer).reshape(-1, d, d)
    counts = np.asarray(indicator.sum(axis=1)).ravel()
    gram += (l2 * np.maximum(counts, 1))[:, None, None] * np.eye(d)[None]
    rhs = np.asarray(targets @ features)
    return np.linalg.solve(gram, rhs[..., None])[..., 0]


class ExplicitMF(Recommender):
    """Biased MF on star ratings: r_ui ~ mu + b_u + b_i + p_u q_i, fitted by ALS (weighted-lambda).

    Good at predicting ratings (RMSE) and, as is well known, weaker at top-N ranking, because a
    predicted 4.5 on an obscure film says nothing about whether the user would watch it.
    """

    name = "ExplicitMF"

    def __init__(
        self, factors: int = 32, l2: float = 0.05, iterations: int = 15, seed: int = 0
    ) -> None:
        self.factors, self.l2, self.iterations, self.seed = factors, l2, iterations, seed

    def fit(self, train: sp.csr_matrix) -> Self:
        r = sp.csr_matrix(train, dtype=np.float64)
        r.eliminate_zeros()
        rt = r.T.tocsr()
        ind, ind_t = binarize(r), binarize(rt)
        n_users, n_items = r.shape
        rng = np.random.default_rng(self.seed)
        p = rng.normal(0, 0.1, (n_users, self.factors))
        q = rng.normal(0, 0.1, (n_items, self.factors))
        bu, bi = np.zeros(n_users), np.zeros(n_items)
        mu = float(r.data.mean())
        i_of = r.indices  # column of each stored rating, aligned with r.data
        u_of = rt.indices
        with threadpool_limits(2):
            for _ in range(self.iterations):
                t = r.copy()
                t.data = r.data - mu - bi[i_of]
                w = _solve_side(ind, t, np.hstack([q, np.ones((n_items, 1))]), self.l2)
                p, bu = w[:, :-1], w[:, -1]
                t = rt.copy()
                t.data = rt.data - mu - bu[u_of]
                w = _solve_side(ind_t, t, np.hstack([p, np.ones((n_users, 1))]), self.l2)
                q, bi = w[:, :-1], w[:, -1]
        self.mu_, self.user_bias_, self.item_bias_ = mu, bu, bi
        self.user_factors_, self.item_factors_ = p, q
        return self

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Predicted stars for (user, item) pairs, clipped to the 1-5 scale."""
        raw = (
            self.mu_
            + self.user_bias_[users]
            + self.item_bias_[items]
            + np.einsum("nf,nf->n", self.user_factors_[users], self.item_factors_[items])
        )
        return np.clip(raw, 1.0, 5.0)

    def rmse(self, ratings: sp.csr_matrix) -> float:
        """Root-mean-square error on the non-zero entries of ``ratings``."""
        u, i = ratings.nonzero()
        truth = np.asarray(ratings[u, i]).ravel()
        return float(np.sqrt(np.mean((self.predict(u, i) - truth) ** 2)))

    def score(self, users: np.ndarray) -> np.ndarray:
        return (
            self.mu_
            + self.user_bias_[users][:, None]
            + self.item_bias_[None, :]
            + self.user_factors_[users] @ self.item_factors_.T
        )
