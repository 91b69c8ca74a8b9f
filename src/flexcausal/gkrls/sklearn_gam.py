"""scikit-learn estimators for any formula right-hand side: ``GAMRegressor``, ``GAMClassifier``.

``GAMRegressor("~ x1 + krls(lat, lon) + re(district)")`` is ``fc.gam("y ~ x1 + krls(lat,
lon) + re(district)", data)`` behind ``fit(X, y)`` / ``predict(X)``: the response comes from
``y``, the right-hand side reads the columns of X by name (gKRLS paper, Sec. 2.1: gKRLS
as a learner in stacking and double/debiased machine learning; Sec. 6: a kernel on the
coordinates with the controls linear and unpenalized). Smoothing parameters by REML
(Wood 2017, Sec. 6.6; Laplace REML for non-Gaussian families).

X is a DataFrame (its column names are used) or an array whose columns ``columns=``
names in order. DoubleML hands its learners ``data[x_cols].to_numpy()`` (NumPy, no
names; ``doubleml.utils._estimation._dml_cv_predict`` -> ``cross_val_predict`` or
``_fit`` on ``x[train_index, :]``, each on a ``clone`` of the learner), so a formula
learner there is ``GAMRegressor(formula, columns=x_cols)``; ``flexcausal.dml`` sets it.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from .._checks import check_bool
from .blocks import DEFAULT_BLOCK_ROWS
from .families import make_family
from .formula import parse_formula
from .model import GAM
from .sklearn import (
    BinaryGAMPredictions,
    binary_target,
    check_sample_weight,
    reissue_fit_warnings,
)
from .terms import formula_variables

__all__ = ["GAMClassifier", "GAMRegressor"]

_MULTI_LP = ("multinom", "ocat")  # families with several linear predictors / categories
_RECIPE = ("pass a pandas DataFrame, or name the array's columns in order with columns=[...] "
           "(in DoubleML: columns=dml_data.x_cols)")


def right_hand_side(formula, owner: str) -> str:
    """``"~ rhs"`` (or ``"rhs"``) -> ``"rhs"``; TypeError/ValueError naming the problem."""
    if not isinstance(formula, str):
        raise TypeError(f"{owner}: formula must be a string like '~ x1 + krls(lat, lon)', "
                        f"got {type(formula).__name__}")
    lhs, tilde, rhs = formula.partition("~")
    if not tilde:
        lhs, rhs = "", formula
    if lhs.strip() or "~" in rhs:
        raise ValueError(f"{owner}: give only the right-hand side of the formula, e.g. "
                         f"'~ x1 + krls(lat, lon)' (the response is fit's y); got {formula!r}")
    if not rhs.strip():
        raise ValueError(f"{owner}: the formula has no terms: {formula!r}")
    return rhs.strip()


def formula_columns(formula: str, available) -> list[str]:
    """The data columns a two-sided ``formula`` reads (as ``GAM.fit`` collects them)."""
    parsed = parse_formula(formula)
    used = set(parsed.offsets)
    used |= set(formula_variables(parsed.parametric, available))
    for term in parsed.smooths:
        used.update(getattr(term, "reads", term.columns))
    return sorted(used)


def _check_columns_param(columns, owner: str):
    """None, a str prefix (columns prefix0, prefix1, ...) or unique str names."""
    if columns is None:
        return None
    if isinstance(columns, str):
        if not columns.isidentifier():
            raise ValueError(f"{owner}: columns as a string is the prefix of the array's "
                             f"column names (e.g. 'x' for x0, x1, ...); got {columns!r}")
        return columns
    if isinstance(columns, (pd.Index, np.ndarray)):
        columns = list(columns)
    if not isinstance(columns, (list, tuple)) or not all(isinstance(c, str) for c in columns):
        raise TypeError(f"{owner}: columns must be a list of column names (str) or a name "
                        f"prefix (str); got {columns!r}")
    if not columns:
        raise ValueError(f"{owner}: columns is empty")
    dup = sorted({c for c in columns if columns.count(c) > 1})
    if dup:
        raise ValueError(f"{owner}: columns lists {dup} more than once")
    return list(columns)


def _string_names(X) -> bool:
    return isinstance(X, pd.DataFrame) and all(isinstance(c, str) for c in X.columns)


class _GAMBase(BaseEstimator):
    """A formula's right-hand side fitted by ``GAM`` to (X, y); X read by column name."""

    def __init__(self, formula, *, columns=None, method="REML", sp=None,
                 block_rows=DEFAULT_BLOCK_ROWS, design_memory_gb=1.25):
        self.formula = formula
        self.columns = columns
        self.method = method
        self.sp = sp
        self.block_rows = block_rows
        self.design_memory_gb = design_memory_gb

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True  # string/object columns are factors
        tags.input_tags.categorical = True
        return tags

    # ------------------------------------------------------------------ input
    def _names(self, n_columns: int, fitted: bool, kind: str):
        """Names of an unnamed X's columns: ``columns`` (list or prefix); when fitted on a
        DataFrame without ``columns``, ``feature_names_in_`` (sklearn's warning)."""
        owner = type(self).__name__
        columns = _check_columns_param(self.columns, owner)
        if isinstance(columns, str):
            return [f"{columns}{j}" for j in range(n_columns)]
        if columns is None and fitted and hasattr(self, "feature_names_in_"):
            warnings.warn(f"X does not have valid feature names, but {owner} was fitted with "
                          "feature names; its columns are read as feature_names_in_, in order",
                          UserWarning, stacklevel=4)
            columns = list(self.feature_names_in_)
        if columns is None:
            raise TypeError(f"{owner}: X is a {kind} without column names, but the "
                            f"formula {self.formula!r} reads columns by name; {_RECIPE}")
        if len(columns) != n_columns:
            raise ValueError(f"{owner}: X has {n_columns} feature(s) but columns= names "
                             f"{len(columns)}: {columns}")
        return columns

    def _input_frame(self, X, reset: bool) -> pd.DataFrame:
        """X as a DataFrame of named columns; sets ``n_features_in_``, ``feature_names_in_``
        and ``columns_`` when ``reset`` (fit), checks the width against them otherwise."""
        owner = type(self).__name__
        if _string_names(X):
            if X.shape[0] == 0 or X.shape[1] == 0:
                raise ValueError(f"{owner}: X is empty: shape {X.shape}")
            columns = _check_columns_param(self.columns, owner)
            if isinstance(columns, list) and columns != list(X.columns):
                raise ValueError(f"{owner}: columns= {columns} differ from the DataFrame's "
                                 f"column names {list(X.columns)}; drop columns= or rename")
            frame = X
            if reset:
                self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        else:
            kind = ("NumPy array" if isinstance(X, np.ndarray) else
                    "DataFrame with non-string column names" if isinstance(X, pd.DataFrame)
                    else type(X).__name__)
            if isinstance(X, pd.DataFrame):
                X = X.to_numpy()
            arr = check_array(X, dtype=None, ensure_all_finite=True, estimator=self,
                              input_name="X")
            if arr.dtype.kind in "biuf":
                arr = arr.astype(np.float64, copy=False)
            if not reset:
                self._check_width(arr.shape[1])
            elif hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
            names = self._names(arr.shape[1], fitted=not reset, kind=kind)
            frame = pd.DataFrame(arr, columns=names, copy=False)
        if reset:
            self.n_features_in_ = frame.shape[1]
            self.columns_ = list(frame.columns)
        return frame

    def _check_width(self, n_columns: int) -> None:
        if n_columns != self.n_features_in_:
            raise ValueError(f"X has {n_columns} features, but {type(self).__name__} is "
                             f"expecting {self.n_features_in_} features as input.")

    def _newdata(self, X) -> pd.DataFrame:
        return self._input_frame(X, reset=False)

    # ------------------------------------------------------------------ fitting
    def _response_name(self, frame: pd.DataFrame) -> str:
        name = "_y_"
        while name in frame.columns:
            name = f"_{name}_"
        return name

    def _prepare(self, X, y, sample_weight, y_numeric: bool):
        """Validated (frame, y, weights, response name, two-sided formula); checks the
        parameters and that X has every column the formula names."""
        owner = type(self).__name__
        rhs = right_hand_side(self.formula, owner)
        _check_columns_param(self.columns, owner)
        if y is None:
            raise ValueError(f"This {owner} estimator requires y to be passed, but the "
                             "target y is None.")
        # validate_data resets feature_names_in_ (X is not validated here): y comes first
        y = validate_data(self, X="no_validation", y=y, y_numeric=y_numeric)
        frame = self._input_frame(X, reset=True)
        if len(y) != len(frame):
            raise ValueError(f"{owner}: X has {len(frame)} rows but y has {len(y)} entries")
        weights = check_sample_weight(sample_weight, frame)
        response = self._response_name(frame)
        formula = f"{response} ~ {rhs}"
        try:
            needed = formula_columns(formula, frame.columns)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{owner}: {exc}") from None
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise ValueError(f"{owner}: the formula {self.formula!r} names column(s) "
                             f"{missing} that X lacks; X has {frame.shape[1]} feature(s): "
                             f"{list(frame.columns)}")
        return frame, y, weights, (response, formula)

    def _fit_gam(self, frame, y, weights, model_formula, family, link) -> None:
        response, formula = model_formula
        data = frame.assign(**{response: y})
        try:
            model = GAM(formula, family=family, method=self.method, link=link,
                        block_rows=self.block_rows, design_memory_gb=self.design_memory_gb)
            self.model_ = model.fit(data, sp=self.sp, weights=weights)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{type(self).__name__}: {exc}") from None


