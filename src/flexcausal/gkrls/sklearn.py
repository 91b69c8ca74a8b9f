"""scikit-learn wrappers of the gKRLS engine: ``KRLSRegressor`` and ``KRLSClassifier``.

gKRLS (Chang & Goplerud, gKRLS paper, Sec. 2-3): f(x) = b0 + k(x, X_anchor) W c with the
Gaussian kernel k(x, x') = exp(-||x - x'||^2 / P) on standardized columns and the ridge
penalty lambda ||c||^2 (the sketched kernel penalty after truncation), lambda chosen by
REML (Wood 2017, Sec. 6.6; Laplace REML for the binomial classifier). The work is done by
``GAM("y ~ krls(x0, ..., x{p-1})")``; the two estimators share ``_KRLSBase`` (options,
their validation, the small-data and degenerate fallbacks, the attributes after fit).
"""

from __future__ import annotations

import warnings
from numbers import Real

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from .._checks import check_bool, check_int
from .blocks import DEFAULT_BLOCK_ROWS
from .families import make_family
from .kernel import default_sketch_size
from .model import GAM
from .terms import KRLSTerm

__all__ = ["KRLSClassifier", "KRLSRegressor"]

_KRLS_OPTIONS = ("sketch", "multiplier", "size", "indices", "standardize", "bandwidth", "seed")


def check_sample_weight(sample_weight, X):
    """``sample_weight`` as non-negative float64 of len(X) (None stays None)."""
    if sample_weight is None:
        return None
    return _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)


def binary_target(owner: str, y, weights) -> tuple[np.ndarray, np.ndarray]:
    """``classes_`` (sorted as ``np.unique`` sorts) and y as float 0/1 for ``classes_[1]``.

    ValueError unless y holds exactly two classes, both with positive weight; a
    continuous y raises scikit-learn's "Unknown label type" error.
    """
    try:
        check_classification_targets(y)
    except ValueError as exc:
        raise ValueError(f"{owner}: y must hold two class labels; {exc}") from None
    y_type = type_of_target(y, input_name="y", raise_unknown=True)
    if y_type != "binary":
        raise ValueError(f"{owner}: Only binary classification is supported. The type of "
                         f"the target is {y_type}.")
    classes, y01 = np.unique(y, return_inverse=True)
    present = classes if weights is None else np.unique(np.asarray(y)[weights > 0])
    if len(present) < 2:
        how = "" if weights is None else " with positive sample_weight"
        raise ValueError(f"{owner} needs two classes; y has one class{how}: "
                         f"{present.tolist()[0]!r}")
    return classes, y01.astype(np.float64)


