"""Average marginal effects and interactions with delta-method SEs (R gKRLS).

Follows gKRLS ``calculate_effects`` / ``calculate_interactions`` (R/AME_function.R;
Chang & Goplerud, Sec. 3.3). Each effect is a contrast of response-scale predictions
over counterfactual copies of the data, averaged over rows (contrasts.py):

- ``derivative``: [mu(x + h) - mu(x - h)] / (2h), h = epsilon * max(1, max|x|);
- ``second_derivative``: [mu(x + h) - 2 mu(x) + mu(x - h)] / h^2, h = sqrt(that);
- ``IQR`` / ``minmax`` / ``onesd``: mu at the 75% vs 25% quantile / max vs min /
  mean + sd vs mean - sd; ``predict``: the average prediction;
- 0/1 numeric columns: 1 vs 0; booleans: True vs False; factors: each level vs the first.

SE = sqrt(g' V g) with g = d estimate / d beta and V any ``model.vcov`` type; p-values
and intervals use t with N - sum(edf) degrees of freedom (gKRLS).
Interactions (Egami & Imai 2019): ACE moves both variables at once, AMIE = ACE - AME_1
- AME_2, AIE = mu(a1, b1) - mu(a1, b0) - mu(a0, b1) + mu(a0, b0).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from .._checks import check_bool, check_choice, check_square_matrix
from .._frames import check_columns_present, check_dataframe, plain_frame
from .backend import one_blas_thread
from .contrasts import evaluate_contrast
from .dask_rows import dask_training

TYPES = ("derivative", "second_derivative", "IQR", "minmax", "onesd", "predict")
QOIS = ("AMIE", "ACE", "AME", "AIE")


@dataclass
class Move:
    """One variable's counterfactual settings: value(s) per frame and contrast weights."""

    name: str
    kind: str
    values: list  # per counterfactual: a scalar, or a callable of the column
    weights: list[float]
    label: str = field(default="")
    shift: list | None = None  # per frame: the constant added to the column (derivatives)


