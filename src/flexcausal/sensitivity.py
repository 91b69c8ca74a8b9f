"""Sensitivity of estimates to the kernel sketch: refit with fresh sketches, compare the
spread of the estimates with their standard errors.

gKRLS builds each ``krls()`` kernel on M sampled rows (sub-sampling sketch, M =
floor(ceil(N^(1/3)) * multiplier); Chang & Goplerud 2024, Sec. 3), so a refit with
another sketch gives (slightly) different estimates. The paper (Sec. 3.1) advises to
"fit the model multiple times with different sketching matrices to show robustness",
and Supplement E.1 repeats the Sec. 6 analysis over 50 sketches, comparing the spread
of the point estimates with their standard errors: a ratio sd(estimate) / SE well below
1 means the sketch matters little next to sampling uncertainty; a ratio near or above 1
calls for a larger sketch (``krls(..., multiplier=15)`` or ``size=``).

    ss = fc.sketch_sensitivity(fit, ["x1"], n_sketches=50, seed=1)   # AMEs of x1
    ss.table        # quantity, mean, sd, mean_se, sd_over_se, min, max, ...
    ss.sketches     # one row per sketch and quantity
    ss.plot()       # per-sketch estimates with their intervals
"""

from __future__ import annotations

import copy
import re
import sys
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy import stats

from ._checks import check_int
from .gkrls.effects import marginal_effects
from .gkrls.families import ExponentialFamily
from .gkrls.formula import split_top_level
from .gkrls.model import GAM
from .progress import progress_bar

__all__ = ["SketchSensitivity", "resketch", "sketch_sensitivity"]

_KRLS_CALL = re.compile(r"^\s*krls\s*\(")
_RESULT_COLUMNS = {"estimate", "std_error", "se", "z", "t", "statistic", "p_value",
                   "ci_low", "ci_high", "n"}
_NAME_COLUMNS = ("quantity", "qoi", "term", "type", "response", "level")


def _quote(name: str) -> str:
    return name if name.isidentifier() else f"`{name}`"


def _number(value) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def _krls_terms(model) -> list:
    return [t for t in getattr(model, "terms", []) if getattr(t, "kind", None) == "krls"]


def _is_random(term) -> bool:
    """Does refitting with another seed change this krls() term's sketch?"""
    return term.indices is not None or term.sketch != "none"


def _term_seeds(seed: int, n_terms: int) -> list[int]:
    """The seed of each krls() term of one refit: ``seed`` for the first, independent
    streams (numpy SeedSequence of [seed, j]) for the others."""
    return [seed] + [int(np.random.SeedSequence([seed, j]).generate_state(1)[0])
                     for j in range(1, n_terms)]


def _krls_call(term, seed: int) -> str:
    """``krls(cols, <the term's options>, seed=seed)``; fixed ``indices=`` become a random
    subsample of the same size."""
    sketch, size = term.sketch, term.size
    if term.indices is not None:
        sketch, size = "subsampling", len(np.asarray(term.indices))
    opts = []
    if sketch != "subsampling":
        opts.append(f"sketch={sketch!r}")
    if float(term.multiplier) != 5.0:
        opts.append(f"multiplier={_number(term.multiplier)}")
    if size is not None:
        opts.append(f"size={int(size)}")
    if term.standardize != "mahalanobis":
        opts.append(f"standardize={term.standardize!r}")
    if term.bandwidth_arg is not None:
        opts.append(f"bandwidth={_number(term.bandwidth_arg)}")
    if sketch != "none":
        opts.append(f"seed={int(seed)}")
    return f"krls({', '.join([_quote(c) for c in term.columns] + opts)})"


def resketched_formula(fit, seed: int):
    """``fit``'s formula (or list of formulas) with every ``krls()`` call rewritten to
    draw its sketch from a seed derived from ``seed`` (all other text unchanged)."""
    formulas = fit.formula if isinstance(fit.formula, list) else [fit.formula]
    sizes = getattr(fit, "lp_sizes_", None) or [len(fit.terms)]
    per_lp, at = [], 0
    for size in sizes:
        per_lp.append([t for t in fit.terms[at:at + size] if t.kind == "krls"])
        at += size
    seeds = iter(_term_seeds(seed, sum(len(t) for t in per_lp[:len(formulas)])))
    out = []
    for formula, terms in zip(formulas, per_lp, strict=False):
        lhs, _, rhs = formula.partition("~")
        parts = split_top_level(rhs)
        calls = [i for i, p in enumerate(parts) if _KRLS_CALL.match(p)]
        if len(calls) != len(terms):  # pragma: no cover - the parser reads the same text
            raise RuntimeError(f"cannot match the krls() calls of {formula!r} to the fitted "
                               "terms")
        for i, term in zip(calls, terms, strict=True):
            parts[i] = _krls_call(term, next(seeds))
        out.append(f"{lhs.strip()} ~ {' + '.join(parts)}".strip())
    return out if isinstance(fit.formula, list) else out[0]


