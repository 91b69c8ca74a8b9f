"""Penalized IRLS and Laplace-approximate REML (LAML) for non-Gaussian families.

Inner loop (mgcv ``gam.fit3``, full Newton form): with c = y - mu,
alpha = 1 + c (V'/V + g'' mu'), z = eta + c / (mu' alpha), W = w alpha mu'^2 / V,
solve (X'WX + S) b = X'Wz, halving steps until the penalized deviance decreases.

Outer criterion (Wood 2011, JRSS-B 73(1), eq. 5; mgcv's REML for general families):

    V(rho) = D_p / (2 phi) - ls(phi) + 1/2 log|X'WX + S| - 1/2 log|S|_+ - M_p/2 log(2 pi phi),

D_p = deviance + b'Sb. ML (``method="ML"``, mgcv ``gam.fit3`` with ``remlInd = 0``)
drops the M_p/2 log(2 pi phi) term and replaces 1/2 log|X'WX + S| by 1/2 log|H_rr|, the
log-determinant on the penalty range space (fit.py's module docstring):
log|H_rr| = log|H| + log|U_0'H^{-1}U_0| (stable.PenalizedFactor.null_logdet), and its
W-dependent derivative is tr(U_r H_rr^{-1} U_r' X' diag(W') X ...), i.e. the leverages
below with H^{-1} replaced by U_r H_rr^{-1} U_r' (``range_inverse_sqrt``).

The gradient uses the envelope theorem for b and phi and
d log|H| / d rho_j = tr(H^{-1} (lambda_j S_j + X' diag(W'(eta) X db/drho_j) X)),
db/drho_j = -lambda_j H^{-1} S_j b. The Hessian in rho is exact for REML (``hessian``:
mgcv's third-derivative terms, one pass) and a forward difference of the exact
gradient for ML. Newton starts from a one-pass-per-step performance iteration
(``pql_start``).

The rows are reached only through a row source (rows.py): every pass is one reduction
of a kernel over row blocks, which recomputes eta = X b + offset, mu and the working
weights from b inside the block, so no per-row vector is kept between passes (the same
code runs on in-memory arrays and on Dask partitions). A PIRLS iteration is one pass:
the pass that evaluates the penalized deviance of a trial step also accumulates X'WX and
X'Wz there, which the next iteration uses when the step is accepted.

With overlapping penalties (reparam.py) S_j b and tr(H^{-1} lambda_j S_j) - d log|S|_+ /
d rho_j = -tr(F Pi_j) come from the factor (stable.PenalizedFactor.penalty_vectors,
edf_excess), whose working basis ``fac.T`` depends on rho.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.linalg import LinAlgError
from scipy.optimize import minimize_scalar

from .design import Design
from .families import ExponentialFamily as Family
from .fit import (
    Posterior,
    QRStats,
    fit_reml,
    limit_excess,
    null_basis,
    posterior,
)
from .optimize import newton_minimize, polish
from .reparam import PenaltyBlock, Reparametrization, basis_map
from .rows import ArrayRows, Max, weighted_gram
from .stable import PenalizedFactor


# ----------------------------------------------------------------- per-block maths
def working(family: Family, y, w, off, eta, newton: bool = True):
    """Newton (or Fisher) weights W and working response z at eta (module docstring)."""
    link = family.link
    mu = link.inverse(eta)
    mu_eta = link.mu_eta(eta)
    var = family.variance(mu)
    c = y - mu
    if newton and not family.canonical:
        alpha = 1.0 + c * (family.dvar(mu) / var + link.d2link(mu) * mu_eta)
        alpha = np.where(alpha == 0, np.finfo(float).eps, alpha)
    else:
        alpha = np.ones_like(mu)
    W = w * alpha * mu_eta**2 / var
    z = eta - off + c / (mu_eta * alpha)
    return W, z


def dW_deta(family: Family, y, w, off, eta) -> np.ndarray:
    """d W_i / d eta_i of the Newton weights by central differences (y fixed)."""
    h = 1e-5 * (1.0 + np.abs(eta))
    return (working(family, y, w, off, eta + h)[0]
            - working(family, y, w, off, eta - h)[0]) / (2 * h)


def _eta(family: Family, chunk, beta):
    if beta is None:  # the start: eta = g(mu_start(y))
        return family.link.link(family.mu_start(chunk.y, chunk.w))
    return chunk.X @ beta + chunk.off


def fit_sums(family: Family, ch, mu, ybar: float):
    """The null deviance (y against its weighted mean ``ybar``) and the sums behind
    mgcv's adjusted r^2 (fitting._r2_from_sums): (null, [sum r, sum r^2, sum r0,
    sum r0^2], rows), r = sqrt(w)(y - mu), r0 = sqrt(w)(y - ybar)."""
    sw = np.sqrt(ch.w)
    r = sw * (ch.y - mu)
    r0 = sw * (ch.y - ybar)
    null = float(np.sum(family.dev_resids(ch.y, np.full_like(ch.y, ybar), ch.w)))
    return (null, np.array([r.sum(), r @ r, r0.sum(), r0 @ r0]), ch.X.shape[0])


class PassKernel:
    """One pass at coefficients ``beta`` (None: at mu_start): the deviance and, with
    ``gram``, X'WX, X'Wz, sum W z^2 (Newton or Fisher weights), the Pearson sum and
    max |y - mu|; rows with an invalid mu make the pass report ``invalid``. Given the
    weighted mean ``ybar`` of y (known after the first pass), also ``fit_sums``, so that
    the pass at the fitted beta is also the one that reports the null deviance and r^2.
    Result: (invalid, deviance, X'WX, X'Wz, sum W z^2, Pearson, Max|y - mu|, n_pos,
    sum w y, sum w, fit_sums or None)."""

    def __init__(self, family: Family, beta, newton: bool = True, gram: bool = True,
                 ybar: float | None = None):
        self.family, self.beta, self.newton, self.gram = family, beta, newton, gram
        self.ybar = ybar

    def __call__(self, ch):
        fam = self.family
        eta = _eta(fam, ch, self.beta)
        mu = fam.link.inverse(eta)
        resp = (int(np.sum(ch.w > 0)), float(ch.w @ ch.y), float(ch.w.sum()))
        if self.beta is not None and not fam.valid_mu(mu):
            return (1, 0.0, None, None, 0.0, 0.0, None, *resp, None)
        dev = float(np.sum(fam.dev_resids(ch.y, mu, ch.w)))
        resid = Max(np.max(np.abs(ch.y - mu), initial=0.0))
        sums = None if self.ybar is None else fit_sums(fam, ch, mu, self.ybar)
        if not self.gram:
            return (0, dev, None, None, 0.0, 0.0, resid, *resp, sums)
        W, z = working(fam, ch.y, ch.w, ch.off, eta, self.newton)
        pearson = float(np.sum(ch.w * (ch.y - mu) ** 2 / fam.variance(mu)))
        return (0, dev, weighted_gram(ch.X, W), ch.X.T @ (W * z), float(np.sum(W * z * z)),
                pearson, resid, *resp, sums)


@dataclass
class PassStats:
    """The reduced result of a ``PassKernel`` pass."""

    invalid: bool
    deviance: float
    gram: np.ndarray | None
    xwz: np.ndarray | None
    wzz: float
    pearson: float
    max_resid: float
    n_pos: int
    ybar: float  # weighted mean of y
    newton: bool
    fit_sums: tuple | None = None  # pirls.fit_sums, when the pass knew ybar

    @classmethod
    def of(cls, out, newton: bool) -> PassStats:
        invalid, dev, gram, xwz, wzz, pearson, resid, npos, wy, wsum, sums = out
        return cls(bool(invalid), float(dev), gram, xwz, float(wzz), float(pearson),
                   float(resid.v) if resid is not None else np.inf, int(npos),
                   float(wy) / float(wsum), newton, sums)


class GradientKernel:
    """u = X' (dW/deta * h), h_i = ||L'x_i||^2 the leverages under L L' (LAML gradient)."""

    def __init__(self, family: Family, beta, L):
        self.family, self.beta, self.L = family, beta, L

    def __call__(self, ch):
        eta = ch.X @ self.beta + ch.off
        XL = ch.X @ self.L
        h = np.einsum("ij,ij->i", XL, XL)
        return ch.X.T @ (dW_deta(self.family, ch.y, ch.w, ch.off, eta) * h)


