"""``fc.gam`` and the ``GAM`` object: parse, set up terms, fit, and expose the result.

The pieces live apart: the formula and terms (formula.py, terms/), the numerical fit
(fitting.py, returning a result.FitResult), prediction (predict.py) and persistence
(io.py, which never imports this module). Statistics mean what they mean in mgcv
(Wood 2017, Sec. 6.6-6.10), see result.py.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pandas as pd
from scipy.linalg import LinAlgError

from .._checks import (
    check_bool,
    check_choice,
    check_int,
    check_nonnegative,
    check_number_vector,
    check_square_matrix,
)
from .._frames import (
    check_column_values,
    check_columns_present,
    check_dataframe,
    numeric_column,
    plain_frame,
    response_values,
)
from . import io as _io
from . import summary as _summary
from .backend import blas_one_thread, one_blas_thread
from .blocks import DEFAULT_BLOCK_ROWS, linear_predictor
from .checks import check_family_start, check_smoothing_parameters, warn_noninteger_successes
from .dask_rows import dask_training
from .families import LikelihoodFamily, make_family
from .fitting import METHODS, fit_gaussian, fit_glm, fit_likelihood, fitted_method
from .formula import parse_formula
from .identifiability import check_identifiable
from .owned import owned_training_frame
from .predict import predict_frame
from .result import FitResult
from .terms import Term, check_enough_rows, formula_variables, term_slices
from .terms import relabel_for_predictor as _relabel


def gam(
    formula: str,
    data,
    family="gaussian",
    method: str = "REML",
    sp=None,
    weights=None,
    offset=None,
    link: str | None = None,
    block_rows: int = DEFAULT_BLOCK_ROWS,
    design_memory_gb: float = 1.25,
    client=None,
    progress: bool | None = None,
) -> GAM:
    """Fit ``formula`` to ``data`` (a DataFrame) by REML (or ``method="ML"``), like
    ``mgcv::gam``.

    ``data`` may also be a Dask DataFrame or a parquet path (file, directory or URL):
    the fit then runs as reductions over the partitions on Dask's scheduler (the
    default local one, or ``client=`` / the active ``distributed.Client``), never
    collecting the rows; see ``gkrls/dask_setup.py`` for how the terms are set up (the
    kernel sketch rows are the in-memory fit's rows on ``ddf.compute()``) and what is
    not supported there. ``progress`` shows Dask's progress bars (None: automatic, as
    ``flexcausal.progress``).

    Terms: numeric columns and factors (treatment contrasts) via formulaic, plus
    ``krls(x1, x2, ...)`` (gKRLS kernel), ``re(g)`` (random intercepts),
    ``s(x, bs="cr", k=10)`` (cubic regression spline) and ``offset(o)``.
    ``family``: "gaussian", "binomial" (links logit/probit/cloglog), "poisson" (log),
    "gamma" (log); ``link`` overrides the default link. ``weights``/``offset``: a column
    name or an array (as in mgcv, an ``offset=`` argument is not used by ``predict`` on
    new data; ``offset(o)`` in the formula is). ``sp`` fixes the smoothing parameters
    (mgcv scale, one per smooth term, or a dict keyed by term label) instead of estimating
    them. ``method``: "REML" (default) or "ML" (the unpenalized null space maximised over
    instead of integrated out, as mgcv; multinom is fitted by REML either way, as mgcv
    does, with a warning). Keyword values inside ``krls()`` may name variables of the
    calling scope.
    ``block_rows`` (a positive integer) and ``design_memory_gb`` (>= 0; a GLM's model
    matrix is cached when it fits, else streamed block by block) trade memory for speed.

    Input checks (ValueError/TypeError naming the column or argument): nullable and
    Arrow-backed dtypes (Int64, Float64, boolean, string, ``pd.ArrowDtype``) are used as
    their plain equivalents; unused categorical levels are dropped (as R); date/time
    columns, object columns mixing value types and duplicated column names are refused.
    Unpenalized columns that are linear combinations of others (a constant column next to
    the intercept, x3 = 2 x1 - x2, x next to s(x)) are *not* dropped silently: a
    ValueError names them and the combination (R would report NA coefficients).
    """
    caller = sys._getframe(1)
    env = {**caller.f_globals, **caller.f_locals}
    return GAM(formula, family=family, method=method, link=link, block_rows=block_rows,
               design_memory_gb=design_memory_gb).fit(
        data, sp=sp, weights=weights, offset=offset, env=env, client=client,
        progress=progress)


def _row_vector(data: pd.DataFrame, value, argname: str, default: float) -> np.ndarray:
    """A per-row numeric vector from a column name, an array, or a constant default."""
    if value is None:
        return np.full(len(data), default)
    if isinstance(value, str):
        check_columns_present(data, [value])
        check_column_values(data, value)
        return numeric_column(data, value, argname)
    return check_number_vector(value, len(data), argname)


class GAM:
    """A fitted generalized additive model with kernel, spline and random-effect terms."""

    def __init__(self, formula: str, family="gaussian", method="REML", link=None,
                 block_rows=None, design_memory_gb: float = 1.25):
        if isinstance(formula, (list, tuple)) and formula and all(
                isinstance(f, str) for f in formula):
            formula = list(formula) if len(formula) > 1 else formula[0]
        elif not isinstance(formula, str):
            raise TypeError(f"formula must be a string like 'y ~ krls(x1, x2)' (or, for "
                            f"multinom, a list of them), got {type(formula).__name__}")
        self.formula = formula
        if isinstance(family, tuple):
            if len(family) != 2:
                raise ValueError(f"family as a tuple must be (name, link), e.g. ('binomial', "
                                 f"'probit'); got {family!r}")
            if link is not None:
                raise ValueError(f"the link is given twice (family={family!r}, link={link!r}); "
                                 "give it once")
        self.family_ = make_family(family, link)
        self.family = self.family_.name
        method_l = check_choice(method, METHODS, "method")
        self.method = METHODS[[m.lower() for m in METHODS].index(method_l)]
        # None means the default; anything else must be a positive integer (0 is an error)
        self.block_rows = (DEFAULT_BLOCK_ROWS if block_rows is None
                           else check_int(block_rows, "block_rows", minimum=1))
        self.offset_columns: list[str] = []
        self.memory_budget = check_nonnegative(design_memory_gb, "design_memory_gb") * 2**30

    # ------------------------------------------------------------------ fitting
    def fit(self, data, sp=None, weights=None, offset=None, env=None, client=None,
            progress: bool | None = None) -> GAM:
        """Fit to ``data``: a DataFrame, or a Dask DataFrame / parquet path (``fc.gam``)."""
        from .dask_rows import is_dask_frame, is_parquet_path

        if is_dask_frame(data) or is_parquet_path(data):
            from .dask_fit import fit_dask

            return fit_dask(self, data, sp, weights, offset, env, client, progress)
        data = check_dataframe(data)
        formulas = self.formula if isinstance(self.formula, list) else [self.formula]
        parsed = parse_formula(formulas[0], env)
        more = [_parse_extra(f, parsed.response, env) for f in formulas[1:]]
        self.response = parsed.response
        self.offset_columns = parsed.offsets
        terms = parsed.terms
        used = {parsed.response, *parsed.offsets}
        for part in [parsed, *more]:
            used |= set(formula_variables(part.parametric, getattr(data, "columns", ())))
            for term in part.smooths:
                used.update(getattr(term, "reads", term.columns))
        check_columns_present(data, sorted(used))
        extra = [v for v in (weights, offset) if isinstance(v, str)]
        # nullable/Arrow dtypes -> plain, unused factor levels dropped, bad dtypes refused
        data = plain_frame(data, sorted(used) + [c for c in extra if c in data.columns])
        # the fitted model owns copies of what it keeps, never views of the caller's data
        data = owned_training_frame(data, sorted(used) + extra)
        y = response_values(data, parsed.response)
        w = _row_vector(data, weights, "weights", default=1.0)
        if np.any(w < 0):
            raise ValueError(f"weights must be non-negative; {int((w < 0).sum())} are negative")
        if not np.any(w > 0):
            raise ValueError("weights are all zero; at least some rows need a positive weight")
        if np.ptp(y[w > 0]) == 0:
            raise ValueError(f"the response {parsed.response!r} is constant; nothing to model")
        off = _row_vector(data, offset, "offset", default=0.0) + self._formula_offset(data)
        self.family_.check_y(y, w, parsed.response)
        if not isinstance(self.family_, LikelihoodFamily):
            check_family_start(self.family_, y, w, parsed.response)
        warn_noninteger_successes(self.family_, y, w, parsed.response)
        n_lp = self.family_.n_lp  # known after check_y (multinom infers K from y)
        if more and len(more) + 1 != n_lp:
            raise ValueError(f"{len(more) + 1} formulas for a family with {n_lp} linear "
                             "predictor(s); give one formula (the same right-hand side for "
                             "every predictor) or one per predictor")
        if not more and n_lp > 1:
            more = [parse_formula(formulas[0], env) for _ in range(n_lp - 1)]
        lp_terms = []
        for k, part in enumerate([parsed, *more]):
            lp = [r for t in part.terms for r in t.resolve(data)]  # factor by= -> per level
            for term in lp:
                with blas_one_thread():  # small eigen-decompositions (backend.py)
                    term.setup(data)
                if k:
                    _relabel(term, k)
            lp_terms.append(lp)
        terms = [t for lp in lp_terms for t in lp]
        self.terms: list[Term] = terms
        self.lp_sizes_ = [len(lp) for lp in lp_terms]
        sp = check_smoothing_parameters(sp, [n for t in terms for n in t.sp_names])
        encodings = [t.encode(data) for t in terms]
        check_enough_rows(terms, int(np.sum(w > 0)), self.family_.scale_known)
        lp_enc, at = [], 0
        for lp in lp_terms:
            lp_enc.append(encodings[at:at + len(lp)])
            check_identifiable(lp, lp_enc[-1], w)
            at += len(lp)
        if not self.family_.scale_known:
            _warn_unidentified_random_effects(terms, w)
        self.n_obs_ = len(y)
        method = self.method_
        if method != self.method:
            warnings.warn(f"mgcv fits the {self.family_.name} family by REML only; "
                          f"method={self.method!r} is not used (fitted by REML)",
                          UserWarning, stacklevel=2)
        from .backend import progress as progress_rows

        try:
            with progress_rows(f"fitting a {self.family_.name} GAM", len(y), progress):
                res = self._fit_arrays(lp_terms, lp_enc, terms, encodings, y, w, off, sp,
                                       weights is not None, method)
        except LinAlgError as exc:  # the checks above should make this unreachable
            raise ValueError(
                f"the penalized model matrix is numerically singular ({exc}); look for "
                "columns or terms that duplicate each other, or rescale covariates") from exc
        self._adopt(res)
        self.training_ = {"encodings": encodings, "y": y, "weights": w, "offset": off, "data": data}
        return self

    def _fit_arrays(self, lp_terms, lp_enc, terms, encodings, y, w, off, sp, weighted,
                    method) -> FitResult:
        if isinstance(self.family_, LikelihoodFamily):
            return fit_likelihood(lp_terms, lp_enc, y, w, off, self.family_, sp,
                                  self.block_rows, method=method)
        if self.family_.name == "gaussian" and self.family_.link.name == "identity":
            return fit_gaussian(terms, encodings, y, w, off, sp, weighted, self.block_rows,
                                float(np.sum(np.log(w[w > 0]))), method=method)
        return fit_glm(terms, encodings, y, w, off, self.family_, sp, self.block_rows,
                       self.memory_budget, method=method)

    def _formula_offset(self, data: pd.DataFrame) -> np.ndarray:
        off = np.zeros(len(data))
        for col in self.offset_columns:
            off += numeric_column(data, col, "offset()")
        return off

    def _adopt(self, res: FitResult) -> None:
        """Take the statistics of a fit (result.py) as the model's public attributes."""
        names = [n for t in self.terms for n in t.coef_names]
        self.result_ = res
        self._smooth_tests = None  # summary's smooth-term tests, computed on first use
        self.coef_ = pd.Series(res.beta, index=names, name="coef")
        self.sp_ = pd.Series(res.sp, index=[n for t in self.terms for n in t.sp_names],
                             name="sp")
        self.edf_coef_ = res.edf_coef
        self.Vp_, self.Ve_ = res.Vp, res.Ve
        self.scale_, self.reml_scale_, self.reml_ = res.scale, res.reml_scale, res.reml
        self.deviance_, self.null_deviance_, self.r2_adj_ = (res.deviance, res.null_deviance,
                                                             res.r2_adj)
        self.converged_, self.n_iter_ = res.converged, res.n_iter
        self.theta_ = res.theta
        self._fitted = res.fitted_eta
        self._derive_term_stats()

    def _derive_term_stats(self) -> None:
        """Per-term coefficient slices and edf, from ``terms`` and ``edf_coef_``."""
        self.term_slices_ = term_slices(self.terms)
        smooths = [t.label for t in self.terms if t.penalties]
        self.edf_ = pd.Series(
            [self.edf_coef_[self.term_slices_[s]].sum() for s in smooths], index=smooths,
            name="edf",
        )
        self.edf_total_ = float(self.edf_coef_.sum())

    # ------------------------------------------------------------------ results
    @property
    def method_(self) -> str:
        """The criterion the smoothing parameters are (were) selected by, "REML" or "ML"
        (mgcv ``fit$method``): ``method``, except that multinom is always fitted by REML
        (as mgcv does). ``reml_`` is this criterion's score (mgcv ``gcv.ubre``)."""
        return fitted_method(self.method, self.family_)

    @property
    def linear_predictors_(self) -> np.ndarray:
        """eta = X beta + offset on the training rows (computed once, block by block)."""
        if self._fitted is None:
            if getattr(self, "training_", None) is None:
                raise AttributeError("a loaded model keeps no training data; use predict")
            if dask_training(self) is not None:  # a lazy Dask array
                return self.predict().to_dask_array(lengths=True)
            eta, _ = linear_predictor(self.terms, self.training_["encodings"],
                                      self.coef_.to_numpy(), block_rows=self.block_rows)
            self._fitted = eta + self.training_["offset"]
        return self._fitted

    @property
    def fitted_values_(self) -> np.ndarray:
        """mu = g^{-1}(eta) on the training rows (mgcv ``fitted.values``)."""
        if dask_training(self) is not None:
            return self.predict(type="response").to_dask_array(lengths=True)
        return self.family_.link.inverse(self.linear_predictors_)

    def vcov(self, type: str = "bayes", cluster=None) -> pd.DataFrame:
        """Coefficient covariance.

        ``"bayes"`` (mgcv Vp), ``"frequentist"`` (Ve), sandwich ``"HC0"``, ``"HC1"``
        (times N / (N - sum edf)), ``"cluster"`` (``cluster=`` column name or array,
        times G / (G - 1)); see ``vcov.py``. A name is looked up in the model's own copy
        of the training data (owned.py): model columns and possible id columns (not
        non-integer floats), as they were at fit time.
        """
        from .vcov import TYPES, coefficient_covariance

        if not hasattr(self, "coef_"):
            raise ValueError("this GAM is not fitted yet; call .fit(data) or use fc.gam()")
        kind = check_choice(type, TYPES, "vcov type")
        if cluster is not None and kind != "cluster":
            raise ValueError(f"cluster= is only used with vcov type 'cluster', not {type!r}; "
                             "drop cluster= or ask for type='cluster'")
        V = coefficient_covariance(self, type, cluster)
        return pd.DataFrame(V, index=self.coef_.index, columns=self.coef_.index)

    def encode(self, newdata, terms=None) -> tuple[list, np.ndarray]:
        """Validated per-term encodings of ``newdata`` and its formula offset (``terms``:
        indices of the terms to encode; the others' entries are None)."""
        if not hasattr(self, "coef_"):
            raise ValueError("this GAM is not fitted yet; call .fit(data) or use fc.gam()")
        newdata = check_dataframe(newdata, "newdata")
        which = range(len(self.terms)) if terms is None else terms
        cols = {c for j in which for c in self.terms[j].columns} | set(self.offset_columns)
        check_columns_present(newdata, sorted(cols), "newdata")
        # NaN/inf and dtype checks; nullable/Arrow dtypes -> plain (as when fitting)
        newdata = plain_frame(newdata, sorted(cols), "newdata")
        encodings = [None] * len(self.terms)
        for j in which:
            encodings[j] = self.terms[j].encode(newdata)
        return encodings, self._formula_offset(newdata)

    @one_blas_thread
    def predict(self, newdata=None, type: str = "link", se: bool = False, vcov="bayes",
                cluster=None):
        """Predictions for ``newdata`` (default: the training data).

        Kernel terms reuse the training standardization and sketch. ``se=True`` adds
        pointwise standard errors sqrt(diag(X V X')) with V = ``vcov`` (default mgcv's
        Vp) and returns a DataFrame (``fit``, ``se``). ``type="response"`` applies the
        inverse link, with se |d mu / d eta| se_eta (as mgcv ``predict.gam``).

        Dask data (``newdata`` a Dask DataFrame or a parquet path, or no ``newdata`` for a
        model fitted on Dask data) give a lazy Dask Series (DataFrame with ``se=True``),
        computed partition by partition.
        """
        from .vcov import TYPES as VCOV_TYPES

        kind = check_choice(type, ("link", "response"), "predict type")
        se = check_bool(se, "se")
        if isinstance(vcov, str):
            vcov_kind = check_choice(vcov, VCOV_TYPES, "vcov type")
        else:  # a user-supplied coefficient covariance matrix
            vcov_kind = None
            if not hasattr(self, "coef_"):
                raise ValueError("this GAM is not fitted yet; call .fit(data) or use fc.gam()")
            V_user = check_square_matrix(vcov, len(self.coef_), "vcov")
        if not hasattr(self, "coef_"):
            raise ValueError("this GAM is not fitted yet; call .fit(data) or use fc.gam()")
        from .dask_rows import is_dask_frame, is_parquet_path

        V = None
        if se:
            V = (V_user if vcov_kind is None else self.Vp_ if vcov_kind == "bayes"
                 else self.vcov(vcov, cluster).to_numpy())
        dask_train = dask_training(self)
        if (newdata is None and dask_train is not None) or is_dask_frame(newdata) or (
                is_parquet_path(newdata)):
            from .dask_fit import predict_dask

            return predict_dask(self, dask_train.ddf if newdata is None else newdata, kind, V)
        if newdata is None:
            if getattr(self, "training_", None) is None:
                raise ValueError("this model was loaded from disk; pass newdata")
            encodings, off = self.training_["encodings"], self.training_["offset"]
        else:
            encodings, off = self.encode(newdata)
        return predict_frame(self.terms, encodings, off, self.coef_.to_numpy(), self.family_,
                             kind, V, self.block_rows, getattr(self, "lp_sizes_", None))

    @property
    def smooth_p_values_(self) -> pd.Series:
        """mgcv's approximate p-values of the smooth terms (Wood 2013), in summary order."""
        table = _summary.smooth_table(self)
        return pd.Series(table["p-value"].to_numpy(), index=table.index, name="p-value")

    def summary(self) -> _summary.GAMSummary:
        """mgcv ``summary.gam``-like tables; ``print(fit.summary())``."""
        return _summary.summarize(self)

    def tidy(self) -> pd.DataFrame:
        """One row per parametric coefficient and per smooth term (broom/pyfixest style)."""
        return _summary.tidy(self)

    def save(self, path) -> None:
        """Write the model to ``path`` (npz arrays + JSON metadata; no pickle).

        The parametric part is saved as data (levels, codings, transforms as restricted
        expression trees), so ``fc.load`` never evaluates code; formulas with transforms
        outside ``safe_eval.FUNCTIONS`` (e.g. ``np.sin``, ``center()``) raise ValueError.
        """
        _io.save_model(self, path)

    def __repr__(self) -> str:
        fitted = hasattr(self, "coef_")
        state = f"n={self.n_obs_}, edf={self.edf_total_:.2f}" if fitted else "unfitted"
        return f"GAM({self.formula!r}, family={self.family_!r}, {state})"


