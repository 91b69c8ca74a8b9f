"""Gaussian REML / ML smoothing-parameter selection by Newton's method on rho = log(lambda).

Works on the QR factor of the augmented weighted model matrix [X_c, y] accumulated
block by block (blocks.py), so its cost does not grow with N. The criterion is mgcv's
REML score with the scale profiled out (Wood 2011, JRSS-B 73(1), eq. 4; Wood 2017,
Sec. 6.6):

    V(rho) = c [1 + log(2 pi D / (n - M_p))] + 1/2 log|X'X + S| - 1/2 log|S|_+,
    D = ||y - X b||^2 + b'S b,  c = (n - M_p) / 2,  S = sum_j exp(rho_j) S_j,

minimised with the exact gradient and Hessian (envelope theorem for D; trace identities
for the log-determinants). ``phi = D / (n - M_p)`` is mgcv's REML scale estimate.

Accuracy at the edges (stable.py): D = ||f - R b||^2 + r^2 + b'S b is a sum of
non-negative terms (r^2 the unpenalized residual sum of squares from the QR), the
log-determinant difference never subtracts large numbers, and with F = A^{-1}X'X,
P = A^{-1}S_lambda the derivatives are

    dV/drho_j   = c dD_j / D - 1/2 sum_{i in j} F_ii,            dD_j = lambda_j b'S_j b,
    d2 log|A|   = -sum_{i in j, k in m} P_ik P_ki  (j != m),
                  sum_{i in j} [(P F)_ii + sum_{k not in j} P_ik P_ki]  (j = m),

each a sum of terms that vanish as lambda_j -> infinity instead of a difference of
numbers near rank_j.

Overlapping penalties (tensor products, reparam.py): with L_j = lambda_j S_j and
Pi_j = S_lambda^+ L_j, dD_j = b'L_j b, the gradient term is -1/2 tr(F Pi_j) (both
log-determinants at once, stable.PenalizedFactor.edf_excess), and d2D_jk uses
s_j = L_j b; the Hessian of log|A| - log|S|_+ is in ``logdet_hessian``. The working
basis of a factor, ``fac.T``, then depends on rho; coefficients b_r are always in the
basis of the factor they came from. M_p is the dimension of the null space of the
total penalty (``rp.null_dim``), not p minus the sum of the penalties' ranks.

**ML** (``method="ML"``; mgcv ``gam.fit3`` with ``remlInd = 0`` and C ``MLpenalty1``;
Wood 2011, Sec. 2.1): the M_p null-space coefficients b_0 are fixed effects, maximised
over instead of integrated out under a flat prior. With U = [U_r, U_0] orthonormal, U_0 a
basis of the null space of S (original coefficients), the Laplace (exact, here) marginal
likelihood of b_r ~ N(0, phi S_r^-), maximised over b_0, gives

    V_ML(rho, phi) = D / (2 phi) + n/2 log(2 pi phi) - 1/2 sum log w
                     + 1/2 log|A_rr| - 1/2 log|S|_+,          A_rr = U_r'A U_r,

so no M_p/2 log(2 pi phi) term, and the profiled scale is phi = D / n (c = n / 2 above).
log|A_rr| = log|A| + log|U_0'A^{-1}U_0| (Schur complement): the REML log-determinant
plus a correction of M_p x M_p size whose derivatives vanish as lambda_j -> infinity
(stable.PenalizedFactor.null_logdet). Unlike REML, ML depends on which complement of
the null space is integrated over; mgcv (and this module) take the orthogonal one in
the model's coefficient basis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import qr

from .backend import one_blas_thread
from .optimize import RHO_BOUND, newton_minimize, polish
from .reparam import (
    PenaltyBlock,
    Reparametrization,
    basis_map,
    centring_matrix,
    total_penalty,
)
from .stable import PenalizedFactor, psd_sqrt

__all__ = ["GaussianREML", "PenaltyBlock", "Posterior", "QRStats", "REMLFit", "fit_reml",
           "initial_rho", "needs_qr", "total_penalty"]


@dataclass
class QRStats:
    """R_aug = qr([sqrt(W) X_c, sqrt(W) y]): R'R = X_c'WX_c, f = Q'sqrt(W)y and
    r2 = the residual sum of squares of the unpenalized least-squares fit."""

    R: np.ndarray
    f: np.ndarray
    r2: float
    n: int
    shift: np.ndarray  # centring m: X_c = X - 1 m'
    max_row_abs_sum: np.ndarray  # per term ||X_term||_inf of the uncentred X

    @classmethod
    def from_augmented(cls, R_aug: np.ndarray, n: int, shift, rowmax) -> QRStats:
        p = R_aug.shape[1] - 1
        if R_aug.shape[0] < p + 1:
            R_aug = np.vstack([R_aug, np.zeros((p + 1 - R_aug.shape[0], p + 1))])
        return cls(R_aug[:p, :p], R_aug[:p, p], float(R_aug[p, p] ** 2), n,
                   np.asarray(shift, dtype=float), np.asarray(rowmax))

    @classmethod
    def from_gram(cls, G: np.ndarray, b: np.ndarray, yty: float, n: int) -> QRStats:
        """From cross-products (working models of PQL): a square root of the augmented
        Gram matrix, made triangular by QR."""
        Z = np.block([[G, b[:, None]], [b[None, :], np.array([[yty]])]])
        R_aug = qr(psd_sqrt(Z).T, mode="r")[0]
        return cls.from_augmented(R_aug, n, np.zeros(len(b)), np.zeros(0))


@dataclass
class Posterior:
    """What a fit reports, in the original coefficient basis."""

    beta: np.ndarray
    A_inv: np.ndarray  # (X'WX + S)^{-1}
    F: np.ndarray  # A^{-1} X'WX


def posterior(fac: PenalizedFactor, beta_r: np.ndarray, shift: np.ndarray) -> Posterior:
    """Map a working-basis solution back to the original coefficients (b = B b_r)."""
    B, B_inv = basis_map(shift, fac)
    A_inv = B @ fac.inverse() @ B.T
    return Posterior(B @ beta_r, 0.5 * (A_inv + A_inv.T), B @ fac.F() @ B_inv)


@dataclass
class REMLFit:
    beta: np.ndarray
    rho: np.ndarray
    scale: float
    reml: float
    post: Posterior
    penalized_rss: float
    rss: float  # ||sqrt(W)(y - X b)||^2
    n_iter: int
    converged: bool
    gradient: np.ndarray


class GaussianREML:
    """REML score, gradient and Hessian in rho for a fixed QR factor."""

    def __init__(self, qrs: QRStats, blocks: list[PenaltyBlock], log_weight_sum=0.0,
                 method: str = "REML"):
        self.qrs, self.blocks = qrs, blocks
        self.log_weight_sum = log_weight_sum  # prior weights: ls gains + 1/2 sum log w
        self.p = qrs.R.shape[1]
        self.rp = Reparametrization.from_blocks(blocks, self.p)
        self.null_dim = self.rp.null_dim  # M_p
        self.ml = method == "ML"
        # ML keeps all n observations in the scale term (no M_p: the null space is
        # maximised over, not integrated out) and adds 1/2 log|M| (module docstring)
        self.c = 0.5 * (qrs.n - (0 if self.ml else self.null_dim))
        self.U0 = null_basis(self.rp) if self.ml else None
        if self.c <= 0:
            raise ValueError(
                f"too few observations ({qrs.n}) for {self.null_dim} unpenalized coefficients"
            )
        self._floor = np.finfo(float).eps * max(float(qrs.f @ qrs.f) + qrs.r2, 1e-300)

    def solve(self, rho: np.ndarray):
        fac = PenalizedFactor(self.rp, rho, R=self.qrs.R)
        beta_r = fac.least_squares(self.qrs.f)
        resid = self.qrs.f - (self.qrs.R @ fac.T) @ beta_r
        D = float(resid @ resid + self.qrs.r2 + fac.penalty_value(beta_r))
        # exact interpolation: keep D (and D^2 in the Hessian) away from 0 and underflow
        return fac, beta_r, max(D, self._floor)

    @one_blas_thread
    def score(self, rho: np.ndarray) -> float:
        fac, _, D = self.solve(rho)
        return self._score(fac, D) + 0.5 * self.null_term(fac)[0]

    def _score(self, fac, D) -> float:
        n_eff = 2.0 * self.c
        return (self.c * (1.0 + np.log(2.0 * np.pi * D / n_eff)) + 0.5 * fac.logdet_rel
                - 0.5 * self.log_weight_sum)

    def null_term(self, fac: PenalizedFactor, order: int = 0):
        """ML only (else zeros): log|M| = log|A_rr| - log|A| and its derivatives
        (stable.PenalizedFactor.null_logdet), M = U_0'A^{-1}U_0 in the original basis."""
        if not self.ml:
            k = len(self.blocks)
            return 0.0, np.zeros(k), np.zeros((k, k))
        B, _ = basis_map(self.qrs.shift, fac)
        return fac.null_logdet(B.T @ self.U0, order)

    @one_blas_thread
    def derivatives(self, rho: np.ndarray):
        """Score, gradient, Hessian at rho (exact), and (factor, b_r, D)."""
        fac, beta_r, D = self.solve(rho)
        dD = fac.penalty_quadratics(beta_r)  # b'L_j b (working basis)
        grad = self.c * dD / D - 0.5 * fac.edf_excess()
        sv = fac.penalty_vectors(beta_r)  # columns s_j = L_j b
        Z = fac.Rinv.T @ (fac.c[:, None] * sv)  # s_j'A^{-1}s_m = Z_j'Z_m
        d2D = np.diag(dD) - 2.0 * Z.T @ Z
        hess = self.c * (d2D / D - np.outer(dD, dD) / D**2) + 0.5 * logdet_hessian(fac)
        value = self._score(fac, D)
        if self.ml:
            lm, gm, hm = self.null_term(fac, order=2)
            value, grad, hess = value + 0.5 * lm, grad + 0.5 * gm, hess + 0.5 * hm
        return value, grad, hess, (fac, beta_r, D)