def d2W_deta2(family: Family, y, w, off, eta) -> np.ndarray:
    """d2 W_i / d eta_i^2 of the Newton weights by central second differences."""
    h = 1e-4 * (1.0 + np.abs(eta))
    return (working(family, y, w, off, eta + h)[0] - 2.0 * working(family, y, w, off, eta)[0]
            + working(family, y, w, off, eta - h)[0]) / (h * h)


class HessianKernel:
    """The LAML gradient's and Hessian's sums at beta (``GLMProblem.hessian``):
    u = X'(W' h), c_jk = sum h W'' eta_j eta_k, v[:, j, k] = X'(W' eta_j eta_k) and
    M_j = L'X'diag(W' eta_j)X L, with h_i = ||L'x_i||^2 and eta_j = X db_j."""

    def __init__(self, family: Family, beta, L, db):
        self.family, self.beta, self.L, self.db = family, beta, L, db

    def __call__(self, ch):
        fam = self.family
        eta = ch.X @ self.beta + ch.off
        W1 = dW_deta(fam, ch.y, ch.w, ch.off, eta)
        W2 = d2W_deta2(fam, ch.y, ch.w, ch.off, eta)
        XL = ch.X @ self.L
        h = np.einsum("ij,ij->i", XL, XL)
        E = ch.X @ self.db  # eta_j, columns j
        k = E.shape[1]
        u = ch.X.T @ (W1 * h)
        c = (E * (h * W2)[:, None]).T @ E
        v = np.empty((ch.X.shape[1], k, k))
        M = np.empty((k, XL.shape[1], XL.shape[1]))
        for j in range(k):
            WE = W1 * E[:, j]
            for m in range(j + 1):
                v[:, j, m] = v[:, m, j] = ch.X.T @ (WE * E[:, m])
            M[j] = XL.T @ (WE[:, None] * XL)
        return u, c, v, M