def _fresh_family(family):
    """The family of a new fit: exponential families rebuilt from name and link; the
    others (ocat, nb, multinom: category counts, fixed theta) copied."""
    if isinstance(family, ExponentialFamily):
        return type(family)(family.link.name)
    return copy.deepcopy(family)


def resketch(fit: GAM, seed: int, env: dict | None = None) -> GAM:
    """Refit the fitted GAM ``fit`` on its own training rows, weights and offset, with
    every ``krls()`` sketch drawn afresh from ``seed`` (a term with fixed ``indices=``
    gets a random subsample of the same size; ``sketch="none"`` terms are unchanged).
    Smoothing parameters are re-estimated. ``env``: names used by options of other
    smooths in the formula (as ``fc.gam``'s calling scope)."""
    if not isinstance(fit, GAM) or not hasattr(fit, "coef_"):
        raise TypeError(f"fit must be a fitted fc.gam model, got {type(fit).__name__}")
    if not _krls_terms(fit):
        raise ValueError("no krls() term: nothing to re-sketch")
    train = getattr(fit, "training_", None)
    if train is None:
        raise ValueError("this model was loaded from disk and keeps no training data; pass "
                         "a function fit_fn(seed) that refits it instead")
    data = train["data"]
    w = train["weights"]
    offset = train["offset"] - fit._formula_offset(data)
    model = GAM(resketched_formula(fit, seed), family=_fresh_family(fit.family_),
                method=fit.method, block_rows=fit.block_rows,
                design_memory_gb=fit.memory_budget / 2**30)
    return model.fit(data, weights=None if np.all(w == 1) else w,
                     offset=offset if np.any(offset != 0) else None, env=env)


# ------------------------------------------------------------------ quantities
def _quantity_function(quantities) -> Callable:
    if callable(quantities):
        return quantities
    names = [quantities] if isinstance(quantities, str) else quantities
    if isinstance(names, (list, tuple)) and names and all(isinstance(v, str) for v in names):
        names = list(names)
        return lambda model: marginal_effects(model, names)
    raise TypeError("quantities must be a function model -> DataFrame/Series of estimates "
                    "(e.g. lambda m: fc.marginal_effects(m, ['x1'])) or a list of variable "
                    f"names (their average marginal effects); got {quantities!r}")


def _labels(frame: pd.DataFrame) -> list[str]:
    """A name per row: the name-like columns (quantity/qoi/term/...) and any other
    non-result column that varies (``conditional`` values: "x1=0.5")."""
    cols = [c for c in frame.columns if c not in _RESULT_COLUMNS]
    keep = [c for c in cols if c in ("quantity", "qoi", "term")
            or frame[c].nunique(dropna=False) > 1]
    if not keep:
        return [str(i) for i in frame.index]
    return [" ".join(str(row[c]) if c in _NAME_COLUMNS else f"{c}={row[c]}" for c in keep)
            for _, row in frame.iterrows()]


def as_estimates(value) -> pd.DataFrame:
    """quantity, estimate, std_error (NaN if not given), ci_low, ci_high (as given, else
    estimate -+ 1.96 std_error) from a DataFrame with an ``estimate`` column, a Series or
    a dict of numbers."""
    if isinstance(value, dict):
        value = pd.Series(value, dtype=float)
    if isinstance(value, pd.Series):
        out = pd.DataFrame({"quantity": [str(i) for i in value.index],
                            "estimate": value.to_numpy(dtype=float)})
    elif isinstance(value, pd.DataFrame):
        if "estimate" not in value.columns:
            raise ValueError("quantities must return a DataFrame with an 'estimate' column "
                             f"(and 'std_error'); got columns {list(value.columns)}")
        out = pd.DataFrame({"quantity": _labels(value),
                            "estimate": value["estimate"].to_numpy(dtype=float)})
        se = "std_error" if "std_error" in value.columns else "se"
        if se in value.columns:
            out["std_error"] = value[se].to_numpy(dtype=float)
        for c in ("ci_low", "ci_high"):
            if c in value.columns:
                out[c] = value[c].to_numpy(dtype=float)
    else:
        raise TypeError("quantities must return a pandas DataFrame (with 'estimate' and "
                        "'std_error' columns), a Series or a dict of numbers; got "
                        f"{type(value).__name__}")
    if out.empty:
        raise ValueError("quantities returned no estimate")
    dup = sorted(set(out.quantity[out.quantity.duplicated()]))
    if dup:
        raise ValueError(f"quantities returned the name(s) {dup} more than once; give each "
                         "estimate its own name")
    if "std_error" not in out.columns:
        out["std_error"] = np.nan
    z = stats.norm.ppf(0.975)
    for c, sign in (("ci_low", -1.0), ("ci_high", 1.0)):  # normal 95% where not given
        normal = out["estimate"] + sign * z * out["std_error"]
        out[c] = normal if c not in out.columns else out[c].fillna(normal)
    return out


