"""Setting a GAM up on a Dask DataFrame: two cheap passes, then the fit's passes.

What an in-memory fit learns from the whole data frame is learned here from statistics
reduced over the partitions, so the terms come out as they would on ``ddf.compute()``:

1. **metadata pass** (every column the model reads): per partition the row count; the
   input checks of ``plain_frame`` (missing values, dtypes), the family's checks of y;
   the distinct values of factor-like columns (strings, categoricals, booleans,
   integers: factor levels and ``re()`` groups), min/max of numeric columns, sums over
   y and the prior weights, and the first rows.
2. **rows pass**: the rows of the kernel sketches and the first
   ``min(N, block_rows, 10000)`` rows (the centring of the REML core) fetched by global
   position; the stacked QR factors of the parametric columns (identifiability check);
   the exact integer moments of each ``krls()`` term's columns (kernel.ExactMoments:
   the standardization comes out bit-identical to the in-memory one).

**The sketch**: each ``krls()`` term keeps the rows
``np.sort(np.random.default_rng(seed).choice(N, M, replace=False))``,
M = floor(ceil(N^(1/3)) * multiplier) (or ``size=``), counted 0-based in the order of the
data: partition 0's rows first, in their order, then partition 1's, and so on (empty
partitions count nothing). That is exactly the draw of the in-memory fit of
``ddf.compute()``, so both fits use the same anchors, and with the same standardization
(moments of all N rows) give the same estimates to rounding (1e-10 in tests).

Factor levels: strings and objects sorted, categoricals in their dtype's order keeping
the levels that occur (as ``plain_frame`` does in memory); a categorical whose
partitions disagree on the category order (unknown categories) is sorted.

Not on Dask (a clear error): ``s()``/``te()``/``ti()`` (mgcv places knots at quantiles of
the unique values over all rows: a distributed sort), ``sketch="gaussian"``/``"none"``
(every row an anchor), stateful formula transforms (``center()``, ``scale()``, ...),
weights/offsets given as arrays, and the likelihood families (ocat, nb, multinom).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._frames import numeric_column, plain_frame, response_values
from .backend import blas_one_thread
from .blocks import design_block
from .checks import check_family_start
from .dask_rows import DaskCompute, DaskRows, labelled
from .identifiability import report_dependent
from .kernel import ExactMoments, Standardizer
from .reparam import centring_shift
from .rows import RFactor
from .terms import KRLSTerm, ParametricTerms, RandomEffectTerm

MAX_LEVELS = 100_000  # distinct values kept per factor-like column
MAX_WEIGHT_VALUES = 10_000  # distinct prior weights in the saturated-loglik table
HEAD_ROWS = 20


def _frame(df: pd.DataFrame, used: list[str]) -> pd.DataFrame:
    missing = [c for c in used if c not in df.columns]
    if missing:
        raise ValueError(
            f"has no column(s) {missing} named in the model (the frame's meta lists them, "
            f"this partition does not; its columns: {list(df.columns)}); every partition "
            "must have the same columns")
    return plain_frame(df, used, drop_unused_levels=False)


class RowEncoder:
    """Turns one partition into the engine's arrays (sent once to each worker)."""

    def __init__(self, terms, used, response, weights, offset, offset_columns,
                 block_rows: int, shift=None):
        self.terms, self.used, self.response = terms, list(used), response
        self.weights, self.offset, self.offset_columns = weights, offset, offset_columns
        self.block_rows = block_rows
        self.shift = np.zeros(0) if shift is None else shift  # set after the set-up

    def frame(self, df: pd.DataFrame, i: int) -> pd.DataFrame:
        return _frame(df, self.used)

    def response_arrays(self, frame: pd.DataFrame):
        n = len(frame)
        y = response_values(frame, self.response)
        w = (np.ones(n) if self.weights is None
             else numeric_column(frame, self.weights, "weights"))
        off = np.zeros(n) if self.offset is None else numeric_column(frame, self.offset,
                                                                     "offset")
        for col in self.offset_columns:
            off = off + numeric_column(frame, col, "offset()")
        return y, w, off

    def arrays(self, frame: pd.DataFrame):
        encodings = [t.encode(frame) for t in self.terms]
        for t, e in zip(self.terms, encodings, strict=True):
            if isinstance(t, ParametricTerms) and not np.all(np.isfinite(e)):
                bad = np.flatnonzero(~np.isfinite(e).all(axis=0))
                raise ValueError(
                    f"parametric column(s) {[t.coef_names[j] for j in bad]} have NaN or "
                    "infinite values (e.g. log of a value <= 0); transform the data first")
        return (encodings, *self.response_arrays(frame))


