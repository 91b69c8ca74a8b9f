"""``GAM.fit`` on a Dask DataFrame (or a parquet path), and what a fitted model does
with Dask data afterwards: predictions as Dask collections, sandwich meats and the
smooth tests' QR factor as cluster reductions. Nothing is collected to this process
but p x p matrices and small tables (dask_rows.py, dask_setup.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._frames import check_columns_present, numeric_column, plain_frame
from .checks import check_smoothing_parameters
from .dask_rows import DaskCompute, DaskRows, as_dask_frame, dask_training
from .dask_setup import RowEncoder, Summary, prepare
from .families import LikelihoodFamily
from .fitting import ResponseStats, fit_gaussian_rows, fit_glm_rows
from .formula import parse_formula
from .predict import predict_frame
from .rows import RFactor
from .terms import check_enough_rows, formula_variables
from .vcov import score_multipliers


@dataclass
class DaskTraining:
    """What a model fitted on Dask data keeps: the (lazy) frame and how to read it."""

    ddf: object
    rows: DaskRows
    summary: Summary
    weights: str | None
    offset: str | None

    def uncentred(self) -> DaskRows:
        """The same rows without the fit's column centring (coefficients as reported)."""
        enc = self.rows.encoder
        plain = RowEncoder(enc.terms, enc.used, enc.response, enc.weights, enc.offset,
                           enc.offset_columns, enc.block_rows, np.zeros(self.rows.p))
        return DaskRows(self.rows.parts, plain, self.rows.n, self.rows.compute,
                        self.rows.ls_table)


def fit_dask(model, data, sp=None, weights=None, offset=None, env=None, client=None,
             progress=None):
    """``model.fit`` for Dask data (dask_setup.py's module docstring)."""
    ddf = as_dask_frame(data)
    fam = model.family_
    if isinstance(fam, LikelihoodFamily) or isinstance(model.formula, list):
        raise ValueError(
            f"family {fam.name!r} is not supported on Dask data: its penalized Newton "
            "works on the full model matrix in memory; fit it on an in-memory frame (or a "
            "sample), or use an exponential family (gaussian, binomial, poisson, gamma)")
    for name, value in (("weights", weights), ("offset", offset)):
        if value is not None and not isinstance(value, str):
            raise TypeError(f"on Dask data, {name}= must name a column of the data (an "
                            f"array cannot be aligned with the partitions); got "
                            f"{type(value).__name__}")
    parsed = parse_formula(model.formula, env)
    model.response = parsed.response
    model.offset_columns = parsed.offsets
    terms = parsed.terms
    used = {parsed.response, *parsed.offsets}
    used |= set(formula_variables(parsed.parametric, ddf.columns))
    for term in parsed.smooths:
        used.update(getattr(term, "reads", term.columns))
    extra = [v for v in (weights, offset) if v is not None]
    check_columns_present(ddf, sorted(used) + extra)
    encoder = RowEncoder([], sorted(used | set(extra)), parsed.response, weights, offset,
                         parsed.offsets, model.block_rows)
    compute = DaskCompute(client, progress)
    summary, rows = prepare(terms, ddf, encoder, fam, compute)
    model.terms = terms
    model.lp_sizes_ = [len(terms)]
    sp = check_smoothing_parameters(sp, [n for t in terms for n in t.sp_names])
    r = summary.resp
    check_enough_rows(terms, int(r["n_pos"]), fam.scale_known)
    if not fam.scale_known:
        from .model import _warn_unidentified_random_effects

        _warn_unidentified_random_effects(terms, n_pos=int(r["n_pos"]))
    model.n_obs_ = summary.n
    stats = ResponseStats(summary.n, int(r["n_pos"]), r["wy"] / r["wsum"], r["y_scale"],
                          r["logw"])
    if fam.name == "gaussian" and fam.link.name == "identity":
        res = fit_gaussian_rows(terms, rows, sp, weights is not None, stats,
                                method=model.method_)
    else:
        res = fit_glm_rows(terms, rows, fam, sp, method=model.method_)
    model._adopt(res)
    model.training_ = {"dask": DaskTraining(ddf, rows, summary, weights, offset),
                       "encodings": [None] * len(terms), "data": None}
    model.n_passes_ = compute.n_passes
    return model


# ------------------------------------------------------------------ predict
class Predictor:
    """Per-partition predictions of a fitted model (sent once to the workers)."""

    def __init__(self, model, kind: str, V):
        self.terms = model.terms
        self.offset_columns = list(model.offset_columns)
        self.beta = model.coef_.to_numpy()
        self.family = model.family_
        self.kind, self.V = kind, V
        self.block_rows = model.block_rows
        self.lp_sizes = getattr(model, "lp_sizes_", None)
        self.columns = sorted({c for t in self.terms for c in t.columns}
                              | set(self.offset_columns))

    def encode(self, df: pd.DataFrame):
        check_columns_present(df, self.columns, "newdata")
        frame = plain_frame(df, self.columns, "newdata", drop_unused_levels=False)
        off = np.zeros(len(frame))
        for col in self.offset_columns:
            off = off + numeric_column(frame, col, "offset()")
        return [t.encode(frame) for t in self.terms], off

    def __call__(self, df: pd.DataFrame):
        if len(df) == 0:
            out = self.meta()
            out.index = df.index
            return out
        enc, off = self.encode(df)
        out = predict_frame(self.terms, enc, off, self.beta, self.family, self.kind,
                            self.V, self.block_rows, self.lp_sizes)
        if isinstance(out, pd.DataFrame):
            out.index = df.index
            return out
        return pd.Series(out, index=df.index, name="fit")

    def meta(self):
        """An empty result of the right columns and dtypes."""
        one = self.family.n_lp == 1 and not (self.kind == "response"
                                             and self.family.n_response > 1)
        if one:
            if self.V is None:
                return pd.Series(np.zeros(0), name="fit")
            return pd.DataFrame({"fit": np.zeros(0), "se": np.zeros(0)})
        names = ([f"eta{k}" for k in range(self.family.n_lp)] if self.kind == "link"
                 else list(self.family.categories()))
        fit = pd.DataFrame({n: np.zeros(0) for n in names})
        if self.V is None:
            return fit
        return pd.concat({"fit": fit, "se": fit.copy()}, axis=1)