class GAMRegressor(RegressorMixin, _GAMBase):
    """Any formula right-hand side, fitted by REML (``fc.gam``), as a scikit-learn regressor.

    ``GAMRegressor("~ x1 + krls(lat, lon) + re(district)").fit(X, y)`` fits
    ``fc.gam("y ~ x1 + krls(lat, lon) + re(district)", data=X with y, family=family)``;
    ``predict`` is the fitted mean on the response scale. Any term of the formula language
    works (numeric and factor columns, ``krls()``, ``re()``, ``s()``, ``te()``, ``offset()``).

    Parameters (stored unchanged; validated in ``fit``):
        formula: the right-hand side, ``"~ x1 + krls(lat, lon)"`` (or without ``~``).
        family: a one-predictor family of ``fc.gam`` ("gaussian", "poisson", "gamma",
            "nb", "binomial" for proportions, ...); ``link`` overrides its default link.
        columns: how an array X's columns are named: None (X must be a DataFrame; an
            array is refused with a TypeError, unless fitted on a DataFrame, then read as
            ``feature_names_in_``), a list of names in X's column order (e.g. DoubleML's
            ``x_cols``), or a prefix string, ``"x"`` naming them x0, x1, ...
            (scikit-learn's default feature names). A DataFrame's own names are used
            (``columns``, if a list, must equal them).
        method: "REML" (default) or "ML"; sp: fixed smoothing parameters (as ``fc.gam``).
        block_rows, design_memory_gb: memory vs speed, as ``fc.gam``.

    DoubleML recipe (DoubleML passes ``data[x_cols].to_numpy()`` to every learner)::

        data = doubleml.DoubleMLData(df, y_col="y", d_cols="d", x_cols=["x1", "lat", "lon"])
        ml = GAMRegressor("~ x1 + krls(lat, lon)", columns=data.x_cols)
        doubleml.DoubleMLPLR(data, ml_l=ml, ml_m=clone(ml)).fit()

    or ``flexcausal.dml.plr(df, y="y", d="d", formula="~ x1 + krls(lat, lon)")``, which
    sets ``columns`` and draws seeded (cluster) folds. DoubleML's x must be numeric: code
    a factor as integers and use ``re(g)``, or ``C(g)`` for fixed effects.

    ``fit(X, y, sample_weight=None)``: ``sample_weight`` are mgcv prior weights (as
    ``KRLSRegressor``). A constant y (the engine refuses it) is predicted as that
    constant with standard error 0 (``model_`` None), as ``KRLSRegressor`` does.

    Attributes after ``fit``: ``model_`` (the fitted ``GAM``), ``constant_`` (the constant
    y of that fallback, else None), ``columns_`` (the names X's columns were read by),
    ``n_features_in_``, ``feature_names_in_`` (DataFrames only).

    ``check_estimator`` (with ``columns="x"`` and a formula on x0): expected failures
    are listed in tests/gam/test_sklearn_gam.py (weights are precision weights; a formula
    on fixed columns cannot score well on data whose signal is in another column).
    """

    def __init__(self, formula, family="gaussian", *, link=None, columns=None, method="REML",
                 sp=None, block_rows=DEFAULT_BLOCK_ROWS, design_memory_gb=1.25):
        super().__init__(formula, columns=columns, method=method, sp=sp,
                         block_rows=block_rows, design_memory_gb=design_memory_gb)
        self.family = family
        self.link = link

    def fit(self, X, y, sample_weight=None):
        """Fit the formula to (X, y) by REML; returns ``self``."""
        owner = type(self).__name__
        try:
            family = make_family(self.family, self.link)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{owner}: {exc}") from None
        if family.name in _MULTI_LP:
            raise ValueError(f"{owner}: family {family.name!r} has several categories; use "
                             "GAMClassifier (two classes) or fc.gam")
        frame, y, weights, formula = self._prepare(X, y, sample_weight, y_numeric=True)
        y = np.asarray(y, dtype=np.float64)
        positive = y if weights is None else y[weights > 0]
        if len(positive) and np.ptp(positive) == 0:  # the engine refuses it: predict it
            self.model_, self.constant_ = None, float(positive[0])
            return self
        self.constant_ = None
        self._fit_gam(frame, y, weights, formula, self.family, self.link)
        return self

    def predict(self, X, return_std: bool = False):
        """Fitted mean E[y | X] (response scale); with ``return_std=True`` also its standard
        error from mgcv's Vp (the uncertainty of the mean, not of a new observation)."""
        check_is_fitted(self)
        return_std = check_bool(return_std, "return_std")
        newdata = self._newdata(X)
        if self.model_ is None:
            mean = np.full(len(newdata), self.constant_)
            return (mean, np.zeros(len(newdata))) if return_std else mean
        out = self.model_.predict(newdata, type="response", se=return_std)
        if not return_std:
            return np.asarray(out, dtype=np.float64)
        return out["fit"].to_numpy(dtype=np.float64), out["se"].to_numpy(dtype=np.float64)