# ------------------------------------------------------------------ main
def sketch_sensitivity(
    fit,
    quantities,
    n_sketches: int = 50,
    seed: int | None = 0,
    progress: bool | None = None,
    keep_models: bool = False,
) -> SketchSensitivity:
    """Refit a gKRLS model with ``n_sketches`` fresh kernel sketches and report how much
    chosen estimates move, against their standard errors (gKRLS paper Sec. 3.1, Supp. E.1).

    fit: a fitted ``fc.gam`` model with at least one ``krls()`` term (it is refitted on
    its own training rows, weights and offsets, every ``krls()`` seed replaced; see
    ``resketch``), or a function ``fit_fn(seed: int) -> model`` that fits the whole
    pipeline with that sketch seed (e.g. ``lambda s: fc.gam("y ~ krls(x1, x2, seed=s)",
    df)``; use it for anything else: fixed ``sp``, DML, several models).
    quantities: a function ``model -> DataFrame`` with ``estimate`` and ``std_error``
    columns, one named row per estimate (e.g. ``lambda m: fc.marginal_effects(m,
    ["x1"])``; a Series or dict of numbers gives estimates without SEs), or a list of
    variable names meaning their average marginal effects (``fc.marginal_effects``).
    n_sketches: number of refits. seed: the sketch seeds are drawn from
    ``np.random.SeedSequence(seed)`` (one child per sketch), so the same seed gives the
    same sketches; ``None`` draws fresh entropy (kept in ``result.seed``).
    progress: tqdm bar over the refits (None: only in interactive sessions).
    keep_models: keep the refitted models in ``result.models``.

    Returns a ``SketchSensitivity``: ``table`` (per quantity: mean, sd over sketches,
    mean SE, sd / mean SE, min, max, n_sketches, and the estimate of ``fit`` itself as
    ``original``), ``sketches`` (sketch, seed, quantity, estimate, std_error, ci_low,
    ci_high) and ``plot()``. A model whose kernels use the full data (``sketch="none"``)
    has no sketch randomness: the sd is 0 (with a warning).
    """
    caller = sys._getframe(1)
    env = {**caller.f_globals, **caller.f_locals}
    n_sketches = check_int(n_sketches, "n_sketches", minimum=1)
    if seed is not None:
        seed = check_int(seed, "seed", minimum=0)
    qfn = _quantity_function(quantities)
    if isinstance(fit, GAM):
        terms = _krls_terms(fit)
        if not terms:
            raise ValueError("no krls() term: nothing to re-sketch")
        if not any(_is_random(t) for t in terms):
            warnings.warn("every krls() term uses the full data (sketch='none'): refits are "
                          "identical and the sd over sketches is 0", UserWarning, stacklevel=2)
        fixed = [t.label for t in terms if t.indices is not None]
        if fixed:
            warnings.warn(f"{fixed} had fixed indices=; each refit draws that many random "
                          "rows instead", UserWarning, stacklevel=2)
        original = as_estimates(qfn(fit))

        def refit(s):
            return resketch(fit, s, env)
    elif callable(fit):
        original, refit = None, fit
    else:
        raise TypeError("fit must be a fitted fc.gam model or a function fit_fn(seed) -> "
                        f"fitted model; got {type(fit).__name__}")
    seq = np.random.SeedSequence(seed)
    seeds = [int(child.generate_state(1)[0]) for child in seq.spawn(n_sketches)]
    rows, models = [], []
    for k, s in enumerate(progress_bar(seeds, desc="sketches", progress=progress)):
        model = refit(s)
        if k == 0 and original is None and isinstance(model, GAM) and not _krls_terms(model):
            raise ValueError("no krls() term: nothing to re-sketch")
        est = as_estimates(qfn(model))
        if k and set(est.quantity) != set(rows[0].quantity):
            raise ValueError(f"sketch {k + 1} gave quantities {sorted(est.quantity)}, the "
                             f"first gave {sorted(rows[0].quantity)}; they must match")
        est.insert(0, "sketch", k)
        est.insert(1, "seed", s)
        rows.append(est)
        if keep_models:
            models.append(model)
    per_sketch = pd.concat(rows, ignore_index=True)
    return SketchSensitivity(per_sketch, original, seq.entropy, seeds,
                             models if keep_models else None)


