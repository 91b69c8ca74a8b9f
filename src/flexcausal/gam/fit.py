"""Gaussian REML smoothing-parameter selection by Newton's method on rho = log(lambda).

Works entirely on the p x p cross-products (X'X, X'y, y'y), so its cost does not grow
with N. The criterion is mgcv's REML score with the scale profiled out (Wood 2011,
JRSS-B 73(1), eq. 4; Wood 2017, Sec. 6.6):

    V(rho) = c [1 + log(2 pi D / (n - M_p))] + 1/2 log|X'X + S| - 1/2 log|S|_+,
    D = ||y - X b||^2 + b'S b,  c = (n - M_p) / 2,  S = sum_j exp(rho_j) S_j,

minimised with the exact gradient and Hessian (envelope theorem for D; trace identities
for the log-determinants). ``phi = D / (n - M_p)`` is mgcv's REML scale estimate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_factor, cho_solve

from .blocks import CrossProducts
from .optimize import RHO_BOUND, newton_minimize


@dataclass
class PenaltyBlock:
    """One smoothing parameter: S_j acting on coefficients ``cols``."""

    cols: slice
    S: np.ndarray
    rank: int

    @property
    def log_pdet(self) -> float:
        vals = np.linalg.eigvalsh(self.S)[::-1][: self.rank]
        return float(np.log(vals).sum())


@dataclass
class REMLFit:
    beta: np.ndarray
    rho: np.ndarray
    scale: float
    reml: float
    A_inv: np.ndarray  # (X'X + S_lambda)^{-1}
    penalized_rss: float
    n_iter: int
    converged: bool
    gradient: np.ndarray


def total_penalty(blocks: list[PenaltyBlock], rho: np.ndarray, p: int) -> np.ndarray:
    S = np.zeros((p, p))
    for blk, r in zip(blocks, rho, strict=True):
        S[blk.cols, blk.cols] += np.exp(r) * blk.S
    return S


class GaussianREML:
    """REML score, gradient and Hessian in rho for fixed cross-products."""

    def __init__(self, cp: CrossProducts, blocks: list[PenaltyBlock], log_weight_sum=0.0):
        self.cp, self.blocks = cp, blocks
        self.log_weight_sum = log_weight_sum  # prior weights: ls gains + 1/2 sum log w
        self.p = cp.XtX.shape[0]
        self.null_dim = self.p - sum(b.rank for b in blocks)  # M_p
        self.c = 0.5 * (cp.n - self.null_dim)
        if self.c <= 0:
            raise ValueError(
                f"too few observations ({cp.n}) for {self.null_dim} unpenalized coefficients"
            )
        self._log_pdet = np.array([b.log_pdet for b in blocks])
        self._rank = np.array([b.rank for b in blocks], dtype=float)

    def solve(self, rho: np.ndarray):
        A = self.cp.XtX + total_penalty(self.blocks, rho, self.p)
        factor = cho_factor(A, lower=True)
        beta = cho_solve(factor, self.cp.Xty)
        D = self.cp.yty - beta @ self.cp.Xty
        # exact interpolation: keep D (and D^2 in the Hessian) away from 0 and underflow
        D = max(D, np.finfo(float).eps * max(self.cp.yty, 1.0))
        logdet_A = 2.0 * np.log(np.diag(factor[0])).sum()
        return factor, beta, D, logdet_A

    def score(self, rho: np.ndarray) -> float:
        _, _, D, logdet_A = self.solve(rho)
        return self._score(rho, D, logdet_A)

    def _score(self, rho, D, logdet_A) -> float:
        n_eff = 2.0 * self.c
        log_S = float(self._rank @ rho + self._log_pdet.sum())
        return (self.c * (1.0 + np.log(2.0 * np.pi * D / n_eff)) + 0.5 * logdet_A - 0.5 * log_S
                - 0.5 * self.log_weight_sum)

    def derivatives(self, rho: np.ndarray):
        """Score, gradient and Hessian at rho (exact)."""
        factor, beta, D, logdet_A = self.solve(rho)
        A_inv = cho_solve(factor, np.eye(self.p))
        lam = np.exp(rho)
        k = len(self.blocks)
        G = []  # G_j = A^{-1}[:, cols_j] S_j   (p x p_j)
        b = []  # S_j beta_j
        v = []  # A^{-1}[:, cols_j] S_j beta_j = -d beta / d rho_j / lambda_j
        tr = np.empty(k)
        q = np.empty(k)
        for j, blk in enumerate(self.blocks):
            Gj = A_inv[:, blk.cols] @ blk.S
            bj = blk.S @ beta[blk.cols]
            G.append(Gj)
            b.append(bj)
            v.append(A_inv[:, blk.cols] @ bj)
            tr[j] = np.trace(Gj[blk.cols])
            q[j] = beta[blk.cols] @ bj
        dD = lam * q
        grad = self.c * dD / D + 0.5 * lam * tr - 0.5 * self._rank
        hess = np.empty((k, k))
        for j, bj_blk in enumerate(self.blocks):
            for m, bm_blk in enumerate(self.blocks[: j + 1]):
                tr_jm = np.sum(G[j][bm_blk.cols] * G[m][bj_blk.cols].T)
                d2D = -2.0 * lam[j] * lam[m] * (b[j] @ v[m][bj_blk.cols])
                d2logA = -lam[j] * lam[m] * tr_jm
                if j == m:
                    d2D += dD[j]
                    d2logA += lam[j] * tr[j]
                hess[j, m] = hess[m, j] = self.c * (d2D / D - dD[j] * dD[m] / D**2) + 0.5 * d2logA
        return self._score(rho, D, logdet_A), grad, hess, beta, D, A_inv


def initial_rho(XtX: np.ndarray, blocks: list[PenaltyBlock]) -> np.ndarray:
    """mgcv ``initial.sp``-style start: lambda_j balances diag(S_j) against diag(X'WX)."""
    rho = []
    for blk in blocks:
        dxx = np.diag(XtX)[blk.cols]
        dss = np.diag(blk.S)
        ok = dss > dss.max() * 1e-10
        rho.append(np.log(max(dxx[ok].mean(), 1e-12) / dss[ok].mean()))
    return np.clip(np.array(rho), -RHO_BOUND + 1, RHO_BOUND - 1)


def fit_reml(
    cp: CrossProducts,
    blocks: list[PenaltyBlock],
    sp: np.ndarray | None = None,
    log_weight_sum: float = 0.0,
    quiet: bool = False,
) -> REMLFit:
    """Minimise the REML score over rho (Newton, exact Hessian); ``sp`` fixes lambda."""
    crit = GaussianREML(cp, blocks, log_weight_sum)

    def derivatives(rho):
        value, grad, hess, beta, D, A_inv = crit.derivatives(rho)
        return value, grad, hess, (beta, D, A_inv)

    if sp is not None or not blocks:
        rho = np.log(np.asarray(sp, dtype=float)) if blocks else np.zeros(0)
        value, grad, _, (beta, D, A_inv) = derivatives(rho)
        return _result(crit, rho, value, grad, beta, D, A_inv, 0, True)
    res = newton_minimize(derivatives, crit.score, initial_rho(cp.XtX, blocks), quiet=quiet)
    beta, D, A_inv = res.payload
    return _result(crit, res.rho, res.score, res.grad, beta, D, A_inv, res.n_iter, res.converged)


def _result(crit, rho, score, grad, beta, D, A_inv, it, converged) -> REMLFit:
    scale = D / (2.0 * crit.c)
    return REMLFit(beta, rho, scale, score, A_inv, D, it, converged, grad)