# ------------------------------------------------------------------ pass 1
@dataclass
class MetaPlan:
    encoder: RowEncoder  # columns, response, weights, offsets (terms not set up yet)
    family: object
    unique_cols: list[str]
    numeric_cols: list[str]


def _distinct(series: pd.Series, col: str):
    if isinstance(series.dtype, pd.CategoricalDtype):
        codes = np.unique(series.cat.codes.to_numpy())
        cats = series.cat.categories
        return [cats[c] for c in codes if c >= 0], list(cats)
    values = pd.unique(series)
    if len(values) > MAX_LEVELS:
        raise ValueError(f"column {col!r} has more than {MAX_LEVELS} distinct values in one "
                         "partition; a factor (or re() group) this large is not supported")
    return list(values), None


def meta_partition(df: pd.DataFrame, i: int, plan: MetaPlan) -> dict:
    frame = plan.encoder.frame(df, i)
    n = len(frame)
    out = {"n": n, "head": frame.head(HEAD_ROWS) if n else None,
           "dtypes": {c: frame[c].dtype for c in plan.encoder.used}}
    out["uniques"] = {c: _distinct(frame[c], c) for c in plan.unique_cols}
    out["minmax"] = {c: (float(frame[c].min()), float(frame[c].max())) if n else None
                     for c in plan.numeric_cols}
    y, w, off = plan.encoder.response_arrays(frame)
    fam, name = plan.family, plan.encoder.response
    if np.any(w < 0):
        raise ValueError(f"weights must be non-negative; {int((w < 0).sum())} are negative")
    if n:
        fam.check_y(y, w, name)
        check_family_start(fam, y, w, name)
    pos = w > 0
    v = y - off
    top = float(np.max(np.abs(v), initial=0.0))
    k = y * w
    out["resp"] = {
        "n_pos": int(pos.sum()), "wsum": float(w.sum()), "wy": float(w @ y),
        "logw": float(np.sum(np.log(w[pos]))),
        "ymin": float(y[pos].min()) if pos.any() else np.inf,
        "ymax": float(y[pos].max()) if pos.any() else -np.inf,
        "top": top, "ssq": float(np.sum((v / top) ** 2)) if top > 0 else 0.0,
        "nonint": int((np.abs(k - np.round(k)) > 1e-7 * np.maximum(1.0, np.abs(k))).sum()),
    }
    if fam.scale_known:
        out["ls"] = float(fam.saturated_loglik(y, w, 1.0)) if n else 0.0
    else:
        values, counts = np.unique(w, return_counts=True)
        if len(values) > MAX_WEIGHT_VALUES:
            out["ls"] = None
        else:
            ones = np.ones(1)
            base = sum(c * fam.saturated_loglik(ones, np.array([v]), 1.0)
                       for v, c in zip(values, counts, strict=True))
            ypart = (fam.saturated_loglik(y, w, 1.0) - base) if n else 0.0
            out["ls"] = (dict(zip(values.tolist(), counts.tolist(), strict=True)), ypart)
    return out


@dataclass
class Summary:
    lengths: list[int]
    head: pd.DataFrame
    dtypes: dict
    levels: dict  # column -> observed values, in level order
    categorical: set
    minmax: dict
    resp: dict
    ls: object

    @property
    def n(self) -> int:
        return int(sum(self.lengths))