def _summarize(per_sketch: pd.DataFrame, original: pd.DataFrame | None) -> pd.DataFrame:
    order = list(dict.fromkeys(per_sketch.quantity))
    g = per_sketch.groupby("quantity", sort=False)
    table = pd.DataFrame({
        "mean": g.estimate.mean(),
        "sd": g.estimate.std(ddof=1),
        "mean_se": g.std_error.mean(),
        "min": g.estimate.min(),
        "max": g.estimate.max(),
        "n_sketches": g.size(),
    }).reindex(order)
    table.insert(3, "sd_over_se", table["sd"] / table["mean_se"])
    if original is not None:
        table["original"] = original.set_index("quantity").estimate.reindex(order)
    return table.rename_axis("quantity").reset_index()


class SketchSensitivity:
    """Result of ``fc.sketch_sensitivity``: ``table``, ``sketches``, ``plot()``.

    ``sd_over_se`` = sd of the estimates over sketches / their mean standard error (the
    gKRLS paper's Supp. E.1 comparison); ``seed`` is the SeedSequence entropy and
    ``seeds`` the per-sketch seeds (``resketch(fit, seeds[k])`` rebuilds sketch k).
    """

    def __init__(self, sketches, original, seed, seeds, models=None):
        self.sketches = sketches
        self.original = original
        self.seed = seed
        self.seeds = seeds
        self.models = models
        self.table = _summarize(sketches, original)

    def tidy(self) -> pd.DataFrame:
        return self.table

    def __repr__(self) -> str:
        n = int(self.table["n_sketches"].max())
        return f"SketchSensitivity over {n} sketches (seed {self.seed}):\n" + \
            self.table.to_string(index=False)

    def plot(self, quantities=None, level: float = 0.95, ncols: int = 3, figsize=None):
        """One panel per quantity: each sketch's estimate with its ``level`` interval
        (estimate +- z SE, or the interval ``quantities`` returned), the mean over
        sketches (line) and the original fit's estimate (dashed). Returns a matplotlib
        Figure (Agg canvas, never shown)."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        from .plotting import _FIT_COLOR, _TRUTH_COLOR

        if not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1), got {level!r}")
        names = list(self.table.quantity) if quantities is None else (
            [quantities] if isinstance(quantities, str) else list(quantities))
        unknown = [q for q in names if q not in set(self.table.quantity)]
        if unknown:
            raise ValueError(f"unknown quantities {unknown}; have {list(self.table.quantity)}")
        ncols = max(1, min(check_int(ncols, "ncols", minimum=1), len(names)))
        nrows = -(-len(names) // ncols)
        fig = Figure(figsize=figsize or (4.0 * ncols, 3.2 * nrows), layout="constrained")
        FigureCanvasAgg(fig)
        axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
        z = stats.norm.ppf(0.5 + level / 2)
        for ax, name in zip(axes, names, strict=False):
            part = self.sketches[self.sketches.quantity == name]
            x = part["sketch"].to_numpy() + 1
            est, se = part["estimate"].to_numpy(), part["std_error"].to_numpy()
            if level == 0.95:  # the intervals the quantities came with
                lo, hi = part["ci_low"].to_numpy(), part["ci_high"].to_numpy()
            else:
                lo, hi = est - z * se, est + z * se
            lo, hi = np.where(np.isfinite(lo), lo, est), np.where(np.isfinite(hi), hi, est)
            ax.errorbar(x, est, yerr=np.vstack([est - lo, hi - est]), fmt="o", ms=3,
                        color=_FIT_COLOR, ecolor=_FIT_COLOR, elinewidth=0.8, alpha=0.8,
                        label=f"per sketch, {int(round(level * 100))}% CI")
            row = self.table[self.table.quantity == name].iloc[0]
            ax.axhline(row["mean"], color=_FIT_COLOR, lw=1.2, label="mean over sketches")
            if "original" in row and np.isfinite(row["original"]):
                ax.axhline(row["original"], color=_TRUTH_COLOR, lw=1.2, ls="--",
                           label="original fit")
            ax.set_title(f"{name}: sd/SE = {row['sd_over_se']:.2f}", fontsize=10)
            ax.set_xlabel("sketch")
            ax.set_ylabel("estimate")
        for ax in axes[len(names):]:
            ax.set_visible(False)
        axes[0].legend(frameon=False, fontsize=8)
        return fig
