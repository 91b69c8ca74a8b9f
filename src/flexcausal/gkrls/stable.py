"""A factor of A = X'WX + S_lambda that stays accurate for any spread of lambda.

Works in the diagonal-penalty basis of ``reparam.py`` (S_lambda = diag(l), l_i = 0 on
unpenalized columns). With column scales c_i = (||R e_i||^2 + l_i)^{-1/2} (or
(G_ii + l_i)^{-1/2} from a Gram matrix G), the scaled matrix
A~ = C A C = R~'R~ + diag(s^2), R~ = R C, s_i^2 = c_i^2 l_i <= 1, has a unit diagonal and a
condition number that no longer grows with lambda; it is factored as A~ = Rt'Rt by QR of
[R~; diag(s)] (from a QR factor R of sqrt(W) X: Wood 2011, JRSS-B 73(1), Sec. 3.2) or by
Cholesky (from X'WX, under full-Newton weights). Everything REML needs is then formed
from well-scaled pieces without subtracting large numbers:

    log|A| - log|S|_+ = 2 sum log|Rt_ii| + sum_pen log1p(b_i / l_i) + sum_unpen log b_i,
    F = A^{-1} X'WX and P = A^{-1} S_lambda = I - F, similar (by C) to
    F~ = A~^{-1} R~'R~ and P~ = A~^{-1} diag(s^2),

with b_i = ||R e_i||^2 (or G_ii). Diagonals and block traces of products of F and P are
invariant under the diagonal similarity, so edf_i = F~_ii is computed directly (1 exactly
on unpenalized columns, never as 1 minus a number close to 1).
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import LinAlgError, cholesky, solve_triangular

from .reparam import Reparametrization


class PenalizedFactor:
    """Scaled factor of R'R + S_lambda (or G + S_lambda) in the reparametrized basis.

    ``R`` or ``G`` are given in the basis *before* the penalty rotation T; the factor
    rotates them itself. Vectors passed to ``solve`` are in the rotated basis.
    """

    def __init__(self, rp: Reparametrization, rho: np.ndarray, *, R=None, G=None):
        self.rp = rp
        lam_d = rp.lam_d(rho)
        pen = rp.penalized
        p = len(lam_d)
        if R is not None:
            Rr = R @ rp.T
            base = np.einsum("ij,ij->j", Rr, Rr)
        else:
            Gr = rp.T.T @ G @ rp.T
            Gr = 0.5 * (Gr + Gr.T)
            base = np.diag(Gr).copy()
        diag = base + lam_d
        if np.any(~(diag > 0)):
            bad = np.flatnonzero(~(diag > 0))
            raise LinAlgError(f"columns {bad.tolist()} of the model matrix are zero and "
                              "unpenalized")
        c = 1.0 / np.sqrt(diag)
        s = np.sqrt(lam_d) * c
        self.c, self.s2, self.lam_d = c, s * s, lam_d
        if R is not None:
            Rs = Rr * c
            M = np.vstack([Rs, np.diag(s)[pen]])
            Q, Rt = np.linalg.qr(M)
            self._Q_top = Q[: Rs.shape[0]]
            self.Gs = Rs.T @ Rs
        else:
            self.Gs = c[:, None] * Gr * c[None, :]
            As = self.Gs + np.diag(self.s2)
            Rt = cholesky(As, lower=False)  # LinAlgError if not positive definite
            self._Q_top = None
        d = np.abs(np.diag(Rt))
        if np.any(d <= 10.0 * p * np.finfo(float).eps):
            raise LinAlgError("penalized model matrix is numerically singular")
        self.Rt = Rt
        self.Rinv = solve_triangular(Rt, np.eye(p))
        self.Ainv_s = self.Rinv @ self.Rinv.T
        with np.errstate(divide="ignore"):
            rel = np.where(pen, np.log1p(base / np.where(pen, lam_d, 1.0)), np.log(base))
        self.logdet_rel = float(2.0 * np.log(d).sum() + rel.sum())  # log|A| - log|S|_+
        self.logdet = float(2.0 * np.log(d).sum() - 2.0 * np.log(c).sum())

    # ------------------------------------------------------------------ solves
    def solve(self, b: np.ndarray) -> np.ndarray:
        """A^{-1} b (rotated basis; b a vector or a p x k matrix)."""
        c = self.c if np.ndim(b) == 1 else self.c[:, None]
        return c * (self.Ainv_s @ (c * b))

    def least_squares(self, f: np.ndarray) -> np.ndarray:
        """argmin ||f - R b||^2 + b'S_lambda b via the orthogonal factor (QR path only)."""
        return self.c * solve_triangular(self.Rt, self._Q_top.T @ f)

    def inverse(self) -> np.ndarray:
        """A^{-1} (rotated basis)."""
        return self.c[:, None] * self.Ainv_s * self.c[None, :]

    def inverse_sqrt(self) -> np.ndarray:
        """L with A^{-1} = L L' (rotated basis)."""
        return self.c[:, None] * self.Rinv

    # ------------------------------------------------------------ REML pieces
    def F_scaled(self) -> np.ndarray:
        """F~ = A~^{-1} R~'R~ (similar to F = A^{-1} X'WX), unit diagonal where unpenalized."""
        F = self.Ainv_s @ self.Gs
        # unpenalized rows: F~ = e_i' - P~_i exactly (P~ has zero columns there), so the
        # diagonal is 1 and never a rounded sum
        u = np.flatnonzero(~self.rp.penalized)
        F[u] = -self.P_scaled()[u]
        F[u, u] += 1.0
        return F

    def P_scaled(self) -> np.ndarray:
        """P~ = A~^{-1} diag(s^2) (similar to P = A^{-1} S_lambda)."""
        return self.Ainv_s * self.s2[None, :]

    def F(self) -> np.ndarray:
        """F = A^{-1} X'WX in the rotated basis."""
        return self.c[:, None] * self.F_scaled() / self.c[None, :]


def psd_sqrt(V: np.ndarray) -> np.ndarray:
    """L with L L' = V for a symmetric positive semi-definite V (negative round-off
    eigenvalues set to 0), so that sqrt(diag(X V X')) = ||X L|| row-wise is never NaN."""
    V = 0.5 * (V + V.T)
    try:
        return cholesky(V, lower=True)
    except LinAlgError:
        vals, vecs = np.linalg.eigh(V)
        return vecs * np.sqrt(np.clip(vals, 0.0, None))