def _variable_kind(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "logical"
    if not pd.api.types.is_numeric_dtype(series) or isinstance(series.dtype, pd.CategoricalDtype):
        return "factor"
    if np.all(np.isin(series.to_numpy(), (0, 1))):
        return "binary"
    return "continuous"


def _levels(series: pd.Series) -> list:
    if isinstance(series.dtype, pd.CategoricalDtype):
        return list(series.cat.categories)
    return sorted(pd.unique(series))


@dataclass
class Reference:
    """What the effects need to know about one variable over the reference data (the
    whole data, also when the effect is computed within ``conditional`` strata)."""

    kind: str  # "logical", "factor", "binary", "continuous"
    levels: list = field(default_factory=list)  # factors, in level order
    max_abs: float = 0.0
    lo: float = 0.0  # the two values of an IQR / minmax / onesd contrast
    hi: float = 0.0
    n_unique: int = 2  # 2 stands for "at least two"

    @classmethod
    def of(cls, series: pd.Series, type: str) -> Reference:
        kind = _variable_kind(series)
        if kind == "factor":
            return cls(kind, _levels(series))
        if kind != "continuous":
            return cls(kind)
        x = series.to_numpy(dtype=float)
        ref = cls(kind, max_abs=float(np.max(np.abs(x))), n_unique=min(series.nunique(), 2))
        if type == "IQR":
            ref.lo, ref.hi = np.quantile(x, [0.25, 0.75])  # R quantile type 7 = "linear"
        elif type == "minmax":
            ref.lo, ref.hi = x.min(), x.max()
        elif type == "onesd":
            m, sd = x.mean(), x.std(ddof=1)
            ref.lo, ref.hi = m - sd, m + sd
        return ref


def _moves(name: str, ref: Reference, type: str, epsilon: float) -> list[Move]:
    """Counterfactual settings of one variable (one Move per factor level otherwise one)."""
    kind = ref.kind
    if kind == "factor":
        levels = ref.levels
        return [Move(name, "factor", [levels[0], lev], [-1.0, 1.0], f"{name}{lev}")
                for lev in levels[1:]]
    if kind in ("binary", "logical"):
        lo, hi = (False, True) if kind == "logical" else (0, 1)
        return [Move(name, kind, [lo, hi], [-1.0, 1.0], name)]
    scale = max(1.0, ref.max_abs)
    if type == "derivative":
        h = scale * epsilon
        return [Move(name, type, [lambda v, h=h: v - h, lambda v, h=h: v + h],
                     [-1 / (2 * h), 1 / (2 * h)], name, [-h, h])]
    if type == "second_derivative":
        h = np.sqrt(scale * epsilon)
        return [Move(name, type, [lambda v, h=h: v - h, lambda v: v, lambda v, h=h: v + h],
                     [1 / h**2, -2 / h**2, 1 / h**2], name, [-h, 0.0, h])]
    return [Move(name, type, [float(ref.lo), float(ref.hi)], [-1.0, 1.0], name)]


def _apply(frame: pd.DataFrame, move: Move, k: int) -> None:
    value = move.values[k]
    if callable(value):
        frame[move.name] = value(frame[move.name].to_numpy(dtype=float))
    elif move.kind == "factor" and isinstance(frame[move.name].dtype, pd.CategoricalDtype):
        frame[move.name] = pd.Categorical([value] * len(frame),
                                          categories=frame[move.name].cat.categories)
    else:
        frame[move.name] = value


def _combine(moves: list[Move], aie: bool = False) -> tuple[list[list[int]], list[float]]:
    """Frames for moving several variables: jointly (ACE) or as a 2x2 difference (AIE)."""
    if not aie:
        n = len(moves[0].values)
        return [[k] * len(moves) for k in range(n)], list(moves[0].weights)
    return [[0, 0], [0, 1], [1, 0], [1, 1]], [1.0, -1.0, -1.0, 1.0]


def _resolve_vcov(model, vcov, cluster) -> np.ndarray:
    if isinstance(vcov, str):
        return model.vcov(vcov, cluster=cluster).to_numpy()
    if cluster is not None:
        raise ValueError("cluster= is only used with vcov='cluster'; a vcov matrix already "
                         "fixes the covariance, so drop cluster=")
    p = len(model.coef_)
    try:
        return check_square_matrix(vcov, p, "vcov")
    except ValueError as exc:
        raise ValueError(f"vcov must be a vcov type name or a finite {p} x {p} matrix: "
                         f"{exc}") from None


def _check_model(model) -> None:
    from .model import GAM

    if not isinstance(model, GAM):
        raise TypeError(f"model must be a fitted GAM (from fc.gam), got {type(model).__name__}")
    if not hasattr(model, "coef_"):
        raise ValueError("the GAM is not fitted yet; call .fit(data) or use fc.gam()")


def _variable_list(variables, argname: str = "variables") -> list[str]:
    """A non-empty list of distinct column names (a single name is allowed)."""
    if isinstance(variables, str):
        variables = [variables]
    if isinstance(variables, (pd.Index, pd.Series, np.ndarray)):
        variables = list(variables)
    if not isinstance(variables, (list, tuple)) or not all(
            isinstance(v, str) for v in variables):
        raise TypeError(f"{argname} must be a column name or a list of column names, got "
                        f"{variables!r}")
    if not variables:
        raise ValueError(f"{argname} is empty; name at least one model variable "
                         "(or pass None for all)")
    dup = sorted({v for v in variables if variables.count(v) > 1})
    if dup:
        raise ValueError(f"{argname} lists {dup} more than once")
    return list(variables)


class _EffectEngine:
    def __init__(self, model, data, vcov, cluster, conditional, epsilon, individual):
        _check_model(model)
        self.model = model
        self.model_vars = sorted(
            {c for t in model.terms for c in t.columns} | set(model.offset_columns)
        )
        from .dask_rows import as_dask_frame, is_dask_frame, is_parquet_path

        train = getattr(model, "training_", None)
        self.ddf = None  # Dask data: effects as reductions over partitions (dask_effects)
        if data is None:
            if train is None:
                raise ValueError("a loaded model keeps no training data; pass data=")
            dask_train = dask_training(model)
            data = dask_train.ddf if dask_train is not None else train["data"]
        self.individual = check_bool(individual, "individual")
        self._refs: dict = {}
        if is_dask_frame(data) or is_parquet_path(data):
            if self.individual:
                raise ValueError(
                    "individual=True on Dask data would bring one row per observation back "
                    "to this machine; compute per-row effects with predict() on "
                    "counterfactual copies of the Dask frame instead")
            self.ddf = as_dask_frame(data)
            check_columns_present(self.ddf, self.model_vars)
            self.data = None
        else:
            data = check_dataframe(data)
            check_columns_present(data, self.model_vars)
            self.data = plain_frame(data, self.model_vars)
        self.V = _resolve_vcov(model, vcov, cluster)
        self.categories = list(model.family_.categories())
        self.epsilon = epsilon
        if conditional is not None:
            conditional = check_dataframe(conditional, "conditional")
            self.check_variables(list(conditional.columns))
            conditional = plain_frame(conditional, list(conditional.columns), "conditional",
                                      drop_unused_levels=False)
        self.conditional = conditional

    def check_variables(self, variables) -> list[str]:
        for v in variables:
            if v == getattr(self.model, "response", None):
                raise ValueError(f"{v!r} is the model's response, not a predictor; model "
                                 f"variables: {self.model_vars}")
            if v not in self.model_vars:
                raise ValueError(
                    f"variable {v!r} is not in the model; model variables: {self.model_vars}"
                )
        return list(variables)

    def reference(self, variables, type) -> dict:
        """``Reference`` of each variable over the whole data (cached)."""
        todo = [v for v in variables if (v, type) not in self._refs]
        if todo and self.ddf is not None:
            from .dask_effects import references

            for v, ref in references(self.ddf, todo, type, self.compute()).items():
                self._refs[v, type] = ref
        for v in todo:
            if (v, type) not in self._refs:
                self._refs[v, type] = Reference.of(self.data[v], type)
        return {v: self._refs[v, type] for v in variables}

    def compute(self):
        from .dask_rows import DaskCompute

        dask_train = dask_training(self.model)
        if dask_train is not None:
            return dask_train.rows.compute
        if getattr(self, "_compute", None) is None:
            self._compute = DaskCompute()
        return self._compute

    def strata(self):
        """(label dict, data with conditional values set) per row of ``conditional``
        (on Dask data: the conditional values themselves, set in each partition)."""
        if self.conditional is None:
            yield {}, ({} if self.ddf is not None else self.data)
            return
        for _, row in self.conditional.iterrows():
            self.check_variables(list(row.index))
            if self.ddf is not None:
                yield row.to_dict(), row.to_dict()
                continue
            frame = self.data.copy()
            for col, value in row.items():
                frame[col] = value
            yield row.to_dict(), frame

    def contrast(self, frame, moves, aie=False):
        if self.ddf is not None:
            from .dask_effects import evaluate_contrast_dask

            refs = {v: r for (v, _), r in self._refs.items() if r.kind == "factor"}
            return evaluate_contrast_dask(self.model, self.ddf, frame, moves, aie, refs,
                                          self.compute(), self.model_vars)
        if not moves:  # the average prediction
            return evaluate_contrast(self.model, [frame], [1.0], individual=self.individual,
                                     moved=set())
        settings, weights = _combine(moves, aie)
        frames = []
        for ks in settings:
            f = frame.copy()
            for move, k in zip(moves, ks, strict=True):
                _apply(f, move, k)
            frames.append(f)
        shifts = None
        if all(m.shift is not None for m in moves):  # derivatives: kernels evaluated once
            shifts = [{m.name: m.shift[k] for m, k in zip(moves, ks, strict=True)}
                      for ks in settings]
        return evaluate_contrast(self.model, frames, weights, individual=self.individual,
                                 moved={m.name for m in moves}, base=frame, shifts=shifts)

    def rows(self, term, type, contrast, extra, **more) -> list[dict]:
        """One table row per response column (per category for ocat/multinom)."""
        g = contrast.gradient
        se = np.sqrt(np.einsum("cj,jk,ck->c", g, self.V, g))
        out = []
        for c, cat in enumerate(self.categories):
            row = {**more, "term": term, "type": type}
            if len(self.categories) > 1:
                row["response"] = cat
            out.append({**row, "estimate": float(contrast.estimate[c]),
                        "std_error": float(se[c]), **extra})
        return out

    def individual_rows(self, term, contrast, extra) -> pd.DataFrame:
        """Per-row effects tau_ic with SEs sqrt(g_ic' V g_ic)."""
        G = contrast.row_gradients
        se = np.sqrt(np.einsum("icj,jk,ick->ic", G, self.V, G))
        n = contrast.values.shape[0]
        parts = []
        for c, cat in enumerate(self.categories):
            cols = {"term": term, "row": np.arange(n)}
            if len(self.categories) > 1:
                cols["response"] = cat
            parts.append(pd.DataFrame({**cols, "estimate": contrast.values[:, c],
                                       "std_error": se[:, c], **extra}))
        return pd.concat(parts, ignore_index=True)


def _finish(rows: list[dict], df_resid: float) -> pd.DataFrame:
    """Add z = estimate / SE, p-values and 95% intervals from t(N - sum edf), as gKRLS."""
    if not rows:
        raise ValueError("no effect to compute (e.g. a factor with a single level in data)")
    out = pd.DataFrame(rows)
    z = out["estimate"] / out["std_error"]
    crit = stats.t.ppf(0.975, df_resid)
    pos = out.columns.get_loc("std_error") + 1
    out.insert(pos, "z", z)
    out.insert(pos + 1, "p_value", 2 * stats.t.sf(np.abs(z), df_resid))
    out.insert(pos + 2, "ci_low", out["estimate"] - crit * out.std_error)
    out.insert(pos + 3, "ci_high", out["estimate"] + crit * out.std_error)
    return out


@one_blas_thread
def marginal_effects(
    model,
    variables=None,
    type: str = "derivative",
    vcov="bayes",
    cluster=None,
    conditional=None,
    individual: bool = False,
    data=None,
    epsilon: float = 1e-7,
) -> pd.DataFrame:
    """Average marginal effects on the response scale, one row per variable (and level).

    Returns a tidy DataFrame: term, type, estimate, std_error, z, p_value, ci_low,
    ci_high (+ the ``conditional`` columns). Families with several response columns
    (ocat, multinom) give one row per category, named in a ``response`` column: the
    effect on that category's probability (gKRLS ``calculate_effects``). With
    ``individual=True`` it returns the per-row effects instead (term, row, estimate,
    std_error). ``vcov``: "bayes",
    "frequentist", "HC0", "HC1", "cluster" (with ``cluster=``) or a matrix.

    On Dask data (``data=`` a Dask DataFrame or parquet path, or the training data of a
    model fitted on Dask data) every contrast is a reduction over the partitions and
    only the table comes back (dask_effects.py); ``individual=True`` is refused there.
    """
    type_l = check_choice(type, TYPES, "effect type")
    type = TYPES[[t.lower() for t in TYPES].index(type_l)]
    if not (isinstance(epsilon, float) and 0 < epsilon < 1):
        raise ValueError(f"epsilon must be a small positive float, got {epsilon!r}")
    if variables is not None:
        variables = _variable_list(variables)
    engine = _EffectEngine(model, data, vcov, cluster, conditional, epsilon, individual)
    if variables is None:
        variables = [v for v in engine.model_vars if v != getattr(model, "response", None)]
    variables = engine.check_variables(variables)
    refs = engine.reference(variables, type) if type != "predict" else {}
    for v in refs:
        _check_spread(v, refs[v], type)
    rows, individual_rows = [], []
    for extra, frame in engine.strata():
        if type == "predict":
            c = engine.contrast(frame, [])
            rows += engine.rows("prediction", "predict", c, extra)
            if individual:
                individual_rows.append(engine.individual_rows("prediction", c, extra))
            continue
        for v in variables:
            for move in _moves(v, refs[v], type, epsilon):
                c = engine.contrast(frame, [move])
                kind = type if move.kind in ("continuous",) + TYPES else move.kind
                rows += engine.rows(move.label, kind, c, extra)
                if individual:
                    individual_rows.append(engine.individual_rows(move.label, c, extra))
    if individual:
        return pd.concat(individual_rows, ignore_index=True)
    return _finish(rows, model.n_obs_ - model.edf_total_)


@one_blas_thread
def interactions(
    model,
    variables,
    qoi=QOIS,
    type: str = "IQR",
    vcov="bayes",
    cluster=None,
    conditional=None,
    data=None,
) -> pd.DataFrame:
    """AME, ACE, AMIE and AIE for each pair of variables (gKRLS ``calculate_interactions``)."""
    type_l = check_choice(type, ("IQR", "minmax", "onesd"), "interaction effect type")
    type = {"iqr": "IQR", "minmax": "minmax", "onesd": "onesd"}[type_l]
    qoi = [qoi] if isinstance(qoi, str) else list(qoi)
    if not qoi:
        raise ValueError(f"qoi is empty; choose from {list(QOIS)}")
    for q in qoi:
        check_choice(q, QOIS, "qoi")
    qoi = [q.upper() for q in qoi]
    pairs = _pairs(variables)
    engine = _EffectEngine(model, data, vcov, cluster, conditional, 1e-7, False)
    rows = []
    for pair in pairs:
        a, b = engine.check_variables(pair)
        refs = engine.reference([a, b], type)
        _check_spread(a, refs[a], type)
        _check_spread(b, refs[b], type)
        for extra, frame in engine.strata():
            for ma in _moves(a, refs[a], type, 1e-7):
                for mb in _moves(b, refs[b], type, 1e-7):
                    label = f"{ma.label}:{mb.label}"
                    ame_a = engine.contrast(frame, [ma])
                    ame_b = engine.contrast(frame, [mb])
                    ace = engine.contrast(frame, [ma, mb])
                    if "AME" in qoi:
                        rows += engine.rows(ma.label, ma.kind, ame_a, extra, qoi="AME")
                        rows += engine.rows(mb.label, mb.kind, ame_b, extra, qoi="AME")
                    if "ACE" in qoi:
                        rows += engine.rows(label, type, ace, extra, qoi="ACE")
                    if "AMIE" in qoi:
                        amie = ace - ame_a - ame_b
                        rows += engine.rows(label, type, amie, extra, qoi="AMIE")
                    if "AIE" in qoi:
                        aie = engine.contrast(frame, [ma, mb], aie=True)
                        rows += engine.rows(label, type, aie, extra, qoi="AIE")
    return _finish(rows, model.n_obs_ - model.edf_total_)


def _pairs(variables) -> list[list[str]]:
    """``["a", "b"]`` or ``[("a", "b"), ("a", "c")]`` -> a list of distinct pairs."""
    example = "e.g. ['x1', 'x2'] or [('x1', 'x2'), ('x1', 'x3')]"
    if isinstance(variables, str):
        raise ValueError(f"interactions need two variables, {example}; got {variables!r}")
    if isinstance(variables, (list, tuple)) and not variables:
        raise ValueError(f"variables is empty; interactions need a pair of variables, {example}")
    if not isinstance(variables, (list, tuple)):
        raise TypeError(f"variables must be a pair of column names, {example}; got "
                        f"{variables!r}")
    pairs = [variables] if isinstance(variables[0], str) else list(variables)
    out = []
    for pair in pairs:
        if (isinstance(pair, str) or not isinstance(pair, (list, tuple))
                or not all(isinstance(v, str) for v in pair)):
            raise TypeError(f"each interaction must be a pair of column names, {example}; "
                            f"got {pair!r}")
        if len(pair) != 2 or pair[0] == pair[1]:
            raise ValueError(f"interactions need pairs of two distinct variables, {example}; "
                             f"got {list(pair)}")
        out.append(list(pair))
    return out


def _check_spread(name: str, ref: Reference, type: str) -> None:
    """A contrast between two values of a variable needs two values to contrast."""
    kind = ref.kind
    if kind == "factor" and len(ref.levels) < 2:
        raise ValueError(f"variable {name!r} has a single level in data; no contrast between "
                         "levels to compute")
    if kind == "continuous" and type in ("IQR", "minmax", "onesd") and ref.n_unique < 2:
        raise ValueError(f"variable {name!r} is constant in data, so its {type} contrast is "
                         "zero by construction; use type='derivative' or data where it varies")
    if kind == "continuous" and type == "IQR":
        lo, hi = ref.lo, ref.hi
        if lo == hi:
            raise ValueError(f"variable {name!r} has equal 25% and 75% quantiles ({lo:g}), so "
                             "its IQR contrast is zero by construction; use type='minmax' or "
                             "'onesd'")
