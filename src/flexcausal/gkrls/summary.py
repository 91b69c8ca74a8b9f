"""Readable results: mgcv ``summary.gam``-like tables and a tidy DataFrame.

Parametric coefficients use the Bayesian covariance Vp and, with an estimated scale,
t tests on the residual degrees of freedom n - sum(edf) (mgcv ``summary.gam``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats


@dataclass
class GAMSummary:
    formula: str
    family: str
    link: str
    parametric: pd.DataFrame
    smooth: pd.DataFrame
    n: int
    r2_adj: float
    deviance_explained: float
    reml: float
    scale: float
    method: str = "REML"  # the criterion ``reml`` scores (mgcv prints "-REML" / "-ML")

    def __str__(self) -> str:
        lines = [
            f"Family: {self.family}",
            f"Link function: {self.link}",
            "",
            "Formula:",
            self.formula,
            "",
            "Parametric coefficients:",
            _format_table(self.parametric),
        ]
        if len(self.smooth):
            lines += ["", "Smooth terms:", _format_table(self.smooth)]
        lines += [
            "",
            f"R-sq.(adj) = {self.r2_adj:.4g}   Deviance explained = "
            f"{100 * self.deviance_explained:.3g}%",
            f"-{self.method} = {self.reml:.6g}  Scale est. = {self.scale:.6g}  n = {self.n}",
        ]
        return "\n".join(lines)

    __repr__ = __str__


def _format_table(df: pd.DataFrame) -> str:
    return df.to_string(float_format=lambda v: f"{v:.4g}")


def parametric_table(model) -> pd.DataFrame:
    """Estimates with Vp standard errors; t tests when the scale is estimated, else z.
    Several linear predictors (multinom): every predictor's parametric coefficients, in
    model order ((Intercept), z, (Intercept).1, z.1), as mgcv's p.table."""
    cols = np.concatenate([np.arange(model.coef_.size)[model.term_slices_[t.label]]
                           for t in model.terms if t.kind == "parametric"])
    est = model.coef_.iloc[cols]
    se = np.sqrt(np.diag(model.vcov("bayes").to_numpy())[cols])
    stat = est.to_numpy() / se
    if model.family_.scale_known:
        names, p = ("z value", "Pr(>|z|)"), 2 * stats.norm.sf(np.abs(stat))
    else:
        df_resid = model.n_obs_ - model.edf_total_
        names, p = ("t value", "Pr(>|t|)"), 2 * stats.t.sf(np.abs(stat), df_resid)
    return pd.DataFrame(
        {"Estimate": est.to_numpy(), "Std. Error": se, names[0]: stat, names[1]: p},
        index=est.index,
    )


def smooth_table(model) -> pd.DataFrame:
    """mgcv's s.table: edf, Ref.df, F (scale estimated) or Chi.sq, p-value; plus the
    number of coefficients and the sp (of one-penalty terms)."""
    from .smooth_pvalues import smooth_tests

    smooths = [t for t in model.terms if t.penalties]
    tests = getattr(model, "_smooth_tests", None)  # computed once, or read from a file
    if tests is None:
        testable = model.training_ is not None
        tests = smooth_tests(model) if testable else [
            (t.label, np.nan, np.nan, np.nan) for t in smooths]
        model._smooth_tests = tests
    stat = "Chi.sq" if model.family_.scale_known else "F"
    return pd.DataFrame(
        {
            "edf": [model.edf_[t.label] for t in smooths],
            "Ref.df": [r[1] for r in tests],
            stat: [r[2] for r in tests],
            "p-value": [r[3] for r in tests],
            "n.coef": [t.n_coef for t in smooths],
            "sp": [model.sp_[t.label] if t.n_penalties == 1 else np.nan for t in smooths],
        },
        index=[t.label for t in smooths],
    )


def _check_fitted(model) -> None:
    if not hasattr(model, "coef_"):
        raise ValueError("this GAM is not fitted yet; call .fit(data) or use fc.gam()")


def summarize(model) -> GAMSummary:
    _check_fitted(model)
    n = model.n_obs_
    dev_expl = 1.0 - model.deviance_ / model.null_deviance_
    return GAMSummary(
        # several linear predictors: one formula per line, as mgcv prints them
        formula=(model.formula if isinstance(model.formula, str)
                 else "\n".join(model.formula)),
        family=model.family_.name,
        link=model.family_.link.name,
        parametric=parametric_table(model),
        smooth=smooth_table(model),
        n=n,
        r2_adj=float(model.r2_adj_),
        deviance_explained=float(dev_expl),
        reml=model.reml_,
        scale=model.scale_,
        method=getattr(model, "method_", "REML"),
    )


def tidy(model) -> pd.DataFrame:
    _check_fitted(model)
    par = parametric_table(model)
    rows = pd.DataFrame(
        {
            "term": par.index,
            "type": "parametric",
            "estimate": par["Estimate"].to_numpy(),
            "std_error": par["Std. Error"].to_numpy(),
            "statistic": par.iloc[:, 2].to_numpy(),
            "p_value": par.iloc[:, 3].to_numpy(),
            "edf": 1.0,
            "sp": np.nan,
        }
    )
    sm = smooth_table(model)
    smooth_rows = pd.DataFrame(
        {
            "term": sm.index,
            "type": "smooth",
            "estimate": np.nan,
            "std_error": np.nan,
            "statistic": sm.iloc[:, 2].to_numpy(),
            "p_value": sm["p-value"].to_numpy(),
            "edf": sm["edf"].to_numpy(),
            "sp": sm["sp"].to_numpy(),
        }
    )
    return pd.concat([rows, smooth_rows], ignore_index=True)
