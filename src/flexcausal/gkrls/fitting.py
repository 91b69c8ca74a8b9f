"""Fitting a set-up model: Gaussian REML on p x p statistics, or LAML around PIRLS.

``method`` is "REML" or "ML" (mgcv ``gam(method=)``; ML drops the null-space terms of
REML: fit.py's module docstring).

Gaussian identity fits are two steps: one streamed pass over the rows builds the
triangular factor of [X, y] (blocks.py); REML then runs on p x p matrices only
(fit.py). Other exponential families run penalized IRLS inside Laplace-approximate
REML (pirls.py). Both return a ``result.FitResult``; nothing here knows the GAM class.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass

import numpy as np

from .backend import SMALL_P, blas_one_thread
from .blocks import accumulate_rows, first_block_centring
from .design import StreamedDesign, make_design
from .fit import PenaltyBlock, fit_reml, needs_qr
from .pirls import GLMProblem, PassKernel, PassStats, fit_laml
from .reparam import total_penalty
from .result import FitResult
from .rows import ArrayRows
from .terms import term_slices

METHODS = ("REML", "ML")


def fitted_method(method: str, family) -> str:
    """The criterion a fit with ``method`` really uses: mgcv ``gam`` fits general families
    (``multinom``, ``gam.fit5``) by REML whatever ``method`` says (mgcv 1.8-41
    ``estimate.gam``); everything else as asked."""
    return "REML" if family.name == "multinom" else method


def _small_p_on_one_thread(fit):
    """Run a fit with BLAS pinned to one thread when it has at most SMALL_P coefficients:
    its p x p algebra is faster so, and its row passes use the cores through the thread
    pool anyway (backend.blas_one_thread)."""

    @functools.wraps(fit)
    def run(terms, *args, **kwargs):
        flat = [t for lp in terms for t in lp] if isinstance(terms[0], list) else terms
        with blas_one_thread(sum(t.n_coef for t in flat) <= SMALL_P):
            return fit(terms, *args, **kwargs)

    return run


def penalty_blocks(terms) -> list[PenaltyBlock]:
    """One block per penalty of every term (a term may have several, e.g. te())."""
    slices = term_slices(terms)
    return [PenaltyBlock(slices[t.label], S, rank)
            for t in terms for S, rank in zip(t.penalties, t.penalty_ranks, strict=True)]


def has_intercept(terms) -> bool:
    first = terms[0]
    return first.kind == "parametric" and first.coef_names[:1] == ["(Intercept)"]


@dataclass
class ResponseStats:
    """What the fits need to know about y and the prior weights before the first pass
    (from the arrays in memory, or from the metadata pass over Dask partitions)."""

    n: int  # rows
    n_pos: int  # rows with positive weight
    ybar: float  # weighted mean of y
    y_scale: float  # RMS of y - offset (Gaussian: REML on y / y_scale)
    log_weight_sum: float  # sum of log w over rows with w > 0

    @classmethod
    def of(cls, y, w, off) -> ResponseStats:
        return cls(len(y), int(np.sum(w > 0)), float(np.average(y, weights=w)),
                   _rms(y - off), float(np.sum(np.log(w[w > 0]))))


@_small_p_on_one_thread
def fit_gaussian(terms, encodings, y, w, off, sp, weighted: bool, block_rows: int,
                 log_weight_sum: float, method: str = "REML") -> FitResult:
    """Identity link on in-memory data: ``fit_gaussian_rows`` on the terms' encodings
    streamed block by block."""
    shift = first_block_centring(terms, encodings, block_rows, has_intercept(terms))
    rows = ArrayRows(StreamedDesign(terms, encodings, block_rows, shift), y, w, off)
    stats = ResponseStats.of(y, w, off)
    stats.log_weight_sum = log_weight_sum
    return fit_gaussian_rows(terms, rows, sp, weighted, stats, method)


@_small_p_on_one_thread
def fit_gaussian_rows(terms, rows, sp, weighted: bool, stats: ResponseStats,
                      method: str = "REML") -> FitResult:
    """Identity link: one pass over the row source to the factor of [X, y], then REML
    (or ML) on p x p. The reported scale is REML's D / (n - M_p); under ML (whose own
    estimate is D / n, ``reml_scale``) it is mgcv's ``scale.est``, RSS / (n - sum edf),
    as mgcv reports and uses in Vp."""
    # REML is equivariant in the units of y (fit_reml): fit y / a, with a the RMS
    # of y, so that D and D^2 neither underflow nor overflow
    a = stats.y_scale
    qrs, null_dev = accumulate_rows(rows, a, weighted, "gram", stats.ybar)
    for term, rowmax in zip(terms, qrs.max_row_abs_sum, strict=True):
        term.finish(rowmax)
    blocks = penalty_blocks(terms)
    if needs_qr(qrs, blocks):  # ill-conditioned or interpolating: exact QR pass
        qrs = accumulate_rows(rows, a, weighted, "qr")[0]
    qrs.n = stats.n_pos
    res = fit_reml(qrs, blocks, sp=sp, log_weight_sum=stats.log_weight_sum, y_scale=a,
                   method=method)
    post = res.post
    edf = np.diag(post.F).copy()
    scale = res.scale if method == "REML" else res.rss / (qrs.n - edf.sum())
    Vp = post.A_inv * scale
    # residual mean is 0 with an intercept, so var(resid) (n-1) = weighted RSS
    r2 = 1.0 - (res.rss / (qrs.n - edf.sum())) / (null_dev / (qrs.n - 1))
    return FitResult(post.beta, np.exp(res.rho), edf, Vp, post.F @ Vp, post.F,
                     float(scale), float(res.scale), float(res.reml), float(res.rss),
                     float(null_dev), float(r2), bool(res.converged), int(res.n_iter), None)


@_small_p_on_one_thread
def fit_glm(terms, encodings, y, w, off, family, sp, block_rows: int,
            memory_budget: float, method: str = "REML") -> FitResult:
    """Other exponential families on in-memory data: the model matrix cached (or
    streamed when it does not fit ``memory_budget``), then ``fit_glm_rows``."""
    X, rowmax = make_design(terms, encodings, block_rows, memory_budget,
                            intercept=has_intercept(terms))
    rows = ArrayRows(X, y, w, off, rowmax=rowmax)
    return fit_glm_rows(terms, rows, family, sp, method)


@_small_p_on_one_thread
def fit_glm_rows(terms, rows, family, sp, method: str = "REML") -> FitResult:
    """Exponential families on any row source (rows.py): penalized IRLS inside LAML,
    every pass a reduction over the row blocks (pirls.py)."""
    # an iterative fit: a row source that can keep expanded blocks between passes does
    # (dask_cache.py), from the first pass to the last
    with getattr(rows, "cached_blocks", contextlib.nullcontext)():
        start, rowmax = rows.reduce(PassKernel(family, None), rowmax=True)
        for term, m in zip(terms, rowmax, strict=True):
            term.finish(m)
        blocks = penalty_blocks(terms)
        problem = GLMProblem.on_rows(rows, family, blocks, method=method)
        problem._start = PassStats.of(start, newton=True)
        res = fit_laml(problem, sp=sp)
        final = res.state.stats
        if final.fit_sums is None:  # the fitted pass was the start pass itself
            final = problem.evaluate(res.state.beta, newton=final.newton, gram=False)
    post = res.post
    Vp = post.A_inv * res.scale
    edf = np.diag(post.F).copy()
    null_dev, sums, n = final.fit_sums
    r2 = _r2_from_sums(sums, n, problem.n_pos, edf.sum())
    return FitResult(post.beta, np.exp(res.rho), edf, Vp, post.F @ Vp, post.F,
                     float(res.scale), float(res.reml_scale), float(res.reml),
                     float(res.state.deviance), float(null_dev), r2, bool(res.converged),
                     int(res.n_iter), None)


def _rms(v: np.ndarray) -> float:
    """Root mean square of v without overflow or underflow (1 for v = 0)."""
    top = float(np.max(np.abs(v)))
    if not (top > 0 and np.isfinite(top)):
        return 1.0
    return top * float(np.sqrt(np.mean((v / top) ** 2)))


def _r2_from_sums(sums, n_rows: int, n_pos: int, edf) -> float:
    """mgcv summary.gam: 1 - var(sqrt(w)(y - mu)) (n - 1) / (var(sqrt(w)(y - ybar))
    df_resid), the variances over all rows from their sums and sums of squares."""
    s1, q1, s0, q0 = sums
    var1 = (q1 - s1 * s1 / n_rows) / (n_rows - 1)
    var0 = (q0 - s0 * s0 / n_rows) / (n_rows - 1)
    return float(1 - var1 * (n_pos - 1) / (var0 * (n_pos - edf)))


@_small_p_on_one_thread
def fit_likelihood(lp_terms, lp_encodings, y, w, off, family, sp, block_rows: int,
                   method: str = "REML") -> FitResult:
    """Extended / general families (ocat, nb, multinom; likelihood.py): one model matrix
    per linear predictor, penalized Newton inside LAML over (rho, theta). ``method`` as
    the caller resolved it (mgcv fits general families such as multinom by REML only)."""
    from .blocks import build_design
    from .likelihood import fit_likelihood_laml

    designs, blocks, start = [], [], 0
    for terms, encodings in zip(lp_terms, lp_encodings, strict=True):
        X, rowmax = build_design(terms, encodings, block_rows)
        for term, m in zip(terms, rowmax, strict=True):
            term.finish(m)
        for blk in penalty_blocks(terms):
            cols = slice(blk.cols.start + start, blk.cols.stop + start)
            blocks.append(PenaltyBlock(cols, blk.S, blk.rank))
        designs.append(X)
        start += X.shape[1]
    res = fit_likelihood_laml(designs, blocks, y, w, family, sp=sp, offset=off,
                              method=method)
    p = res.beta.size
    S = total_penalty(blocks, res.rho, p) if blocks else np.zeros((p, p))
    F = np.eye(p) - res.Vp @ S  # Vp (X'WX + S - S) with Vp = (X'WX + S)^{-1}
    eta = res.eta
    fam_loglik = res.loglik
    return FitResult(res.beta, res.sp, res.edf, res.Vp, F @ res.Vp, F, 1.0, 1.0,
                     float(res.reml_mgcv), float(-2.0 * fam_loglik), float("nan"),
                     float("nan"), bool(res.converged), int(res.n_iter),
                     eta[:, 0] if eta.shape[1] == 1 else eta, res.theta_natural)

