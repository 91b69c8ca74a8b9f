"""``fc.gam``: fit a hierarchical gKRLS/GAM by REML, and the fitted-model object.

The fit is two steps: one streamed pass over the rows builds X'X, X'y (blocks.py);
REML then runs on p x p matrices only (fit.py). Statistics mean what they mean in
mgcv (Wood 2017, Sec. 6.6-6.10): edf = diag((X'X + S)^{-1} X'X), Vp = (X'X + S)^{-1}
phi (Bayesian), Ve = F Vp (frequentist), sp = smoothing parameters on mgcv's scale.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

from .._checks import (
    check_choice,
    check_column_values,
    check_columns_present,
    check_dataframe,
    numeric_column,
)
from . import summary as _summary
from .blocks import DEFAULT_BLOCK_ROWS, accumulate, linear_predictor
from .fit import PenaltyBlock, fit_reml
from .formula import parse_formula
from .terms import Term, term_slices

FAMILIES = ("gaussian",)
METHODS = ("REML",)


def gam(
    formula: str,
    data,
    family: str = "gaussian",
    method: str = "REML",
    sp=None,
    block_rows: int = DEFAULT_BLOCK_ROWS,
) -> GAM:
    """Fit ``formula`` to ``data`` (a DataFrame) by REML, like ``mgcv::gam``.

    Terms: numeric columns and factors (treatment contrasts) via formulaic, plus
    ``krls(x1, x2, ...)`` (gKRLS kernel), ``re(g)`` (random intercepts) and
    ``s(x, bs="cr", k=10)`` (cubic regression spline). ``sp`` fixes the smoothing
    parameters (mgcv scale, one per smooth term) instead of estimating them.
    Keyword values inside ``krls()`` may name variables of the calling scope.
    """
    caller = sys._getframe(1)
    env = {**caller.f_globals, **caller.f_locals}
    return GAM(formula, family=family, method=method, block_rows=block_rows).fit(
        data, sp=sp, env=env
    )


class GAM:
    """A fitted generalized additive model with kernel, spline and random-effect terms."""

    def __init__(self, formula: str, family="gaussian", method="REML", block_rows=None):
        self.formula = formula
        self.family = check_choice(family, FAMILIES, "family")
        method_l = check_choice(method, METHODS, "method")
        self.method = METHODS[[m.lower() for m in METHODS].index(method_l)]
        self.block_rows = int(block_rows or DEFAULT_BLOCK_ROWS)
        if self.block_rows < 1:
            raise ValueError(f"block_rows must be >= 1, got {block_rows}")

    # ------------------------------------------------------------------ fitting
    def fit(self, data, sp=None, env=None) -> GAM:
        data = check_dataframe(data)
        parsed = parse_formula(self.formula, env)
        self.response = parsed.response
        terms = parsed.terms
        used = {parsed.response}
        for term in terms[1:]:
            used.update(term.columns)
        check_columns_present(data, sorted(used | _parametric_columns(parsed.parametric)))
        for col in sorted(used | _parametric_columns(parsed.parametric)):
            check_column_values(data, col)
        y = numeric_column(data, parsed.response, "the response")
        if np.ptp(y) == 0:
            raise ValueError(f"the response {parsed.response!r} is constant; nothing to model")
        for term in terms:
            term.setup(data)
        self.terms: list[Term] = terms
        encodings = [t.encode(data) for t in terms]
        cp = accumulate(terms, encodings, y, block_rows=self.block_rows)
        for term, rowmax in zip(terms, cp.max_row_abs_sum, strict=True):
            term.finish(rowmax)
        blocks = self._penalty_blocks()
        if sp is not None:
            sp = np.atleast_1d(np.asarray(sp, dtype=float))
            if sp.shape != (len(blocks),) or np.any(sp <= 0) or not np.all(np.isfinite(sp)):
                raise ValueError(
                    f"sp must be {len(blocks)} positive finite numbers (one per smooth term)"
                )
        result = fit_reml(cp, blocks, sp=sp)
        self._set_results(result, cp, y)
        self._train_encodings = encodings
        return self

    def _penalty_blocks(self) -> list[PenaltyBlock]:
        slices = term_slices(self.terms)
        return [
            PenaltyBlock(slices[t.label], t.penalty, t.penalty_rank)
            for t in self.terms
            if t.penalty is not None
        ]

    def _set_results(self, res, cp, y) -> None:
        names = [n for t in self.terms for n in t.coef_names]
        smooths = [t for t in self.terms if t.penalty is not None]
        self.n_obs_ = int(cp.n)
        self.coef_ = pd.Series(res.beta, index=names, name="coef")
        self.sp_ = pd.Series(np.exp(res.rho), index=[t.label for t in smooths], name="sp")
        F = res.A_inv @ cp.XtX
        self.edf_coef_ = np.diag(F).copy()
        self.scale_ = float(res.scale)
        self.reml_ = float(res.reml)
        self.converged_ = bool(res.converged)
        self.n_iter_ = int(res.n_iter)
        self._Vp = res.A_inv * res.scale
        self._Ve = F @ self._Vp
        self._derive_term_stats()
        rss = cp.yty - 2 * res.beta @ cp.Xty + res.beta @ cp.XtX @ res.beta
        self.rss_ = float(rss)
        self.null_deviance_ = float(np.sum((y - y.mean()) ** 2))
        self._fitted = None

    def _derive_term_stats(self) -> None:
        """Per-term coefficient slices and edf, from ``terms`` and ``edf_coef_``."""
        self.term_slices_ = term_slices(self.terms)
        smooths = [t.label for t in self.terms if t.penalty is not None]
        self.edf_ = pd.Series(
            [self.edf_coef_[self.term_slices_[s]].sum() for s in smooths], index=smooths,
            name="edf",
        )
        self.edf_total_ = float(self.edf_coef_.sum())

    # ------------------------------------------------------------------ results
    @property
    def fitted_values_(self) -> np.ndarray:
        """X beta on the training rows (computed on first access, block by block)."""
        if self._fitted is None:
            if getattr(self, "_train_encodings", None) is None:
                raise AttributeError("fitted values are not stored in a saved model; use predict")
            self._fitted, _ = linear_predictor(
                self.terms, self._train_encodings, self.coef_.to_numpy(),
                block_rows=self.block_rows,
            )
        return self._fitted

    def vcov(self, type: str = "bayes") -> pd.DataFrame:
        """Covariance of the coefficients: ``"bayes"`` (mgcv Vp) or ``"frequentist"`` (Ve)."""
        kind = check_choice(type, ("bayes", "frequentist"), "vcov type")
        V = self._Vp if kind == "bayes" else self._Ve
        return pd.DataFrame(V, index=self.coef_.index, columns=self.coef_.index)

    def predict(self, newdata=None, type: str = "link", se: bool = False):
        """Predictions for ``newdata`` (default: the training data).

        Kernel terms reuse the training standardization and sketch. ``se=True`` adds
        pointwise standard errors sqrt(diag(X Vp X')) and returns a DataFrame
        (``fit``, ``se``); for the Gaussian identity link, link = response.
        """
        check_choice(type, ("link", "response"), "predict type")
        if newdata is None:
            encodings = self._train_encodings
            if encodings is None:
                raise ValueError("this model was loaded from disk; pass newdata")
        else:
            newdata = check_dataframe(newdata, "newdata")
            cols = {c for t in self.terms[1:] for c in t.columns}
            cols |= set(self.terms[0].columns)
            check_columns_present(newdata, sorted(cols), "newdata")
            for col in sorted(cols):
                check_column_values(newdata, col)
            encodings = [t.encode(newdata) for t in self.terms]
        eta, se_fit = linear_predictor(
            self.terms, encodings, self.coef_.to_numpy(), self._Vp if se else None,
            block_rows=self.block_rows,
        )
        if se:
            return pd.DataFrame({"fit": eta, "se": se_fit})
        return eta

    def summary(self) -> _summary.GAMSummary:
        """mgcv ``summary.gam``-like tables; ``print(fit.summary())``."""
        return _summary.summarize(self)

    def tidy(self) -> pd.DataFrame:
        """One row per parametric coefficient and per smooth term (broom/pyfixest style)."""
        return _summary.tidy(self)

    def save(self, path) -> None:
        """Write the model to ``path`` (npz arrays + JSON metadata; no pickle)."""
        from .io import save_model

        save_model(self, path)

    def __repr__(self) -> str:
        fitted = hasattr(self, "coef_")
        state = f"n={self.n_obs_}, edf={self.edf_total_:.2f}" if fitted else "unfitted"
        return f"GAM({self.formula!r}, family={self.family!r}, {state})"


def _parametric_columns(rhs: str) -> set[str]:
    from formulaic import Formula

    try:
        return {v for v in Formula(rhs).required_variables if isinstance(v, str)}
    except Exception as exc:  # formulaic parse errors -> our message
        raise ValueError(f"cannot parse the parametric part {rhs!r} of the formula: {exc}") from exc