class BinaryGAMPredictions:
    """Predictions of a binomial ``model_`` with ``classes_``; the estimator's
    ``_newdata(X)`` turns X into the model's validated new-data frame."""

    def decision_function(self, X):
        """The linear predictor eta = g(P(classes_[1])), shape (n,)."""
        check_is_fitted(self)
        newdata = self._newdata(X)
        return np.asarray(self.model_.predict(newdata, type="link"), dtype=np.float64)

    def predict_proba(self, X):
        """(n, 2) probabilities of ``classes_[0]`` and ``classes_[1]``."""
        check_is_fitted(self)
        newdata = self._newdata(X)
        p1 = np.asarray(self.model_.predict(newdata, type="response"), dtype=np.float64)
        return np.column_stack([1.0 - p1, p1])

    def predict_log_proba(self, X):
        """Logarithm of ``predict_proba``."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        """``classes_[1]`` where P(classes_[1]) > 1/2 (eta > g(1/2)), else ``classes_[0]``."""
        eta = self.decision_function(X)
        threshold = float(self.model_.family_.link.link(0.5))
        return self.classes_[(eta > threshold).astype(int)]


class _KRLSBase(BaseEstimator):
    """One ``krls()`` term over all columns of X: the options shared by the estimators,
    their validation, and the fit with its small-data/degenerate fallbacks."""

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

    def _check_params(self) -> None:
        """Every parameter is checked before fitting, whatever path ``fit`` then takes."""
        options = {name: getattr(self, name) for name in _KRLS_OPTIONS}
        try:
            KRLSTerm(["x0"], **options)  # the engine's own checks of the krls() options
            if self.block_rows is not None:
                check_int(self.block_rows, "block_rows", minimum=1)
            self._check_extra_params()
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{type(self).__name__}: {exc}") from None

    def _check_extra_params(self) -> None:
        """Checks of the parameters a subclass adds (raise TypeError/ValueError)."""

    @staticmethod
    def _frame(X: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(X, columns=[f"x{j}" for j in range(X.shape[1])])

    @staticmethod
    def _weights(sample_weight, X):
        return check_sample_weight(sample_weight, X)

    def _no_kernel(self, n: int) -> None:
        """The attributes of a fit without a kernel term (the degenerate fallbacks)."""
        self.sketch_ = self._effective_sketch(n)
        self.coef_ = np.zeros(0)
        self.sp_, self.edf_ = np.inf, 0.0

    def _fit_krls(self, X: np.ndarray, y: np.ndarray, weights, family="gaussian",
                  link=None) -> None:
        """Fit ``y ~ krls(x0, ..., x{p-1})`` (or ``y ~ 1`` when every column of X is
        constant) and set ``sketch_``, ``model_``, ``intercept_``, ``coef_``, ``sp_``,
        ``edf_``. The caller has handled a response the engine refuses as constant."""
        self._no_kernel(X.shape[0])
        df = self._frame(X)
        df["y"] = y
        gam_args = {"family": family, "link": link, "block_rows": self.block_rows}
        if np.all(np.ptp(X, axis=0) == 0):  # nothing for the kernel to use
            self.model_ = GAM("y ~ 1", **gam_args).fit(df, weights=weights)
        else:
            options = {name: getattr(self, name) for name in _KRLS_OPTIONS}
            options["sketch"] = self.sketch_
            # Option values reach the formula parser by name through ``env`` (formula.py).
            args = ", ".join([*df.columns[:-1], *(f"{k}={k}" for k in options)])
            self.model_ = GAM(f"y ~ krls({args})", **gam_args).fit(
                df, weights=weights, env=options
            )
        model = self.model_
        self.intercept_ = float(model.coef_["(Intercept)"])
        krls_terms = [t.label for t in model.terms if t.kind == "krls"]
        if krls_terms:
            label = krls_terms[0]
            self.coef_ = model.coef_.to_numpy()[model.term_slices_[label]].copy()
            self.sp_ = float(model.sp_[label])
            self.edf_ = float(model.edf_[label])


class KRLSRegressor(RegressorMixin, _KRLSBase):
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

    def fit(self, X, y, sample_weight=None):
        """Fit the gKRLS model by REML; returns ``self``."""
        self._check_params()
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True)
        weights = self._weights(sample_weight, X)
        if np.ptp(y) == 0:  # the engine refuses a constant response: predict it
            self._no_kernel(X.shape[0])
            self.model_, self.intercept_, self.scale_ = None, float(y[0]), 0.0
            return self
        self._fit_krls(X, y, weights)
        self.scale_ = float(self.model_.scale_)
        return self

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


class KRLSClassifier(BinaryGAMPredictions, ClassifierMixin, _KRLSBase):
    """Binomial gKRLS tuned by Laplace REML, as a scikit-learn binary classifier.

    Models P(y = classes_[1] | x) = g^{-1}(b0 + f(x)) with one ``krls()`` term f over all
    columns of X (as in ``KRLSRegressor``) and the link g (logit by default), lambda chosen
    by Laplace-approximate REML (Wood 2011; R ``gKRLS`` on mgcv). Equivalent to
    ``fc.gam("y ~ krls(x0, ..., x{p-1}, <options>)", df, family="binomial", link=link)``
    with y = 1 for ``classes_[1]`` and y = 0 for ``classes_[0]``.

    Parameters (stored unchanged; validated in ``fit``):
        link: "logit" (default), "probit" or "cloglog".
        sketch, multiplier, size, indices, standardize, bandwidth, seed, block_rows: the
            kernel options of ``KRLSRegressor``, with the same meaning and defaults.

    Targets: exactly two classes with any labels (strings, ints, bools), sorted into
    ``classes_`` as ``np.unique`` sorts them. More than two classes raises ValueError
    ("Only binary classification is supported"), as do one class (also one class left
    with positive ``sample_weight``) and a continuous y ("Unknown label type").

    ``fit(X, y, sample_weight=None)``: ``sample_weight`` are mgcv prior (precision) weights,
    passed to ``gam(weights=...)``: each row's Bernoulli log-likelihood is multiplied by
    its weight. The engine's warning that y * weights is "not a whole number of
    successes" (R's, meant for proportions with weights = trials) is dropped here, as a
    fractional weight on a 0/1 row is a legitimate precision weight. As for the
    regressor, the kernel basis is built from all rows whatever their weight, so weight
    2 is not a repeated row and weight 0 does not remove the row from the basis.

    Small or degenerate data (the regressor's fallbacks):
        * if ``sketch="subsampling"`` with neither ``size`` nor ``indices`` and the default
          size M >= N, the sketch is "none" (all rows); ``sketch_`` records the sketch used.
        * every column of X constant (the engine refuses it): an intercept-only model
          ``GAM("y ~ 1", family="binomial")`` is fitted, P(classes_[1]) = the (weighted)
          share of ``classes_[1]`` everywhere, ``coef_`` empty, ``sp_`` = inf, ``edf_`` = 0.
        * perfectly separated classes: the kernel penalty keeps the fit finite, but REML
          has no interior optimum, so it drives the smoothing parameter to its lower
          bound (probabilities near 0 and 1), and the fit can take from a fraction of
          a second to minutes (the engine's search may run to its iteration limit). The
          engine's warnings that penalized IRLS or the smoothing-parameter search did not
          converge are re-issued once each as scikit-learn's ``ConvergenceWarning``.

    Methods: ``predict_proba(X)``, shape (n, 2): P(classes_[0]), P(classes_[1]), the fitted
    response; ``decision_function(X)``: the linear predictor eta = b0 + f(x);
    ``predict(X)``: ``classes_[1]`` where P(classes_[1]) > 1/2, i.e. eta > g(1/2) (0 for
    logit and probit, log(log 2) for cloglog); ``score``: accuracy (``ClassifierMixin``).

    Attributes after ``fit``: ``classes_``, ``model_`` (the fitted ``GAM``), ``coef_``
    (kernel coefficients c, shape (M',)), ``intercept_`` (b0), ``sp_``, ``edf_``,
    ``sketch_``, ``n_features_in_`` (and ``feature_names_in_`` for frames).

    ``check_estimator`` checks expected to fail:
        * ``check_sample_weight_equivalence_on_dense_data``: as for ``KRLSRegressor``,
          precision weights and a basis built on all rows.
    """

    def __init__(
        self,
        link="logit",
        sketch="subsampling",
        multiplier=5,
        size=None,
        indices=None,
        standardize="mahalanobis",
        bandwidth=None,
        seed=0,
        block_rows=DEFAULT_BLOCK_ROWS,
    ):
        super().__init__(sketch=sketch, multiplier=multiplier, size=size, indices=indices,
                         standardize=standardize, bandwidth=bandwidth, seed=seed,
                         block_rows=block_rows)
        self.link = link

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    def _check_extra_params(self) -> None:
        make_family("binomial", self.link)

    def fit(self, X, y, sample_weight=None):
        """Fit the binomial gKRLS model by Laplace REML; returns ``self``."""
        self._check_params()
        X, y = validate_data(self, X, y, dtype=np.float64)  # y: 1-D, warns if a column
        weights = self._weights(sample_weight, X)
        self.classes_, y01 = binary_target(type(self).__name__, y, weights)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            self._fit_krls(X, y01, weights, family="binomial", link=self.link)
        reissue_fit_warnings(caught)
        return self

    def _newdata(self, X) -> pd.DataFrame:
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self._frame(X)


def reissue_fit_warnings(caught) -> None:
    """Re-issue the warnings of a classifier fit, each distinct one once: the engine's
    non-convergence RuntimeWarnings (penalized IRLS, the LAML search; perfect separation
    repeats them for every trial smoothing parameter) as scikit-learn's
    ``ConvergenceWarning``; the binomial "not a whole number of successes" warning is
    dropped (fractional sample weights are precision weights, not trials)."""
    seen = set()
    for w in caught:
        message, category = str(w.message), w.category
        if "not a whole number of successes" in message:
            continue
        if issubclass(category, RuntimeWarning) and (
                "converge" in message or "could not lower" in message):
            category = ConvergenceWarning
        if (category, message) not in seen:
            seen.add((category, message))
            warnings.warn(message, category, stacklevel=3)