def null_basis(rp: Reparametrization) -> np.ndarray:
    """U_0: orthonormal basis (original coefficients) of the null space of the total
    penalty, the columns no penalty reaches in the orthogonal basis rp.T (mgcv
    ``totalPenaltySpace``'s Z); its orthogonal complement is the range space that ML
    integrates over."""
    return rp.T[:, ~rp.penalized]


def logdet_hessian(fac: PenalizedFactor) -> np.ndarray:
    """d2 [log|A| - log|S|_+] / drho drho' from F~ and P~ without cancellation (module
    docstring; log|S|_+ is linear in rho on the diagonal path). Overlapping groups'
    rows and columns: stable.PenalizedFactor.hessian_logdet_groups."""
    rp, Fs, Ps = fac.rp, fac.F_scaled(), fac.P_scaled()
    ind = rp.indicator()
    E = Ps * Ps.T
    H = -(ind.T @ E @ ind)
    same = rp.owner[:, None] == rp.owner[None, :]
    E_off = np.where(same, 0.0, E)
    diag = rp.block_sums(np.einsum("ij,ji->i", Ps, Fs)) + ind.T @ E_off.sum(axis=1)
    H[np.diag_indices_from(H)] = diag
    if rp.groups:
        fac.hessian_logdet_groups(H)
    return H


