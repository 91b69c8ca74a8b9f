"""Marginal effects and interactions over a Dask DataFrame (effects.py, contrasts.py).

An effect is a mean over rows of a contrast of predictions; on Dask data each partition
builds its counterfactual copies, reduces them to (sum of values, sum of gradients in
beta, row count) with the same ``contrasts.ContrastMaker`` as in memory, and the sums
are added on the cluster: only C + C p numbers per partition travel. The reference
values of each variable (kind, levels, max |x|, min/max, mean/sd) come from one pass;
exact IQR quantiles (R type 7) take a few more passes that narrow a histogram around the
needed order statistics until the candidates are few enough to sort.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._frames import check_columns_present, numeric_column, plain_frame
from .contrasts import Contrast, ContrastMaker
from .dask_rows import DaskRows, as_dask_frame
from .effects import Reference, _apply, _combine, _variable_kind

COLLECT = 20_000  # candidates of an order statistic collected and sorted exactly
BINS = 1024


class _Rows(DaskRows):
    """DaskRows used only for its ``map`` (raw partitions)."""

    def __init__(self, ddf, compute):
        self.parts = ddf.to_delayed()
        self.compute = compute


class VarStats:
    """One partition's statistics of one variable (added over partitions)."""

    def __init__(self, series: pd.Series):
        self.kind = _variable_kind(series) if len(series) else None
        self.n = len(series)
        self.levels, self.order = set(), None
        self.all01, self.lo, self.hi, self.max_abs = True, np.inf, -np.inf, 0.0
        self.mean, self.M2 = 0.0, 0.0
        if not self.n:
            return
        if self.kind == "factor":
            if isinstance(series.dtype, pd.CategoricalDtype):
                self.order = list(series.cat.categories)
                codes = np.unique(series.cat.codes.to_numpy())
                self.levels = {self.order[c] for c in codes if c >= 0}
            else:
                self.levels = set(pd.unique(series))
            return
        if self.kind == "logical":
            return
        x = series.to_numpy(dtype=float)
        self.all01 = bool(np.all(np.isin(x, (0, 1))))
        self.lo, self.hi, self.max_abs = float(x.min()), float(x.max()), float(np.abs(x).max())
        self.mean = float(x.mean())
        self.M2 = float(((x - self.mean) ** 2).sum())

    def __add__(self, other: VarStats) -> VarStats:
        if not other.n:
            return self
        if not self.n:
            return other
        out = VarStats(pd.Series([], dtype=float))
        kinds = {self.kind, other.kind}
        out.kind = "factor" if "factor" in kinds else self.kind
        out.n = self.n + other.n
        out.levels = self.levels | other.levels
        out.order = self.order if self.order == other.order else (
            None if self.order is None or other.order is None else "mixed")
        out.all01 = self.all01 and other.all01
        out.lo, out.hi = min(self.lo, other.lo), max(self.hi, other.hi)
        out.max_abs = max(self.max_abs, other.max_abs)
        delta = other.mean - self.mean
        out.mean = self.mean + delta * other.n / out.n
        out.M2 = self.M2 + other.M2 + delta * delta * self.n * other.n / out.n
        return out


def _stats_partition(df, i, names):
    frame = plain_frame(_present(df, names), names, drop_unused_levels=False)
    return tuple(VarStats(frame[v]) for v in names)


def _present(df, names):
    check_columns_present(df, names)
    return df


def references(ddf, names: list[str], type: str, compute) -> dict:
    """A ``effects.Reference`` per variable over the whole Dask frame."""
    rows = _Rows(ddf, compute)
    stats = rows.map(_stats_partition, list(names), what="effects reference pass")
    out = {}
    for v, st in zip(names, stats, strict=True):
        kind = st.kind
        if kind not in ("factor", "logical") and st.all01:
            kind = "binary"
        if kind == "factor":
            levels = ([c for c in st.order if c in st.levels]
                      if isinstance(st.order, list) else sorted(st.levels))
            out[v] = Reference("factor", levels)
            continue
        if kind != "continuous":
            out[v] = Reference(kind)
            continue
        ref = Reference(kind, max_abs=st.max_abs, n_unique=2 if st.hi > st.lo else 1)
        if type == "minmax":
            ref.lo, ref.hi = st.lo, st.hi
        elif type == "onesd":
            sd = float(np.sqrt(st.M2 / (st.n - 1))) if st.n > 1 else np.nan
            ref.lo, ref.hi = st.mean - sd, st.mean + sd
        elif type == "IQR":
            ref.lo, ref.hi = exact_quantiles(rows, v, st.n, st.lo, st.hi, [0.25, 0.75])
        out[v] = ref
    return out


# ---------------------------------------------------------- exact quantiles
def _hist_partition(df, i, name, targets):
    x = numeric_column(plain_frame(_present(df, [name]), [name]), name, "effects")
    out = []
    for lo, hi, edges in targets:
        inside = x[(x >= lo) & (x <= hi)]
        if edges is None:
            out.append(_Values(inside))
        else:
            out.append(np.searchsorted(np.sort(inside), edges, side="left"))
    return tuple(out)


class _Values:
    def __init__(self, v):
        self.v = v

    def __add__(self, other):
        return _Values(np.concatenate([self.v, other.v]))


