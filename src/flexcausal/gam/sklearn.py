"""scikit-learn wrapper of the gKRLS engine: ``KRLSRegressor`` on arrays.

gKRLS (Chang & Goplerud, gKRLS paper, Sec. 2-3): f(x) = b0 + k(x, X_anchor) W c with the
Gaussian kernel k(x, x') = exp(-||x - x'||^2 / P) on standardized columns and the ridge
penalty lambda ||c||^2 (the sketched kernel penalty after truncation), lambda chosen by
REML (Wood 2017, Sec. 6.6). The work is done by ``GAM("y ~ krls(x0, ..., x{p-1})")``.
"""

from __future__ import annotations

from numbers import Real

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from .._checks import check_bool, check_int
from .blocks import DEFAULT_BLOCK_ROWS
from .kernel import default_sketch_size
from .model import GAM
from .terms import KRLSTerm

__all__ = ["KRLSRegressor"]

_KRLS_OPTIONS = ("sketch", "multiplier", "size", "indices", "standardize", "bandwidth", "seed")


class KRLSRegressor(RegressorMixin, BaseEstimator):
    """Kernel regularized least squares tuned by REML (gKRLS), as a scikit-learn regressor.

    Fits y = b0 + f(X) + e with one ``krls()`` term over all columns of X: f(x) =
    k(x, anchors) W c, k(x, x') = exp(-||x - x'||^2 / bandwidth) on standardized X, penalty
    lambda ||c||^2 with lambda chosen by REML (Chang & Goplerud, gKRLS; R ``gKRLS`` on mgcv).
    Equivalent to ``fc.gam("y ~ krls(x0, ..., x{p-1}, <options>)", df)``.

    Parameters (stored unchanged; validated by the engine in ``fit``):
        sketch: "subsampling" (M random rows as anchors), "gaussian" (random projection)
            or "none" (all N rows; O(N^2) memory in the penalty).
        multiplier: the default sketch size is M = floor(ceil(N^(1/3)) * multiplier).
        size: sketch size M (overrides ``multiplier``); must be <= N for subsampling.
        indices: 0-based training rows to use as anchors (overrides ``sketch``/``size``).
        standardize: "mahalanobis" (whiten by cov(X)), "scaled" (divide by the sd), "none".
        bandwidth: kernel bandwidth b > 0; default the number of standardized columns.
        seed: int, None or numpy Generator for the sketch draw (a Generator is advanced).
        block_rows: rows per block when the model matrix is streamed (memory vs speed).

    ``fit(X, y, sample_weight=None)``: ``sample_weight`` are mgcv prior (precision) weights,
    passed to ``gam(weights=...)``. The kernel basis (standardization, sketch) is built from
    all rows whatever their weight, as in mgcv/gKRLS, so an integer weight is *not* the same
    as repeating the row and a zero weight does not remove the row from the basis.

    Small or degenerate data (so that every input scikit-learn may pass can be fitted):
        * if ``sketch="subsampling"`` with neither ``size`` nor ``indices`` and the default
          size M >= N, the sketch is "none" (all rows; the same basis as M = N);
          ``sketch_`` records the sketch used. An explicit ``size`` > N still raises.
        * a constant y (the engine refuses it): every prediction is that constant, with
          standard error 0; ``model_`` is None, ``sp_`` = inf, ``edf_`` = 0.
        * every column of X constant (incl. a single row; the Mahalanobis standardizer has
          nothing to whiten): an intercept-only model ``GAM("y ~ 1")`` is fitted
          (prediction = the (weighted) mean of y), ``sp_`` = inf, ``edf_`` = 0.

    Attributes after ``fit``: ``model_`` (the fitted ``GAM``), ``coef_`` (kernel
    coefficients c, shape (M',)), ``intercept_`` (b0), ``sp_`` (smoothing parameter, mgcv
    scale), ``edf_`` (effective degrees of freedom of the kernel term), ``scale_`` (residual
    variance phi), ``sketch_``, ``n_features_in_`` (and ``feature_names_in_`` for frames).

    ``check_estimator`` checks expected to fail:
        * ``check_sample_weight_equivalence_on_dense_data``: weights are precision weights
          and the sketch/standardization use all rows (see above), so weight 2 differs from
          a duplicated row and weight 0 from a dropped row.
    """

    def __init__(
        self,
        sketch="subsampling",
        multiplier=5,
        size=None,
        indices=None,
        standardize="mahalanobis",
        bandwidth=None,
        seed=0,
        block_rows=DEFAULT_BLOCK_ROWS,
    ):
        self.sketch = sketch
        self.multiplier = multiplier
        self.size = size
        self.indices = indices
        self.standardize = standardize
        self.bandwidth = bandwidth
        self.seed = seed
        self.block_rows = block_rows

    def _effective_sketch(self, n: int):
        """"none" when the default subsampling sketch would need M >= N rows."""
        default = (
            isinstance(self.sketch, str)
            and self.sketch.lower() == "subsampling"
            and self.size is None
            and self.indices is None
            and isinstance(self.multiplier, Real)
            and self.multiplier > 0
        )
        if default and default_sketch_size(n, self.multiplier) >= n:
            return "none"
        return self.sketch

    def fit(self, X, y, sample_weight=None):
        """Fit the gKRLS model by REML; returns ``self``."""
        self._check_params()
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True)
        weights = None
        if sample_weight is not None:
            weights = _check_sample_weight(sample_weight, X, dtype=np.float64,
                                           ensure_non_negative=True)
        n, p = X.shape
        self.sketch_ = self._effective_sketch(n)
        self.coef_ = np.zeros(0)
        self.sp_, self.edf_ = np.inf, 0.0
        if np.ptp(y) == 0:  # the engine refuses a constant response: predict it
            self.model_, self.intercept_, self.scale_ = None, float(y[0]), 0.0
            return self
        df = self._frame(X)
        df["y"] = y
        if np.all(np.ptp(X, axis=0) == 0):  # nothing for the kernel to use
            self.model_ = GAM("y ~ 1", block_rows=self.block_rows).fit(df, weights=weights)
        else:
            options = {name: getattr(self, name) for name in _KRLS_OPTIONS}
            options["sketch"] = self.sketch_
            # Option values reach the formula parser by name through ``env`` (formula.py).
            args = ", ".join([*df.columns[:-1], *(f"{k}={k}" for k in options)])
            self.model_ = GAM(f"y ~ krls({args})", block_rows=self.block_rows).fit(
                df, weights=weights, env=options
            )
        model = self.model_
        beta = model.coef_.to_numpy()
        self.intercept_ = float(model.coef_["(Intercept)"])
        krls_terms = [t.label for t in model.terms if t.kind == "krls"]
        if krls_terms:
            label = krls_terms[0]
            self.coef_ = beta[model.term_slices_[label]].copy()
            self.sp_ = float(model.sp_[label])
            self.edf_ = float(model.edf_[label])
        self.scale_ = float(model.scale_)
        return self

    def _check_params(self) -> None:
        """Every parameter is checked before fitting, whatever path ``fit`` then takes."""
        options = {name: getattr(self, name) for name in _KRLS_OPTIONS}
        try:
            KRLSTerm(["x0"], **options)  # the engine's own checks of the krls() options
            if self.block_rows is not None:
                check_int(self.block_rows, "block_rows", minimum=1)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"KRLSRegressor: {exc}") from None

    @staticmethod
    def _frame(X: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(X, columns=[f"x{j}" for j in range(X.shape[1])])

    def predict(self, X, return_std: bool = False):
        """Predicted mean f(X); with ``return_std=True`` also its standard error.

        The standard error is sqrt(diag(B Vp B')) with mgcv's Bayesian posterior covariance
        Vp of the coefficients: the uncertainty of the fitted mean (as
        ``GaussianProcessRegressor(return_std=True)`` without a noise kernel), not of a new
        observation (for that add ``scale_``: sqrt(se^2 + scale_)).
        """
        check_is_fitted(self)
        return_std = check_bool(return_std, "return_std")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        if self.model_ is None:
            mean = np.full(X.shape[0], self.intercept_)
            return (mean, np.zeros(X.shape[0])) if return_std else mean
        if not return_std:
            return np.asarray(self.model_.predict(self._frame(X)), dtype=np.float64)
        out = self.model_.predict(self._frame(X), se=True)
        return out["fit"].to_numpy(dtype=np.float64), out["se"].to_numpy(dtype=np.float64)