def penalty_matrices(fac: PenalizedFactor) -> list[np.ndarray]:
    """L_j = lambda_j S_j in the factor's rotated basis, one dense p x p per parameter."""
    ind = fac.rp.indicator()
    out = [np.diag(ind[:, j] * fac.lam_d) for j in range(ind.shape[1])]
    for g, st in zip(fac.rp.groups, fac.groups, strict=True):
        for j, lam, B in zip(g.sps, st.lam, st.roots, strict=True):
            out[j][np.ix_(g.cols, g.cols)] = lam * (B.T @ B)
    return out


@dataclass
class PIRLSState:
    beta: np.ndarray
    deviance: float
    penalty: float
    n_iter: int
    converged: bool
    gram: np.ndarray  # X_c'WX_c at beta (Newton weights unless ``stats.newton`` is False)
    factor: PenalizedFactor  # of X_c'WX_c + S_lambda (stable.py)
    stats: PassStats  # the pass at beta


class GLMProblem:
    """One family's penalized IRLS and LAML over a row source.

    ``GLMProblem(X, y, weights, offset, family, blocks)`` with X a ``design.Design``
    (in memory), or ``GLMProblem.on_rows(source, family, blocks)`` with any
    ``rows.RowSource`` (e.g. Dask partitions). Coefficients live in the centred basis of
    the source (b_c, X_c b_c = X b); penalties are applied through the diagonal-penalty
    basis b_c = T b_r (reparam.py).
    """

    def __init__(self, X, y, weights, offset, family: Family,
                 blocks: list[PenaltyBlock], method: str = "REML"):
        self.rows = ArrayRows(X, y, weights, offset) if isinstance(X, Design) else X
        self.family, self.blocks = family, blocks
        self.p = self.rows.p
        self.rp = Reparametrization.from_blocks(blocks, self.p)
        self.null_dim = self.rp.null_dim
        self.method = method
        self.ml = method == "ML"
        # M_p in the criterion: REML integrates the null space out, ML maximises over it
        self.reml_dim = 0 if self.ml else self.null_dim
        self.U0 = null_basis(self.rp) if self.ml else None
        self._beta = None  # warm start
        self._cache = None  # (rho, PIRLSState, polished) of the last PIRLS
        self._start = None  # PassStats at mu_start (Newton weights)
        self._recent: list = []  # (beta bytes, newton), PassStats of the last passes
        self.n_passes = 0

    @classmethod
    def on_rows(cls, rows, family: Family, blocks: list[PenaltyBlock],
                method: str = "REML") -> GLMProblem:
        return cls(rows, None, None, None, family, blocks, method)

    # ------------------------------------------------------------------ passes
    def reduce(self, kernel):
        self.n_passes += 1
        return self.rows.reduce(kernel)

    def evaluate(self, beta, newton: bool = True, gram: bool = True) -> PassStats:
        """One pass at ``beta`` (None: at mu_start). X'WX and X'Wz at beta do not depend
        on rho, so the last few passes are kept: PIRLS at a new rho warm-started at the
        last beta begins without a pass."""
        if beta is None and newton and gram and self._start is not None:
            return self._start
        key = None if beta is None else (np.asarray(beta).tobytes(), newton)
        for k, stats in self._recent:
            if k == key and (stats.gram is not None or not gram):
                return stats
        ybar = None if self._start is None else self._start.ybar
        stats = PassStats.of(self.reduce(PassKernel(self.family, beta, newton, gram, ybar)),
                             newton)
        if beta is None and newton and gram:
            self._start = stats
        elif key is not None and not stats.invalid:
            self._recent = [(key, stats), *self._recent[:2]]
        return stats

    @property
    def n_pos(self) -> int:
        return self.evaluate(None).n_pos

    # ------------------------------------------------------------------ PIRLS
    def penalty(self, beta: np.ndarray, rho: np.ndarray) -> float:
        """b'S_lambda b = sum l_i (T'b)_i^2 (+ sums of squares lambda_j ||B_j (T'b)_g||^2
        for overlapping groups): no large cancellations."""
        return self.rp.penalty(beta, rho)

    def _factor(self, stats: PassStats, beta, rho: np.ndarray):
        """The penalized factor at ``stats`` (Newton); if the Newton Hessian is not
        positive definite, a Fisher pass at the same beta and its factor."""
        try:
            return stats, PenalizedFactor(self.rp, rho, G=stats.gram)
        except LinAlgError:
            if not stats.newton or self.family.canonical:
                raise
            fisher = self.evaluate(beta, newton=False)
            return fisher, PenalizedFactor(self.rp, rho, G=fisher.gram)

    def pirls(self, rho: np.ndarray, max_iter: int = 100, polish: bool = False) -> PIRLSState:
        """Newton PIRLS from the warm start; stops when the Newton step is negligible.

        Convergence: the step is below 1e-9 (1 + max|b|), or the penalized deviance no
        longer changes beyond round-off. A step that cannot lower the penalized deviance
        after 40 halvings ends the loop (converged only if the last change was already at
        round-off), so a stalled fit stops at once with a warning instead of running to
        ``max_iter``. At the end the weights, X'WX and factor are those at the returned
        beta, so LAML reuses them without another pass over the rows.

        ``polish``: on convergence the last (negligible) Newton step is taken and the pass
        made there, so that the state does not depend on which iteration the stopping
        rule happened to stop at (optimize.polish; used for the reported fit).
        """
        beta = self._beta
        cur = self.evaluate(beta)
        if beta is not None and cur.invalid:  # a warm start outside the family's range
            beta, cur = None, self.evaluate(None)
        pdev = np.inf if beta is None else cur.deviance + self.penalty(beta, rho)
        converged, stalled, separated, change = False, False, False, np.inf
        for it in range(1, max_iter + 1):  # noqa: B007 - it is reported after the loop
            used, fac = self._factor(cur, beta, rho)
            T = fac.T  # the working basis at rho
            new = T @ fac.solve(T.T @ used.xwz)
            if beta is not None and used.newton:
                step = np.max(np.abs(new - beta))
                if step < 1e-9 * (1.0 + np.max(np.abs(beta))) or change <= 1e-13 * abs(pdev):
                    converged = True
                    if polish:
                        last = self.evaluate(new)
                        if not last.invalid:
                            beta, cur = new, last
                            used, fac = self._factor(cur, beta, rho)
                    break
                if change <= 1e-13 * (abs(pdev) + 0.1):  # mgcv's absolute floor
                    # the deviance is ~0 while b keeps growing: the fitted values
                    # reproduce y (perfect separation); more steps only move b to infinity
                    separated = bool(cur.max_resid < 1e-6)
                    converged = not separated
                    break
            for _ in range(40):  # step halving on the penalized deviance
                trial = self.evaluate(new)
                if not trial.invalid:
                    pdev_new = trial.deviance + self.penalty(new, rho)
                    if pdev_new <= pdev + 1e-12 * abs(pdev_new):
                        break
                if beta is None:
                    beta = np.zeros_like(new)
                new = 0.5 * (new + beta)
            else:
                stalled = True
                converged = change <= 1e-8 * abs(pdev)
                break
            change = abs(pdev - pdev_new) if np.isfinite(pdev) else np.inf
            beta, cur, pdev = new, trial, pdev_new
        if not converged:
            what = ("could not lower the penalized deviance" if stalled
                    else f"did not converge after {it} iterations")
            if separated:
                what += (": the fitted values reproduce the outcome (fitted probabilities "
                         "numerically 0 or 1), the coefficients have no finite estimate")
            warnings.warn(
                f"penalized IRLS {what}; results may be inaccurate. Check for covariates "
                "that separate the outcome perfectly, extreme outliers, or a link that "
                "does not suit the data.",
                RuntimeWarning,
                stacklevel=4,
            )
        if not (converged or stalled or separated):
            # ran out of iterations after a step: the weights and factor must belong to
            # the returned beta
            used, fac = self._factor(cur, beta, rho)
        self._beta = beta
        return PIRLSState(beta, cur.deviance, self.penalty(beta, rho), it, converged,
                          used.gram, fac, used)

    # ------------------------------------------------------------------- LAML
    def saturated_loglik(self, phi: float) -> float:
        return self.rows.saturated_loglik(self.family, phi)

    def profile_scale(self, Dp: float) -> float:
        """phi minimising D_p/(2 phi) - ls(phi) - M_p/2 log(2 pi phi) (1 if known; ML:
        without the M_p term)."""
        fam = self.family
        if fam.scale_known:
            return 1.0
        if fam.name == "gaussian":
            return Dp / (self.n_pos - self.reml_dim)

        def f(log_phi):
            phi = np.exp(log_phi)
            return (Dp / (2 * phi) - self.saturated_loglik(phi)
                    - 0.5 * self.reml_dim * np.log(2 * np.pi * phi))

        guess = np.log(max(Dp / self.rows.n, 1e-12))
        res = minimize_scalar(f, bracket=(guess - 1, guess + 1), tol=1e-12)
        return float(np.exp(res.x))

    def state_at(self, rho: np.ndarray, polish: bool = False) -> PIRLSState:
        """PIRLS at rho, reusing the last state when rho is unchanged (and polished,
        if asked)."""
        if self._cache is not None and np.array_equal(self._cache[0], rho) and (
                not polish or self._cache[2]):
            return self._cache[1]
        st = self.pirls(rho, polish=polish)
        self._cache = (rho.copy(), st, polish)
        return st

    def _value(self, st: PIRLSState) -> tuple[float, float, float]:
        """(LAML without ML's null-space term, D_p, phi) at a PIRLS state:
        D_p / 2 phi - ls(phi) + 1/2 (log|H| - log|S|_+) - M_p/2 log(2 pi phi), phi
        profiled (``profile_scale``)."""
        Dp = st.deviance + st.penalty
        phi = self.profile_scale(Dp)
        value = (Dp / (2 * phi) - self.saturated_loglik(phi)
                 + 0.5 * st.factor.logdet_rel - 0.5 * self.reml_dim * np.log(2 * np.pi * phi))
        return value, Dp, phi

    def laml(self, rho: np.ndarray, gradient: bool = True, polish: bool = False):
        """LAML (or its ML version) at rho and its exact gradient (see module docstring),
        with 1/2 log|H| - 1/2 log|S|_+ and dlog|H|/drho_j - rank_j = -sum_{i in j} F_ii
        evaluated without cancellation (stable.py)."""
        st = self.state_at(rho, polish)
        fac = st.factor
        value, _, phi = self._value(st)
        U = basis_map(self.rows.shift, fac)[0].T @ self.U0 if self.ml else None
        if self.ml:
            value += 0.5 * fac.null_logdet(U)[0]
        if not gradient:
            return value, None, st, phi
        T = fac.T
        L = fac.range_inverse_sqrt(U) if self.ml else fac.inverse_sqrt()
        u = self.reduce(GradientKernel(self.family, st.beta, T @ L))
        beta_r = T.T @ st.beta
        dD = fac.penalty_quadratics(beta_r)
        trF = fac.edf_excess()
        if self.ml:  # the penalty part of d log|M| (the W part is in u through L)
            trF = trF - fac.null_logdet(U, order=1)[1]
        dbeta = -(T @ fac.solve(fac.penalty_vectors(beta_r)))  # d b_c / d rho_j, columns j
        grad = dD / (2 * phi) - 0.5 * trF + 0.5 * (u @ dbeta)
        return value, grad, st, phi

    def derivatives(self, rho: np.ndarray, h: float = 1e-5):
        """LAML, its exact gradient and Hessian: analytic for REML (``hessian``, one pass
        at the PIRLS solution), a forward difference of the exact gradient for ML."""
        if not self.ml:
            return self.hessian(rho)
        return self.fd_derivatives(rho, h)

    def hessian(self, rho: np.ndarray):
        """LAML (REML) value, gradient and exact Hessian in rho from one pass.

        With H = X'WX + S_lambda at b, db_j = -H^{-1} L_j b, eta_j = X db_j, W', W'' the
        derivatives of the Newton weights in eta (mgcv's third-derivative terms, Wood
        2011 Sec. 3.5-3.6; here by differences of the weights, elementwise),
        H_j = L_j + X'diag(W' eta_j)X,
        d2b_jk = -H^{-1}[L_k db_j + X'(W' eta_j eta_k) + delta_jk L_j b + L_j db_k] and

            d2 [D_p / 2 phi] = [delta_jk b'L_j b + 2 b'L_j db_k] / 2 phi,
            d2 [log|H| - log|S|_+] = (the same at fixed W: fit.logdet_hessian)
                + sum_i h_i W''_i eta_ij eta_ik + u'd2b_jk
                - tr(H^-1 G_k H^-1 L_j) - tr(H^-1 L_k H^-1 G_j) - tr(H^-1 G_k H^-1 G_j),

        G_j = X'diag(W' eta_j)X, h_i = x_i'H^{-1}x_i, u = X'(W' h). The pass sums u,
        X'(W' eta_j eta_k), sum h W'' eta_j eta_k and L'G_jL (L L' = H^{-1}). With an
        estimated scale, phi is profiled out: V_rr - V_rphi V_phiphi^{-1} V_phir."""
        from .fit import logdet_hessian

        st = self.state_at(rho)
        fac = st.factor
        T = fac.T
        value, Dp, phi = self._value(st)
        beta_r = T.T @ st.beta
        sv = fac.penalty_vectors(beta_r)  # L_j b (rotated), columns j
        db_r = -fac.solve(sv)
        Lr = fac.inverse_sqrt()
        u, c, v, M = self.reduce(HessianKernel(self.family, st.beta, T @ Lr, T @ db_r))
        k = len(rho)
        dD = fac.penalty_quadratics(beta_r)
        grad = dD / (2 * phi) - 0.5 * fac.edf_excess() + 0.5 * (u @ (T @ db_r))
        P = [Lr.T @ S @ Lr for S in penalty_matrices(fac)]
        pv = [fac.penalty_vectors(db_r[:, j]) for j in range(k)]  # L_m db_j, columns m
        hl = logdet_hessian(fac)
        hess = np.empty((k, k))
        for j in range(k):
            for m in range(j + 1):
                rhs = pv[j][:, m] + T.T @ v[:, j, m] + pv[m][:, j]
                if j == m:
                    rhs = rhs + sv[:, j]
                d2b = -(T @ fac.solve(rhs))
                logdet = (hl[j, m] + c[j, m] + u @ d2b - np.sum(M[m] * P[j])
                          - np.sum(P[m] * M[j]) - np.sum(M[m] * M[j]))
                dpen = ((dD[j] if j == m else 0.0) + 2.0 * sv[:, j] @ db_r[:, m]) / (2 * phi)
                hess[j, m] = hess[m, j] = dpen + 0.5 * logdet
        if not self.family.scale_known:  # profile phi out (envelope theorem)
            v_phi = -dD / (2 * phi**2)
            hess -= np.outer(v_phi, v_phi) / self._scale_curvature(Dp, phi)
        return value, grad, hess, (st, phi)

    def _scale_curvature(self, Dp: float, phi: float) -> float:
        """d2/dphi2 [D_p / 2 phi - ls(phi) - M_p/2 log(2 pi phi)] at phi (differences
        of ls)."""
        d = 1e-4 * phi
        ls2 = (self.saturated_loglik(phi + d) - 2 * self.saturated_loglik(phi)
               + self.saturated_loglik(phi - d)) / d**2
        return Dp / phi**3 - ls2 + 0.5 * self.reml_dim / phi**2

    def fd_derivatives(self, rho: np.ndarray, h: float = 1e-5):
        """LAML, exact gradient, and a forward-difference Hessian of that gradient."""
        value, grad, st, phi = self.laml(rho)
        k = len(rho)
        hess = np.empty((k, k))
        for j in range(k):
            e = np.zeros(k)
            e[j] = h
            hess[j] = (self.laml(rho + e)[1] - grad) / h
            self._beta = st.beta
        self._cache = (rho.copy(), st, False)
        return value, grad, 0.5 * (hess + hess.T), (st, phi)

    def score(self, rho: np.ndarray) -> float:
        return self.laml(rho, gradient=False)[0]

    def fisher_stats(self, st: PIRLSState) -> PassStats:
        """The pass at the state's beta with Fisher weights (the state's own for
        canonical links, where Newton and Fisher weights coincide)."""
        if self.family.canonical or not st.stats.newton:
            return st.stats
        return self.evaluate(st.beta, newton=False)

    def pql_start(self, max_iter: int = 30, tol: float = 0.05) -> np.ndarray:
        """Starting rho by performance iteration (Wood 2017, Sec. 6.3.2; mgcv ``bam``'s
        PQL), one pass per step.

        Step k: the working model at b_k (Fisher weights W, working response z, from
        the pass at b_k) is fitted by Gaussian REML, giving rho_{k+1} and its penalized
        least-squares b; that b is one Fisher-scoring step of PIRLS at rho_{k+1}, taken
        with step halving on the penalized deviance at rho_{k+1} (each trial one pass,
        which is the next step's pass). The iteration stops when rho moves by less than
        ``tol`` and the step no longer changes the penalized deviance by more than
        1e-6 of itself; LAML's Newton then starts at (rho, b), where PIRLS converges in
        one or two passes. Cheaper than PIRLS to convergence at every rho.
        """
        newton = self.family.canonical  # Fisher = Newton weights: the passes are reused
        beta, cur = None, self.evaluate(None, newton=newton)
        rho = None
        for _ in range(max_iter):
            qrs = QRStats.from_gram(cur.gram, cur.xwz, cur.wzz, self.n_pos)
            fit = fit_reml(qrs, self.blocks, quiet=True, method=self.method)
            new_rho, new = fit.rho, fit.beta
            pdev = np.inf if beta is None else cur.deviance + self.penalty(beta, new_rho)
            for _ in range(20):  # step halving at new_rho
                trial = self.evaluate(new, newton=newton)
                if not trial.invalid:
                    pdev_new = trial.deviance + self.penalty(new, new_rho)
                    if pdev_new <= pdev + 1e-12 * abs(pdev_new):
                        break
                new = 0.5 * (new + (np.zeros_like(new) if beta is None else beta))
            else:
                break  # no descent: leave it to PIRLS at the last rho
            done = (rho is not None and np.max(np.abs(new_rho - rho)) < tol
                    and abs(pdev - pdev_new) <= 1e-6 * abs(pdev_new))
            beta, cur, rho = new, trial, new_rho
            if done:
                break
        if beta is not None:
            self._beta = beta  # PIRLS at rho warm-starts here
        return rho