def merge_meta(parts: list[dict], unique_cols, numeric_cols) -> Summary:
    lengths = [p["n"] for p in parts]
    if sum(lengths) == 0:
        raise ValueError("data has no rows (every partition is empty)")
    first = next(p for p in parts if p["n"])
    levels, categorical = {}, set()
    for c in unique_cols:
        seen, orders = set(), []
        for p in parts:
            values, order = p["uniques"][c]
            seen.update(values)
            if order is not None:
                orders.append(order)
        if orders:
            categorical.add(c)
            same = all(o == orders[0] for o in orders)
            levels[c] = [v for v in orders[0] if v in seen] if same else sorted(seen)
        else:
            levels[c] = sorted(seen)
        if len(levels[c]) > MAX_LEVELS:
            raise ValueError(f"column {c!r} has more than {MAX_LEVELS} distinct values")
    minmax = {}
    for c in numeric_cols:
        vals = [p["minmax"][c] for p in parts if p["minmax"][c] is not None]
        minmax[c] = (min(v[0] for v in vals), max(v[1] for v in vals))
    resp = {k: 0 for k in ("n_pos", "wsum", "wy", "logw", "nonint")}
    resp.update(ymin=np.inf, ymax=-np.inf)
    top = max(p["resp"]["top"] for p in parts)
    ssq = 0.0
    for p in parts:
        r = p["resp"]
        for k in ("n_pos", "wsum", "wy", "logw", "nonint"):
            resp[k] += r[k]
        resp["ymin"], resp["ymax"] = min(resp["ymin"], r["ymin"]), max(resp["ymax"], r["ymax"])
        if r["top"] > 0:
            ssq += r["ssq"] * (r["top"] / top) ** 2
    n = sum(lengths)
    resp["y_scale"] = top * float(np.sqrt(ssq / n)) if top > 0 and np.isfinite(top) else 1.0
    ls = _merge_ls([p["ls"] for p in parts])
    return Summary(lengths, first["head"], first["dtypes"], levels, categorical, minmax,
                   resp, ls)


def _merge_ls(parts):
    if all(isinstance(p, float) for p in parts):
        return float(sum(parts))
    if any(p is None for p in parts):
        return None
    table, ypart = {}, 0.0
    for counts, y in parts:
        for v, c in counts.items():
            table[v] = table.get(v, 0) + c
        ypart += y
    if len(table) > MAX_WEIGHT_VALUES:
        return None
    values = np.array(sorted(table))
    return values, np.array([table[v] for v in values]), ypart


# ------------------------------------------------------------- term set-up
def check_supported(terms) -> None:
    for t in terms:
        if not isinstance(t, (ParametricTerms, KRLSTerm, RandomEffectTerm)):
            raise ValueError(
                f"{t.label} is not supported on Dask data: mgcv places a spline's knots at "
                "quantiles of the unique values over all rows (a distributed sort); use "
                f"krls({', '.join(t.columns)}) (the gKRLS kernel smooth, made for large N), "
                "or fit s()/te()/ti() on an in-memory frame")
        if isinstance(t, KRLSTerm) and t.indices is None and t.sketch != "subsampling":
            t.sketch_positions(1)  # raises the message


def setup_frame(summary: Summary, columns) -> pd.DataFrame:
    """The first rows with every factor-like column a categorical of all its levels,
    so formulaic learns the levels of the whole data from a few rows."""
    frame = summary.head.copy()
    for c in columns:
        if c in summary.levels and not pd.api.types.is_float_dtype(frame[c]):
            frame[c] = pd.Categorical(frame[c], categories=summary.levels[c])
    return frame


def setup_parametric(term: ParametricTerms, summary: Summary) -> None:
    head = summary.head
    probe = ParametricTerms(term.rhs)
    probe.setup(head)
    categorical = {v for v, (kind, _) in probe.spec.encoder_state.items()
                   if getattr(kind, "value", kind) == "categorical"}
    factor_cols = set()
    for var in categorical:
        sources = [c for c in head.columns if c == var or f"({c})" in var or f"({c}," in var]
        factor_cols.update(c for c in sources if c in summary.levels)
    factor_cols |= {c for c in head.columns if c in summary.levels
                    and not pd.api.types.is_numeric_dtype(head[c])
                    and not pd.api.types.is_bool_dtype(head[c])}
    term.setup(setup_frame(summary, sorted(factor_cols)))
    if term.spec.transform_state:
        raise ValueError(
            f"the parametric part {term.rhs!r} uses stateful transforms "
            f"{sorted(term.spec.transform_state)} whose state (a mean, a scale, knots) "
            "would need the whole data; on Dask data compute those columns first")
    for var, levels in term.levels.items():
        col = var if var in summary.levels else next(
            (c for c in summary.levels if f"({c})" in var or f"({c}," in var), None)
        if col is None or [str(v) for v in summary.levels[col]] != levels:
            raise ValueError(
                f"cannot learn the levels of {var!r} in {term.rhs!r} on Dask data; make the "
                "column a string or category column")