def limit_excess(fac: PenalizedFactor) -> tuple[np.ndarray, np.ndarray]:
    """Per smoothing parameter: (edf above the fully penalized limit, edf below the
    unpenalized limit) = (tr(F Pi_j), tr(P_j)); on the diagonal path (sum F_ii, sum P_ii)
    over its penalized columns."""
    return fac.edf_excess(), fac.pen_excess()


def needs_qr(qrs: QRStats, blocks: list[PenaltyBlock], tol: float = 1e4) -> bool:
    """Whether a factor from the Gram matrix (blocks.accumulate ``"gram"``) may have lost
    accuracy that the QR pass keeps: the penalty cannot regularize the unpenalized
    columns, so their column-scaled condition number enters squared (above ``tol``,
    more than 8 digits are at risk); and a near interpolation (residual sum of squares
    below 1e-8 of the total, centred, sum of squares) loses r^2 to cancellation.
    """
    rp = Reparametrization.from_blocks(blocks, qrs.R.shape[1])
    Ru = (qrs.R @ rp.T)[:, ~rp.penalized]
    if Ru.shape[1]:
        norms = np.sqrt(np.einsum("ij,ij->j", Ru, Ru))
        if np.any(norms == 0) or np.linalg.cond(Ru / norms) > tol:
            return True
    tss = float(qrs.f[1:] @ qrs.f[1:]) + qrs.r2 if np.any(qrs.shift) else (
        float(qrs.f @ qrs.f) + qrs.r2)
    return qrs.r2 < 1e-8 * tss


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
    qrs: QRStats,
    blocks: list[PenaltyBlock],
    sp: np.ndarray | None = None,
    log_weight_sum: float = 0.0,
    quiet: bool = False,
    y_scale: float = 1.0,
    method: str = "REML",
) -> REMLFit:
    """Minimise the REML (or ML) score over rho (Newton, exact Hessian); ``sp`` fixes
    lambda. The returned ``scale`` is the one the criterion profiles: D / (n - M_p) for
    REML, D / n for ML.

    ``y_scale``: ``qrs`` was accumulated for y / y_scale (so that D, D^2 neither
    underflow nor overflow whatever the units of y); coefficients, D and the scale are
    mapped back, and the score gains c log(y_scale^2) (V is equivariant: V(a y) =
    V(y) + c log a^2, Wood 2011 eq. 4), so results mean what they mean for y itself.
    """
    crit = GaussianREML(qrs, blocks, log_weight_sum, method=method)
    if sp is not None or not blocks:
        rho = np.log(np.asarray(sp, dtype=float)) if blocks else np.zeros(0)
        value, grad, _, payload = crit.derivatives(rho)
        n_iter, converged = 0, True
    else:
        R_orig = qrs.R @ centring_matrix(qrs.shift, inverse=True)  # X = X_c M^{-1}
        XtX = R_orig.T @ R_orig
        res = newton_minimize(crit.derivatives, crit.score, initial_rho(XtX, blocks),
                              quiet=quiet, limits=lambda pl: limit_excess(pl[0]),
                              what=method)
        rho, value, grad, payload = res.rho, res.score, res.grad, res.payload
        n_iter, converged = res.n_iter, res.converged
        polished = polish(res)
        if not np.array_equal(polished, rho):  # a last Newton step (optimize.polish)
            rho = polished
            value, grad, _, payload = crit.derivatives(rho)
    fac, beta_r, D = payload
    resid = qrs.f - (qrs.R @ fac.T) @ beta_r
    rss = float(resid @ resid + qrs.r2)
    a2 = y_scale**2
    post = posterior(fac, beta_r * y_scale, qrs.shift)
    value = value + crit.c * np.log(a2)
    return REMLFit(post.beta, rho, a2 * D / (2.0 * crit.c), value, post, a2 * D, a2 * rss,
                   n_iter, converged, grad)