@dataclass
class GLMFit:
    beta: np.ndarray
    rho: np.ndarray
    scale: float
    reml: float
    post: Posterior  # Vp / phi, F and edf with Fisher weights at the optimum (mgcv)
    state: PIRLSState
    n_iter: int
    converged: bool
    reml_scale: float  # the scale that maximises LAML (mgcv ``reml.scale``)


def fit_laml(problem: GLMProblem, sp=None) -> GLMFit:
    """Minimise LAML (REML or ML, ``problem.method``) over rho: Newton with the exact
    gradient and Hessian (``GLMProblem.derivatives``) from the performance-iteration
    start, then a polished final fit (optimize.polish)."""
    if sp is not None or not problem.blocks:
        rho = np.log(np.asarray(sp, dtype=float)) if problem.blocks else np.zeros(0)
        value, _, st, phi = problem.laml(rho, gradient=False, polish=True)
        n_iter, converged = 0, st.converged
    else:
        rho0 = problem.pql_start()
        res = newton_minimize(problem.derivatives, problem.score, rho0, tol=1e-8,
                              what="LAML" if problem.method == "REML" else "ML",
                              limits=lambda pl: limit_excess(pl[0].factor))
        # a last Newton step in rho and in b (optimize.polish), then the fit at it
        rho = polish(res)
        value, _, st, phi = problem.laml(rho, gradient=False, polish=True)
        n_iter, converged = res.n_iter, res.converged and st.converged
    # mgcv post-processing: Vp and edf use Fisher weights at the final mu (the same as
    # Newton's for canonical links), and an estimated scale is reported as Pearson's.
    fs = problem.fisher_stats(st)
    fac = PenalizedFactor(problem.rp, rho, G=fs.gram)
    post = posterior(fac, fac.T.T @ st.beta, problem.rows.shift)
    reml_scale = phi
    if not problem.family.scale_known:
        edf = float(np.trace(post.F))
        phi = float(fs.pearson / (problem.n_pos - edf))
    return GLMFit(post.beta, rho, phi, float(value), post, st, n_iter, converged,
                  reml_scale)