def setup_random_effect(term: RandomEffectTerm, summary: Summary) -> None:
    col = term.columns[0]
    if pd.api.types.is_float_dtype(summary.dtypes[col]):
        raise TypeError(
            f"re({col}): column {col!r} is float; random intercepts need a grouping "
            "factor (string, categorical or integer codes)")
    levels = [str(v) for v in summary.levels[col]]
    if len(levels) < 2:
        raise ValueError(f"re({col}): column {col!r} has {len(levels)} level; need >= 2")
    term.levels = levels
    term.n_coef = len(levels)
    term.coef_names = [f"{term.label}.{j + 1}" for j in range(term.n_coef)]
    term.penalties = [np.eye(term.n_coef)]


def setup_krls_levels(term: KRLSTerm, summary: Summary) -> None:
    levels = {c: [str(v) for v in summary.levels[c]] for c in term.columns
              if c in summary.categorical}
    term.set_levels(levels, summary.dtypes)
    term.warn_constant([c for c in term.columns if c not in term.levels
                        and summary.minmax[c][0] == summary.minmax[c][1]])


# ------------------------------------------------------------------ pass 2
@dataclass
class RowsPlan:
    encoder: RowEncoder
    positions: np.ndarray  # global positions to fetch (sorted)
    offsets: np.ndarray  # first global position of each partition
    parametric: ParametricTerms | None
    krls: list[KRLSTerm]
    scales: dict  # krls label -> column_scales of its raw columns


def rows_partition(df: pd.DataFrame, i: int, plan: RowsPlan) -> dict:
    frame = plan.encoder.frame(df, i)
    n = len(frame)
    lo = plan.offsets[i]
    sel = plan.positions[(plan.positions >= lo) & (plan.positions < lo + n)]
    rows = df.iloc[sel - lo][plan.encoder.used].copy()
    rows.index = sel
    out = {"rows": rows, "ident": None,
           "moments": {t.label: ExactMoments(plan.scales[t.label]).add(t._raw(frame))
                       for t in plan.krls}}
    if plan.parametric is not None and n:
        _, w, _ = plan.encoder.response_arrays(frame)
        U = plan.parametric.encode(frame)
        if not np.all(np.isfinite(U)):
            bad = np.flatnonzero(~np.isfinite(U).all(axis=0))
            raise ValueError(
                f"parametric column(s) {[plan.parametric.coef_names[j] for j in bad]} have "
                "NaN or infinite values (e.g. log of a value <= 0); transform the data first")
        U = U[w > 0]
        if U.shape[0]:
            m = U.mean(axis=0)
            out["ident"] = (U.shape[0], m, _r(U - m), _r(U))
    return out


def _r(A: np.ndarray) -> np.ndarray:
    from scipy.linalg import qr

    return qr(A, mode="r", check_finite=False)[0]


def identifiability(term: ParametricTerms, parts: list) -> None:
    """report_dependent on matrices with the Gram matrices of the centred and
    uncentred parametric columns of all rows with positive weight (stacked QR factors;
    partition means recombined exactly)."""
    stats = [p["ident"] for p in parts if p["ident"] is not None]
    if not stats:
        return
    n = sum(s[0] for s in stats)
    m = sum(s[0] * s[1] for s in stats) / n
    uncentred = RFactor.stack([RFactor(s[3]) for s in stats]).R
    intercept = term.coef_names[:1] == ["(Intercept)"] and n > 1
    if intercept:
        rows = [s[2] for s in stats] + [np.sqrt(s[0]) * (s[1] - m)[None, :] for s in stats]
        centred = RFactor.stack([RFactor(r) for r in rows]).R.copy()
        centred = np.vstack([centred, np.zeros((1, centred.shape[1]))])
        centred[:, 0] = 0.0
        centred[-1, 0] = np.sqrt(n)  # the intercept column: n ones, orthogonal to the rest
    else:
        centred = uncentred
    report_dependent(centred, uncentred, list(term.coef_names))


# -------------------------------------------------------------------- driver
BLOCK_BYTES = 256 * 2**20  # a row block's kernel matrix (and model matrix) on a worker