def _parse_extra(formula: str, response: str, env):
    """A further linear predictor's formula: ``"~ rhs"`` (or ``"y ~ rhs"``)."""
    text = formula.strip()
    return parse_formula(f"{response} {text}" if text.startswith("~") else text, env)


def _warn_unidentified_random_effects(terms, w: np.ndarray | None = None,
                                      n_pos: int | None = None) -> None:
    """re(g) with a level for every row cannot be told apart from the residual (when
    the scale is estimated); ``n_pos``: the rows with positive weight, if known."""
    n = int(np.sum(w > 0)) if n_pos is None else n_pos
    for term in terms:
        if term.kind == "re" and term.n_coef >= n:
            warnings.warn(
                f"{term.label} has {term.n_coef} levels for {n} rows: with one row per "
                "level its variance cannot be separated from the residual variance, so its "
                "smoothing parameter (and edf) is arbitrary; group rows into fewer levels",
                UserWarning, stacklevel=4)


def load(path) -> GAM:
    """Read a model written by ``GAM.save`` (see ``io.read_model`` for the checks: the
    file is untrusted input and nothing in it is evaluated)."""
    saved = _io.read_model(path)
    meta = saved["meta"]
    model = GAM(meta["formula"], family=saved["family"], method=meta["method"],
                block_rows=meta["block_rows"])
    model.offset_columns = list(meta["offset_columns"])
    model.response = meta["response"]
    model.terms = saved["terms"]
    model.lp_sizes_ = list(saved["lp_sizes"])
    model.n_obs_ = saved["scalars"]["n_obs_"]
    model._adopt(saved["result"])
    model.coef_.index = list(meta["coef_names"])
    smooths = [t.label for t in model.terms if t.penalties]
    model._smooth_tests = [(lab, *map(float, row))
                           for lab, row in zip(smooths, saved["smooth_tests"], strict=True)]
    model.training_ = None
    return model