class GAMClassifier(BinaryGAMPredictions, ClassifierMixin, _GAMBase):
    """Any formula right-hand side as a binomial GAM (Laplace REML): a binary classifier.

    ``GAMClassifier("~ x1 + krls(lat, lon)").fit(X, y)`` fits ``fc.gam("y01 ~ x1 +
    krls(lat, lon)", family="binomial", link=link)`` with y01 = 1 for ``classes_[1]`` (any
    two labels, sorted as ``np.unique`` sorts them). Use it for propensity scores in
    ``doubleml.DoubleMLIRM`` (which calls ``predict_proba``).

    Parameters: ``formula``, ``columns``, ``method``, ``sp``, ``block_rows``,
    ``design_memory_gb`` as ``GAMRegressor``; ``link``: "logit" (default), "probit",
    "cloglog".

    Targets: exactly two classes; more raise "Only binary classification is supported",
    one class (or one with positive ``sample_weight``) "needs two classes", a continuous
    y scikit-learn's "Unknown label type". ``sample_weight``: mgcv prior weights (the
    "not a whole number of successes" warning is dropped, as ``KRLSClassifier`` does).

    Methods: ``predict_proba`` (n, 2), ``predict_log_proba``, ``decision_function`` (the
    linear predictor), ``predict`` (``classes_[1]`` where P > 1/2). Attributes after
    ``fit``: ``classes_``, ``model_``, ``columns_``, ``n_features_in_``,
    ``feature_names_in_`` (DataFrames only). Convergence warnings of the engine come
    back once each as ``ConvergenceWarning``.
    """

    def __init__(self, formula, link="logit", *, columns=None, method="REML", sp=None,
                 block_rows=DEFAULT_BLOCK_ROWS, design_memory_gb=1.25):
        super().__init__(formula, columns=columns, method=method, sp=sp,
                         block_rows=block_rows, design_memory_gb=design_memory_gb)
        self.link = link

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    def fit(self, X, y, sample_weight=None):
        """Fit the binomial GAM by Laplace REML; returns ``self``."""
        owner = type(self).__name__
        try:
            make_family("binomial", self.link)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{owner}: {exc}") from None
        frame, y, weights, formula = self._prepare(X, y, sample_weight, y_numeric=False)
        self.classes_, y01 = binary_target(owner, y, weights)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            self._fit_gam(frame, y01, weights, formula, "binomial", self.link)
        reissue_fit_warnings(caught)
        return self