def predict_dask(model, ddf, kind: str, V):
    """``model.predict`` on a Dask DataFrame: a Dask Series (or DataFrame with ``fit``
    and ``se``, or one column per predictor/category), partition by partition."""
    ddf = as_dask_frame(ddf)
    pred = Predictor(model, kind, V)
    missing = [c for c in pred.columns if c not in ddf.columns]
    if missing:
        check_columns_present(ddf, pred.columns, "newdata")
    return ddf.map_partitions(pred, meta=pred.meta())


# --------------------------------------------------------- sandwich and tests
class ScoreKernel:
    """Per block: the score multipliers m_i = w_i (y_i - mu_i) mu_eta_i / V(mu_i)
    (gKRLS estfun.gam: Pearson residual times root working weight) and either
    X' diag(m^2) X, or per-cluster sums of m_i x_i (``codes`` by row)."""

    def __init__(self, family, beta):
        self.family, self.beta = family, beta

    def multipliers(self, ch):
        return score_multipliers(self.family, ch.y, ch.w, ch.X @ self.beta + ch.off)

    def __call__(self, ch):
        from .rows import weighted_gram

        m = self.multipliers(ch)
        return weighted_gram(ch.X, m * m)


def _cluster_partition(df, i, enc: RowEncoder, beta, family, cluster: str):
    """Per-cluster score sums of one partition (a DataFrame indexed by cluster)."""
    from .backend import row_blocks
    from .blocks import design_block
    from .rows import Chunk

    frame = enc.frame(df, i)
    if len(frame) == 0:
        return None
    if frame[cluster].isna().any():
        raise ValueError("cluster contains missing values")
    encodings, y, w, off = enc.arrays(frame)
    kernel = ScoreKernel(family, beta)
    keys = frame[cluster].to_numpy()
    parts = []
    for sl in row_blocks(len(y), enc.block_rows):
        X = design_block(enc.terms, encodings, sl)
        m = kernel.multipliers(Chunk(X, y[sl], w[sl], off[sl]))
        parts.append(pd.DataFrame(X * m[:, None]).groupby(keys[sl]).sum())
    return ClusterSums(pd.concat(parts).groupby(level=0).sum())


class ClusterSums:
    """Per-cluster sums, added by cluster label."""

    def __init__(self, table: pd.DataFrame):
        self.table = table

    def __add__(self, other):
        return ClusterSums(self.table.add(other.table, fill_value=0.0))


def sandwich_meat(model, kind: str, cluster=None) -> np.ndarray:
    """sum_i s_i s_i' (HC0/HC1 before the N / (N - edf) factor) or, for ``cluster``,
    G / (G - 1) sum_g s_g s_g', reduced over the training partitions."""
    train = dask_training(model)
    rows = train.uncentred()
    beta = model.coef_.to_numpy()
    if kind != "cluster":
        return rows.reduce(ScoreKernel(model.family_, beta))
    if not isinstance(cluster, str):
        raise TypeError("on Dask data, cluster= must name a column of the training data "
                        f"(got {type(cluster).__name__})")
    if cluster not in train.ddf.columns:
        raise ValueError(f"cluster column {cluster!r} is not in the training data")
    rows.encoder.used = list(dict.fromkeys(rows.encoder.used + [cluster]))
    enc = rows.compute.share(rows.encoder)
    sums = rows.map(_cluster_partition, enc, beta, model.family_, cluster,
                    what="cluster scores pass").table.to_numpy()
    G = sums.shape[0]
    if G < 2:
        raise ValueError(f"cluster has {G} cluster; need at least 2")
    return sums.T @ sums * (G / (G - 1))


class WeightedRKernel:
    """R of the QR of sqrt(W) X (Fisher weights at the fit), for the smooth tests."""

    whole_block = True  # a QR factor per block (rows.in_cache)

    def __init__(self, family, beta, gaussian: bool):
        self.family, self.beta, self.gaussian = family, beta, gaussian

    def __call__(self, ch):
        from scipy.linalg import qr

        if self.gaussian:
            W = ch.w
        else:
            eta = ch.X @ self.beta + ch.off
            mu = self.family.link.inverse(eta)
            W = ch.w * self.family.link.mu_eta(eta) ** 2 / self.family.variance(mu)
        return RFactor(qr(ch.X * np.sqrt(W)[:, None], mode="r")[0])


def weighted_r_factor(model) -> np.ndarray:
    fam = model.family_
    gaussian = fam.name == "gaussian" and fam.link.name == "identity"
    R = dask_training(model).uncentred().reduce(
        WeightedRKernel(fam, model.coef_.to_numpy(), gaussian)).R
    p = R.shape[1]
    return np.vstack([R, np.zeros((max(0, p - R.shape[0]), p))])[:p]

