"""A factor of A = X'WX + S_lambda that stays accurate for any spread of lambda.

Works in the penalty basis of ``reparam.py``: S_lambda = diag(l) on the diagonal-path
columns (l_i = 0 on unpenalized ones) and, for each group of overlapping penalties, a
dense block S~_g in that group's rho-dependent stable basis (the factor's basis is
``T = rp.basis(rho)[0]``). With column scales c_i = (||R e_i||^2 + l_i)^{-1/2} (or
(G_ii + l_i)^{-1/2} from a Gram matrix G), l_i = (S_lambda)_ii, the scaled matrix
A~ = C A C = R~'R~ + E'E, R~ = R C, has a unit diagonal and a condition number that no
longer grows with lambda. E is a root of C S_lambda C: diag(s), s_i^2 = c_i^2 l_i <= 1, on
the diagonal path, and E_g = K_g diag(s_g) for a group (K_g the Cholesky factor of the
equilibrated S~_g, reparam.GroupState: E_g'E_g = C S~_g C). A~ is factored as A~ = Rt'Rt
by QR of [R~; E] (from a QR factor R of sqrt(W) X: Wood 2011, JRSS-B 73(1), Sec. 3.2)
or by Cholesky (from X'WX, under full-Newton weights). Everything REML needs is then
formed from well-scaled pieces without subtracting large numbers:

    log|A| - log|S|_+ = 2 sum log|Rt_ii| + sum_pen log1p(b_i / l_i) + sum_unpen log b_i
                        - 2 sum_groups sum log (K_g)_ii,
    F = A^{-1} X'WX and P = A^{-1} S_lambda = I - F, similar (by C) to
    F~ = A~^{-1} R~'R~ and P~ = A~^{-1} E'E,

with b_i = ||R e_i||^2 (or G_ii): on the diagonal path -log s_i^2 = log1p(b_i/l_i); for
a group log|C S~ C| = 2 sum log (K_g)_ii + sum log s_i^2. Diagonals and block traces of
products of F and P are invariant under the diagonal similarity, so edf_i = F~_ii is
computed directly (1 exactly on unpenalized columns, never as 1 minus a number close
to 1).

Derivatives in rho (``edf_excess``, ``pen_excess``, ``hessian_logdet`` and
fit.logdet_hessian) use L_j = lambda_j S_j (in the working basis) and
Pi_j = S_lambda^+ L_j. Because range(L_j) lies in range(S_lambda), A^{-1}L_j = (I - F)Pi_j,
so

    d/drho_j [log|A| - log|S|_+] = -tr(F Pi_j),
    d2/drho_j drho_k [...] = -delta_jk tr(F Pi_j) + tr(F Pi_j Pi_k) + tr(F Pi_k Pi_j)
                             - tr(F Pi_j F Pi_k),

which on the diagonal path (Pi_j the 0/1 projector on j's columns) are the sums over
F~ and P~ used since the first version; for a group Pi~_j = C^{-1} Pi_j C =
diag(1/s) M_j diag(s) with M_j from reparam.GroupState.projections, and the
off-diagonal entries of F~ entering these traces are taken as -P~ (F~ = I - P~),
whose columns carry the scale s of the column: the ratios s_b/s_a in Pi~ then never
multiply a round-off error of a larger size.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import LinAlgError, cholesky, solve_triangular

from .backend import one_blas_thread
from .reparam import Reparametrization


class PenalizedFactor:
    """Scaled factor of R'R + S_lambda (or G + S_lambda) in the reparametrized basis.

    ``R`` or ``G`` are given in the basis *before* the penalty rotation; the factor
    rotates them itself by ``self.T`` (``rp.T``, or with overlapping penalties
    ``rp.basis(rho)[0]``, which depends on rho). Vectors passed to ``solve`` and the
    coefficients it returns are in that rotated basis: b_c = T b_r.
    """

    @one_blas_thread
    def __init__(self, rp: Reparametrization, rho: np.ndarray, *, R=None, G=None):
        self.rp = rp
        self.T, self.groups = rp.basis(rho)
        lam_d = rp.lam_d(rho)
        pen = rp.penalized
        p = len(lam_d)
        if R is not None:
            Rr = R @ self.T
            base = np.einsum("ij,ij->j", Rr, Rr)
        else:
            Gr = self.T.T @ G @ self.T
            Gr = 0.5 * (Gr + Gr.T)
            base = np.diag(Gr).copy()
        lam = lam_d
        if self.groups:
            lam = lam_d.copy()
            for g, st in zip(rp.groups, self.groups, strict=True):
                lam[g.cols] = st.d**2
        diag = base + lam
        if np.any(~(diag > 0)):
            bad = np.flatnonzero(~(diag > 0))
            raise LinAlgError(f"columns {bad.tolist()} of the model matrix are zero and "
                              "unpenalized")
        c = 1.0 / np.sqrt(diag)
        s = np.sqrt(lam) * c
        self.c, self.s2, self.lam_d = c, s * s, lam_d
        self._E = [st.K * s[g.cols][None, :]
                   for g, st in zip(rp.groups, self.groups, strict=True)]
        if R is not None:
            Rs = Rr * c
            if self.groups:
                rows = [Rs, np.diag(s)[rp.diagonal]]
                for g, E in zip(rp.groups, self._E, strict=True):
                    Eg = np.zeros((len(g.cols), p))
                    Eg[:, g.cols] = E
                    rows.append(Eg)
                M = np.vstack(rows)
            else:
                M = np.vstack([Rs, np.diag(s)[pen]])
            Q, Rt = np.linalg.qr(M)
            self._Q_top = Q[: Rs.shape[0]]
            self.Gs = Rs.T @ Rs
        else:
            self.Gs = c[:, None] * Gr * c[None, :]
            As = self.Gs + self._scaled_penalty()
            Rt = cholesky(As, lower=False)  # LinAlgError if not positive definite
            self._Q_top = None
        d = np.abs(np.diag(Rt))
        if np.any(d <= 10.0 * p * np.finfo(float).eps):
            raise LinAlgError("penalized model matrix is numerically singular")
        self.Rt = Rt
        self.Rinv = solve_triangular(Rt, np.eye(p))
        self.Ainv_s = self.Rinv @ self.Rinv.T
        with np.errstate(divide="ignore"):
            rel = np.where(pen, np.log1p(base / np.where(pen, lam, 1.0)), np.log(base))
        self.logdet_rel = float(2.0 * np.log(d).sum() + rel.sum())  # log|A| - log|S|_+
        if self.groups:
            self.logdet_rel -= float(sum(2.0 * np.log(np.diag(st.K)).sum()
                                         for st in self.groups))
        self.logdet = float(2.0 * np.log(d).sum() - 2.0 * np.log(c).sum())
        self._F = self._P = self._pieces = None

    def _scaled_penalty(self) -> np.ndarray:
        """C S_lambda C = E'E (working basis)."""
        Sc = np.diag(self.s2)
        for g, E in zip(self.rp.groups, self._E, strict=True):
            Sc[np.ix_(g.cols, g.cols)] = E.T @ E
        return Sc

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
        if self._F is None:
            F = self.Ainv_s @ self.Gs
            # unpenalized rows: F~ = e_i' - P~_i exactly (P~ has zero columns there), so
            # the diagonal is 1 and never a rounded sum
            u = np.flatnonzero(~self.rp.penalized)
            F[u] = -self.P_scaled()[u]
            F[u, u] += 1.0
            self._F = F
        return self._F

    def P_scaled(self) -> np.ndarray:
        """P~ = A~^{-1} E'E (similar to P = A^{-1} S_lambda)."""
        if self._P is None:
            P = self.Ainv_s * self.s2[None, :]
            for g, E in zip(self.rp.groups, self._E, strict=True):
                P[:, g.cols] = self.Ainv_s[:, g.cols] @ (E.T @ E)
            self._P = P
        return self._P

    def F(self) -> np.ndarray:
        """F = A^{-1} X'WX in the rotated basis."""
        return self.c[:, None] * self.F_scaled() / self.c[None, :]

    # ------------------------------------------- penalty pieces of the derivatives
    def penalty_value(self, beta_r: np.ndarray) -> float:
        """b'S_lambda b (rotated basis), a sum of squares."""
        value = float(np.sum(self.lam_d * beta_r**2))
        for g, st in zip(self.rp.groups, self.groups, strict=True):
            value += float(st.quadratics(beta_r[g.cols]).sum())
        return value

    def penalty_quadratics(self, beta_r: np.ndarray) -> np.ndarray:
        """b'L_j b = lambda_j b'S_j b for each smoothing parameter (= dD / drho_j)."""
        out = self.rp.block_sums(beta_r * (self.lam_d * beta_r))
        for g, st in zip(self.rp.groups, self.groups, strict=True):
            out[g.sps] = st.quadratics(beta_r[g.cols])
        return out

    def penalty_vectors(self, beta_r: np.ndarray) -> np.ndarray:
        """p x k: column j is L_j b = lambda_j S_j b (rotated basis)."""
        out = self.rp.indicator() * (self.lam_d * beta_r)[:, None]
        for g, st in zip(self.rp.groups, self.groups, strict=True):
            bg = beta_r[g.cols]
            for j, lam, B in zip(g.sps, st.lam, st.roots, strict=True):
                out[g.cols, j] = lam * (B.T @ (B @ bg))
        return out

    def _group_pieces(self):
        """Per group: its columns, F~ on them with off-diagonals -P~, and Pi~_j."""
        if self._pieces is None:
            Fs, Ps = self.F_scaled(), self.P_scaled()
            pieces = []
            for g, st in zip(self.rp.groups, self.groups, strict=True):
                cols = g.cols
                s = np.sqrt(self.s2[cols])
                Fg = -Ps[np.ix_(cols, cols)]
                Fg[np.diag_indices_from(Fg)] = np.diag(Fs)[cols]
                Pis = [M * (s[None, :] / s[:, None]) for M in st.projections()]
                pieces.append((g, Fg, Pis))
            self._pieces = pieces
        return self._pieces

    def edf_excess(self) -> np.ndarray:
        """tr(F Pi_j) per smoothing parameter: the edf the penalty j can still remove
        (on the diagonal path the sum of edf_i over j's columns), -2 x the gradient of
        log|A| - log|S|_+; -> 0 as lambda_j -> infinity."""
        out = self.rp.block_sums(np.diag(self.F_scaled()))
        for g, Fg, Pis in self._group_pieces():
            out[g.sps] = [float(np.sum(Fg * Pi.T)) for Pi in Pis]
        return out

    def pen_excess(self) -> np.ndarray:
        """tr(P_j) = tr(A^{-1} L_j) per smoothing parameter (a sum of squares for a
        group): the edf penalty j removes; -> 0 as lambda_j -> 0."""
        out = self.rp.block_sums(np.diag(self.P_scaled()))
        for g, st in zip(self.rp.groups, self.groups, strict=True):
            Rc = self.Rinv.T[:, g.cols] * self.c[g.cols][None, :]
            out[g.sps] = [lam * float(np.sum((Rc @ B.T) ** 2))
                          for lam, B in zip(st.lam, st.roots, strict=True)]
        return out

    # ------------------------------------------- ML: the null-space correction
    def null_logdet(self, U: np.ndarray, order: int = 0):
        """log|M|, M = U'A^{-1}U, and its derivatives in rho up to ``order`` (0, 1, 2).

        ``U`` (p x M_p, rotated basis) is B'U_0 for an orthonormal basis U_0 of the null
        space of the total penalty in the original coefficients (b = B b_r), so that
        M = U_0'A_orig^{-1}U_0. By the Schur complement,

            log|A_rr| = log|A| + log|M|,   A_rr = U_r'A U_r,  [U_r, U_0] orthogonal,

        the log-determinant mgcv's ML uses (C ``MLpenalty1``: the factor of A with the
        null-space columns dropped). With A fixed but for S_lambda (dA/drho_j = L_j),
        G = A^{-1}U, M_j = -G'L_jG and
        M_jk = delta_jk M_j + G'L_kA^{-1}L_jG + G'L_jA^{-1}L_kG:

            d log|M| / drho_j = tr(M^{-1}M_j),
            d2 / drho_j drho_k = tr(M^{-1}M_jk) - tr(M^{-1}M_k M^{-1}M_j).

        Everything is formed in the scaled basis (C U, A~^{-1}, C L_j C, whose entries
        on j's columns are s_i^2 <= 1), so the terms vanish as lambda_j -> infinity
        instead of cancelling. Returns (log|M|, grad, hess) (zeros beyond ``order``).
        """
        k = len(self.rp.rank)
        grad, hess = np.zeros(k), np.zeros((k, k))
        m = U.shape[1]
        if m == 0:
            return 0.0, grad, hess
        Ut = self.c[:, None] * U
        Kq = self.Rinv.T @ Ut  # M = Kq'Kq
        Rk = np.linalg.qr(Kq, mode="r")
        value = float(2.0 * np.log(np.abs(np.diag(Rk))).sum())
        if order == 0:
            return value, grad, hess
        N = solve_triangular(Rk, np.eye(m))  # M^{-1} = N N'
        Y = self.Rinv @ Kq  # A~^{-1} C U
        # Q_j = C L_j C Y, p x m for each smoothing parameter j
        Qs = np.empty((k, Y.shape[0], m))
        for a in range(m):
            Qs[:, :, a] = (self.c[:, None] * self.penalty_vectors(self.c * Y[:, a])).T
        E = -np.einsum("pa,ab,jpc,cd->jbd", Y, N, Qs, N)  # N'M_jN (symmetric)
        E = 0.5 * (E + np.transpose(E, (0, 2, 1)))
        grad = np.einsum("jaa->j", E)
        if order < 2:
            return value, grad, hess
        Z = np.einsum("qp,jqa,ab->jpb", self.Rinv, Qs, N)  # Rinv'Q_j N
        hess = (np.diag(grad) + 2.0 * np.einsum("jpa,kpa->jk", Z, Z)
                - np.einsum("jab,kab->jk", E, E))
        return value, grad, 0.5 * (hess + hess.T)

    def range_inverse_sqrt(self, U: np.ndarray) -> np.ndarray:
        """L_r with L_r L_r' = A^{-1} - G M^{-1} G' = U_r A_rr^{-1} U_r' (rotated basis,
        ``U`` as in ``null_logdet``): the inverse on the penalty range space whose traces
        give d log|A_rr| (ML). L_r = L (I - P_K), L = ``inverse_sqrt()``, P_K the
        orthogonal projector on the columns of K = L'U."""
        L = self.inverse_sqrt()
        if U.shape[1] == 0:
            return L
        Qk = np.linalg.qr(self.Rinv.T @ (self.c[:, None] * U))[0]
        return L - (L @ Qk) @ Qk.T

    def hessian_logdet_groups(self, H: np.ndarray) -> np.ndarray:
        """Fill the rows/columns of overlapping groups' parameters in the Hessian of
        log|A| - log|S|_+ (module docstring); the diagonal-path entries of ``H`` stay."""
        Ps = self.P_scaled()
        ind = self.rp.indicator()
        diag_sps = np.flatnonzero(ind.any(axis=0))
        pieces = self._group_pieces()
        for g, Fg, Pis in pieces:
            FPi = [Fg @ Pi for Pi in Pis]
            for a, j in enumerate(g.sps):
                for b, k in enumerate(g.sps[: a + 1]):
                    v = (float(np.sum(Fg * (Pis[a] @ Pis[b]).T))
                         + float(np.sum(Fg * (Pis[b] @ Pis[a]).T))
                         - float(np.sum(FPi[a] * FPi[b].T)))
                    if a == b:
                        v -= float(np.trace(FPi[a]))
                    H[j, k] = H[k, j] = v
            # with a diagonal-path parameter m (F = -P off the group's columns):
            # -tr(F Pi_j F Pi_m) = -sum over m's columns i of (P~_ig Pi~_j P~_gi)
            for a, j in enumerate(g.sps):
                X = Ps[:, g.cols] @ Pis[a]
                vals = -(np.einsum("ij,ji->i", X, Ps[g.cols, :]) @ ind)
                H[j, diag_sps] = H[diag_sps, j] = vals[diag_sps]
        # two different groups: -tr(P~_hg Pi~_j P~_gh Pi~_k)
        for ia, (g, _, Pg) in enumerate(pieces):
            for h, _, Ph in pieces[:ia]:
                Pgh, Phg = Ps[np.ix_(g.cols, h.cols)], Ps[np.ix_(h.cols, g.cols)]
                for a, j in enumerate(g.sps):
                    left = Phg @ Pg[a] @ Pgh
                    for b, k in enumerate(h.sps):
                        H[j, k] = H[k, j] = -float(np.sum(left * Ph[b].T))
        return H


def psd_sqrt(V: np.ndarray) -> np.ndarray:
    """L with L L' = V for a symmetric positive semi-definite V (negative round-off
    eigenvalues set to 0), so that sqrt(diag(X V X')) = ||X L|| row-wise is never NaN."""
    V = 0.5 * (V + V.T)
    try:
        return cholesky(V, lower=True)
    except LinAlgError:
        vals, vecs = np.linalg.eigh(V)
        return vecs * np.sqrt(np.clip(vals, 0.0, None))
