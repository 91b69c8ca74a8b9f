"""Locally adaptive local-linear kernel smoother: the nonparametric baseline of Sec. 5.

At a point x0 the fit is the intercept of the weighted least squares

    min_{b0, b} sum_i w_i(x0) (y_i - b0 - (x_i - x0)'b)^2 + ridge * |b|^2,
    w_i(x0) = K(|x_i - x0| / h(x0)),   K(u) = (1 - u^3)^3 on [0, 1) (tricube),

with the *adaptive* bandwidth h(x0) = distance from x0 to its ``n_neighbors``-th nearest
training point (loess; Cleveland & Devlin 1988), so the window widens where data are
sparse.  ``n_neighbors`` is the smoothing hyperparameter of the paper's Fig. 5 and Fig. 9
(a, d); by default it is chosen by cross-validation over a grid, with folds made of whole
clusters when ``groups`` are given (the honest choice for predicting new clusters).
Prediction works on blocks of test rows, so memory is O(block * n), never O(n^2) at once.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.model_selection import GroupKFold, KFold

from .. import _checks

__all__ = ["LocalLinear"]


def _tricube(u: np.ndarray) -> np.ndarray:
    u = np.clip(u, 0.0, 1.0)
    return (1.0 - u**3) ** 3


def local_linear_predict(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_new: np.ndarray,
    n_neighbors: int,
    ridge: float = 1e-6,
    block: int = 512,
) -> np.ndarray:
    """Local-linear fits at the rows of ``X_new`` (m, d) from (``X_train`` (n, d), y (n,))."""
    n, d = X_train.shape
    k = int(min(max(n_neighbors, d + 2), n))
    out = np.empty(len(X_new))
    penalty = ridge * np.eye(d + 1)
    penalty[0, 0] = 0.0
    for s in range(0, len(X_new), block):
        x0 = X_new[s : s + block]
        diff = X_train[None, :, :] - x0[:, None, :]  # (b, n, d)
        dist = np.sqrt(np.einsum("bnd,bnd->bn", diff, diff))
        h = np.partition(dist, k - 1, axis=1)[:, k - 1]
        h = np.maximum(h, 1e-12) * (1.0 + 1e-8)
        w = _tricube(dist / h[:, None])  # (b, n)
        Z = np.concatenate([np.ones(diff.shape[:2] + (1,)), diff], axis=2)  # (b, n, d+1)
        ZtW = Z.transpose(0, 2, 1) * w[:, None, :]
        A = ZtW @ Z + penalty * w.sum(axis=1)[:, None, None]
        rhs = ZtW @ y_train
        A = A + 1e-10 * np.eye(d + 1)
        out[s : s + block] = np.linalg.solve(A, rhs[..., None])[:, 0, 0]
    return out


class LocalLinear(RegressorMixin, BaseEstimator):
    """Locally adaptive (nearest-neighbour bandwidth) local-linear regression.

    Args:
        n_neighbors: points inside the tricube window at each x0; None = cross-validate
            over ``neighbors_grid``.
        neighbors_grid: candidates for the CV (default: about 12 values from d + 2 to n/2).
        cv: number of folds; folds hold out whole clusters when ``fit`` gets ``groups``.
        ridge: small ridge on the local slopes (scaled by the total weight).
        standardize: scale the columns of X to unit variance first (distances then treat
            all covariates alike).
    """

    def __init__(self, n_neighbors=None, neighbors_grid=None, cv=5, ridge=1e-6, standardize=True):
        self.n_neighbors = n_neighbors
        self.neighbors_grid = neighbors_grid
        self.cv = cv
        self.ridge = ridge
        self.standardize = standardize

    def _scale(self, X: np.ndarray) -> np.ndarray:
        return (X - self.x_mean_) / self.x_scale_

    def fit(self, X, y, groups=None):
        """Store the training rows; choose ``n_neighbors`` by (cluster) CV if it is None."""
        X = _checks.check_array_2d(X, "X")
        y = _checks.check_target_1d(y, X.shape[0], "y")
        n, d = X.shape
        if n < d + 2:
            raise ValueError(f"local-linear needs at least d + 2 = {d + 2} rows, got {n}")
        if groups is not None:
            groups = _checks.check_groups(groups, n, min_groups=2)
        _checks.check_nonnegative(self.ridge, "ridge")
        _checks.check_bool(self.standardize, "standardize")
        if np.all(X == X[0]):
            raise ValueError(
                "X has no variation (every row is the same point): a local-linear fit needs "
                "distinct points; the best prediction is y.mean()"
            )
        self.n_features_in_ = d
        self.x_mean_ = X.mean(axis=0) if self.standardize else np.zeros(d)
        sd = X.std(axis=0)
        self.x_scale_ = np.where(sd > 0, sd, 1.0) if self.standardize else np.ones(d)
        self.X_, self.y_ = self._scale(X), y.copy()  # own copies, never the caller's array
        if self.n_neighbors is not None:
            self.n_neighbors_ = _checks.check_int(self.n_neighbors, "n_neighbors", minimum=1)
            return self
        grid = self.neighbors_grid
        if grid is None:
            grid = np.unique(np.geomspace(d + 2, max(d + 3, n // 2), 12).astype(int))
        else:
            grid = _checks.check_int_sequence(grid, "neighbors_grid", minimum=1,
                                              allow_empty=False)
        n_folds = _checks.check_int(self.cv, "cv", minimum=2)
        if groups is None and n_folds > n:
            raise ValueError(
                f"cv={n_folds} folds but only {n} rows: pass cv <= {n}, or a fixed "
                "n_neighbors to skip the cross-validation"
            )
        if groups is not None:
            n_folds = min(n_folds, len(np.unique(groups)))
            splits = list(GroupKFold(n_splits=n_folds).split(self.X_, y, groups))
        else:
            splits = list(KFold(n_folds, shuffle=True, random_state=0).split(self.X_))
        scores = []
        for k in grid:
            err = 0.0
            for tr, te in splits:
                kk = int(round(k * len(tr) / n))
                pred = local_linear_predict(self.X_[tr], y[tr], self.X_[te], kk, self.ridge)
                err += float(np.sum((y[te] - pred) ** 2))
            scores.append(err / n)
        self.cv_grid_, self.cv_mse_ = np.asarray(grid), np.asarray(scores)
        self.n_neighbors_ = int(grid[int(np.argmin(scores))])
        return self

    def predict(self, X) -> np.ndarray:
        """The local-linear estimate of E[y | x] at each row of X."""
        if not hasattr(self, "X_"):
            raise RuntimeError("this LocalLinear is not fitted yet; call fit first")
        X = _checks.check_array_2d(X, "X")
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} columns; fitted on {self.n_features_in_}")
        return local_linear_predict(self.X_, self.y_, self._scale(X), self.n_neighbors_, self.ridge)