def capped_block_rows(terms, block_rows: int) -> int:
    """Rows per block on the workers: ``block_rows``, fewer when the block's kernel
    matrices (rows x anchors) and model matrix (rows x p) would pass BLOCK_BYTES, so a
    worker's memory is bounded by one partition and one such block whatever N (the
    sketch grows as N^(1/3))."""
    width = sum(t.n_coef for t in terms) + sum(
        t.sketch_.anchors.shape[0] for t in terms if isinstance(t, KRLSTerm))
    return int(max(1_000, min(block_rows, BLOCK_BYTES // (8 * max(width, 1)))))


def first_rows_count(n: int, block_rows: int) -> int:
    return min(n, block_rows, 10_000)


def prepare(terms, ddf, encoder: RowEncoder, family, compute: DaskCompute,
            ) -> tuple[Summary, DaskRows]:
    """Run the two set-up passes, set the terms up, and return the data summary and
    the row source for the fit (module docstring)."""
    import dask

    check_supported(terms)
    parts = ddf.to_delayed()
    used = encoder.used
    meta = ddf._meta if hasattr(ddf, "_meta") else ddf.head(0)
    meta = {c: meta[c].dtype for c in used if c in meta.columns}
    unique_cols = [c for c in used if c in meta and not pd.api.types.is_float_dtype(meta[c])]
    numeric_cols = [c for c in used if c in meta and pd.api.types.is_numeric_dtype(meta[c])
                    and not pd.api.types.is_bool_dtype(meta[c])]
    krls = [t for t in terms if isinstance(t, KRLSTerm)]
    plan = MetaPlan(encoder, family, unique_cols, numeric_cols)
    shared = compute.share(plan)
    got = compute([dask.delayed(labelled, pure=False)(meta_partition, i, p, i, shared)
                   for i, p in enumerate(parts)], "metadata pass")
    summary = merge_meta(got, unique_cols, numeric_cols)
    n = summary.n
    _check_response(summary, encoder.response, family)
    # levels, groups, the kernels' factor levels
    parametric = None
    for t in terms:
        if isinstance(t, ParametricTerms):
            setup_parametric(t, summary)
            parametric = t if t.n_coef else None
        elif isinstance(t, RandomEffectTerm):
            setup_random_effect(t, summary)
        else:
            setup_krls_levels(t, summary)
    sketches = {t.label: t.sketch_positions(n) for t in krls}
    first = first_rows_count(n, encoder.block_rows)
    positions = np.unique(np.concatenate(
        [np.arange(first)] + [idx for idx, _ in sketches.values()])).astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(summary.lengths)[:-1]]).astype(np.int64)
    scales = {t.label: t.raw_scales(summary.minmax) for t in krls}
    plan2 = RowsPlan(encoder, positions, offsets, parametric, krls, scales)
    shared2 = compute.share(plan2)
    got2 = compute([dask.delayed(labelled, pure=False)(rows_partition, i, p, i, shared2)
                    for i, p in enumerate(parts)], "rows pass")
    fetched = pd.concat([g["rows"] for g in got2]).sort_index()
    fetched = encoder.frame(fetched, -1)
    for t in krls:
        moments = sum((g["moments"][t.label] for g in got2[1:]), got2[0]["moments"][t.label])
        standardizer = Standardizer.from_moments(*moments.moments(), t.standardize)
        idx, scale = sketches[t.label]
        with blas_one_thread():
            t.setup_from(standardizer, t._raw(fetched.loc[idx]), idx, scale)
    if parametric is not None:
        identifiability(parametric, got2)
    head = fetched.loc[np.arange(first)]
    enc = [t.encode(head) for t in terms]
    X_first = design_block(terms, enc, slice(0, first))
    intercept = (terms[0].kind == "parametric"
                 and terms[0].coef_names[:1] == ["(Intercept)"])
    is_one = X_first.shape[1] > 0 and bool(np.all(X_first[:, 0] == 1.0))
    encoder.terms = terms
    encoder.shift = centring_shift(X_first, intercept and is_one)
    encoder.block_rows = capped_block_rows(terms, encoder.block_rows)
    rows = DaskRows(parts, encoder, n, compute, ls_table=summary.ls)
    return summary, rows


def _check_response(summary: Summary, name: str, family) -> None:
    r = summary.resp
    if r["n_pos"] == 0:
        raise ValueError("weights are all zero; at least some rows need a positive weight")
    if r["ymin"] == r["ymax"]:
        raise ValueError(f"the response {name!r} is constant; nothing to model")
    if family.name == "binomial" and r["nonint"]:
        warnings.warn(
            f"binomial response {name!r}: y * weights is not a whole number of successes for "
            f"{r['nonint']} row(s) (R: 'non-integer #successes in a binomial glm'); for "
            "proportions pass weights= the number of trials", UserWarning, stacklevel=4)