def exact_quantiles(rows, name: str, n: int, lo: float, hi: float, probs) -> tuple:
    """numpy/R type-7 quantiles of a Dask column: x_(k) + (h - k)(x_(k+1) - x_(k)),
    h = (n - 1) p, from exact order statistics x_(r). Each pass counts, per target r,
    the values of its current interval [a, b] below BINS edges and keeps the bin holding
    x_(r); once at most COLLECT values remain they are collected and sorted."""
    ranks = sorted({min(int(np.floor((n - 1) * p)) + d, n - 1) for p in probs for d in (0, 1)})
    state = {r: (lo, hi, 0, n) for r in ranks}  # a, b, #(x < a), #(x in [a, b])
    found = {}
    while len(found) < len(ranks):
        keys, targets = [], []
        for r in ranks:
            if r in found:
                continue
            a, b, below, count = state[r]
            if a == b:
                found[r] = a
                continue
            edges = None if count <= COLLECT else np.unique(np.linspace(a, b, BINS + 1)[1:])
            keys.append(r)
            targets.append((a, b, edges))
        if not keys:
            break
        got = rows.map(_hist_partition, name, targets, what="quantile pass")
        for r, (a, b, edges), res in zip(keys, targets, got, strict=True):
            _, _, below, count = state[r]
            if edges is None:
                found[r] = float(np.sort(res.v)[r - below])
                continue
            t = r - below  # rank within [a, b]
            k = int(np.searchsorted(res, t, side="right"))  # first edge with cum > t
            if k == len(edges):  # x_(r) == b
                found[r] = b
                continue
            prev = 0 if k == 0 else int(res[k - 1])
            new_a = a if k == 0 else float(edges[k - 1])
            state[r] = (new_a, float(np.nextafter(edges[k], -np.inf)), below + prev,
                        int(res[k]) - prev)
    out = []
    for p in probs:
        h = (n - 1) * p
        k = int(np.floor(h))
        x0, x1 = found[k], found[min(k + 1, n - 1)]
        t, d = h - k, x1 - x0
        out.append(x1 - d * (1 - t) if t >= 0.5 else x0 + d * t)  # numpy's _lerp
    return tuple(out)


# --------------------------------------------------------------- contrasts
class _TermEncoder:
    def __init__(self, terms, offset_columns):
        self.terms, self.offset_columns = terms, offset_columns

    def __call__(self, frame, which):
        enc = [None] * len(self.terms)
        for j in which:
            enc[j] = self.terms[j].encode(frame)
        off = np.zeros(len(frame))
        for col in self.offset_columns:
            off = off + numeric_column(frame, col, "offset()")
        return enc, off


class ContrastTask:
    """A contrast's sums over one partition (sent once to the workers)."""

    def __init__(self, model, columns, conditional: dict, moves, aie: bool, refs: dict):
        self.columns = columns
        self.conditional = conditional
        self.moves = moves
        self.settings, self.coefs = _combine(moves, aie) if moves else ([[]], [1.0])
        shifts = None
        if moves and all(m.shift is not None for m in moves):
            shifts = [{m.name: m.shift[k] for m, k in zip(moves, ks, strict=True)}
                      for ks in self.settings]
        self.maker = ContrastMaker(model, {m.name for m in moves}, shifts)
        self.encode = _TermEncoder(model.terms, list(model.offset_columns))
        self.block_rows = model.block_rows
        self.levels = {v: r.levels for v, r in refs.items() if r.kind == "factor"}

    def __call__(self, df, i):
        frame = plain_frame(_present(df, self.columns), self.columns,
                            drop_unused_levels=False)
        n = len(frame)
        if n == 0:
            return None
        frame = frame.copy()
        for col, levels in self.levels.items():  # every level settable in any partition
            if col in frame and isinstance(frame[col].dtype, pd.CategoricalDtype):
                frame[col] = frame[col].cat.set_categories(levels)
        for col, value in self.conditional.items():
            frame[col] = value
        frames = []
        for ks in self.settings:
            f = frame.copy()
            for move, k in zip(self.moves, ks, strict=True):
                _apply(f, move, k)
            frames.append(f)
        shared, per_frame = self.maker.encode(frames, self.encode, base=frame)
        total_v, total_g = None, None
        step = max(256, self.block_rows // self.maker.n_resp)
        for start in range(0, n, step):
            rows = slice(start, min(n, start + step))
            values, grad, _ = self.maker.block(shared, per_frame, self.coefs, rows, False)
            v = values.sum(axis=0)
            total_v = v if total_v is None else total_v + v
            total_g = grad if total_g is None else total_g + grad
        return total_v, total_g, n


def _run_task(df, i, task):
    return task(df, i)


def evaluate_contrast_dask(model, ddf, conditional: dict, moves, aie, refs, compute,
                           columns) -> Contrast:
    rows = _Rows(as_dask_frame(ddf), compute)
    task = ContrastTask(model, columns, conditional, moves, aie, refs)
    out = rows.map(_run_task, task, what="effects pass")
    if out is None:
        raise ValueError("data has no rows")
    values, grad, n = out
    return Contrast(None, values / n, grad / n, None)
