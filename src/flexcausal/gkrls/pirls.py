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
db/drho_j = -lambda_j H^{-1} S_j b. The Hessian in rho is a central difference of
this exact gradient. The model matrix is held in memory (row blocks are reduced).

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
    initial_rho,
    limit_excess,
    null_basis,
    posterior,
)
from .optimize import newton_minimize
from .reparam import PenaltyBlock, Reparametrization, basis_map
from .stable import PenalizedFactor


@dataclass
class PIRLSState:
    beta: np.ndarray
    eta: np.ndarray
    mu: np.ndarray
    deviance: float
    penalty: float
    W: np.ndarray  # Newton working weights at beta
    n_iter: int
    converged: bool
    gram: np.ndarray  # X_c'WX_c at beta
    factor: PenalizedFactor  # of X_c'WX_c + S_lambda (stable.py)


class GLMProblem:
    """y, prior weights, offset and the model matrix (a ``design.Design``) for one family.

    Coefficients live in the centred basis of the design (b_c, X_c b_c = X b); penalties
    are applied through the diagonal-penalty basis b_c = T b_r (reparam.py).
    """

    def __init__(self, X: Design, y, weights, offset, family: Family,
                 blocks: list[PenaltyBlock], method: str = "REML"):
        self.X, self.y, self.w, self.offset = X, y, weights, offset
        self.family, self.blocks = family, blocks
        self.p = X.p
        self.rp = Reparametrization.from_blocks(blocks, self.p)
        self.null_dim = self.rp.null_dim
        self.method = method
        self.ml = method == "ML"
        # M_p in the criterion: REML integrates the null space out, ML maximises over it
        self.reml_dim = 0 if self.ml else self.null_dim
        self.U0 = null_basis(self.rp) if self.ml else None
        self._beta = None  # warm start
        self._cache = None  # (rho, PIRLSState) of the last PIRLS

    # ----------------------------------------------------------------- weights
    def working(self, eta: np.ndarray, newton: bool = True):
        """Newton (or Fisher) weights W and working response z at eta."""
        fam, link = self.family, self.family.link
        mu = link.inverse(eta)
        mu_eta = link.mu_eta(eta)
        var = fam.variance(mu)
        c = self.y - mu
        if newton and not fam.canonical:
            alpha = 1.0 + c * (fam.dvar(mu) / var + link.d2link(mu) * mu_eta)
            alpha = np.where(alpha == 0, np.finfo(float).eps, alpha)
        else:
            alpha = np.ones_like(mu)
        W = self.w * alpha * mu_eta**2 / var
        z = eta - self.offset + c / (mu_eta * alpha)
        return W, z

    def dW_deta(self, eta: np.ndarray) -> np.ndarray:
        """d W_i / d eta_i by central differences (elementwise, y fixed)."""
        h = 1e-5 * (1.0 + np.abs(eta))
        return (self.working(eta + h)[0] - self.working(eta - h)[0]) / (2 * h)

    def deviance(self, mu: np.ndarray) -> float:
        return float(np.sum(self.family.dev_resids(self.y, mu, self.w)))

    # ------------------------------------------------------------------ PIRLS
    def penalty(self, beta: np.ndarray, rho: np.ndarray) -> float:
        """b'S_lambda b = sum l_i (T'b)_i^2 (+ sums of squares lambda_j ||B_j (T'b)_g||^2
        for overlapping groups): no large cancellations."""
        return self.rp.penalty(beta, rho)

    def _factor(self, eta: np.ndarray, rho: np.ndarray):
        """Working weights, response, X'WX and its penalized factor (Newton, else Fisher)."""
        W, z = self.working(eta)
        gram = self.X.gram(W)
        try:
            return W, z, gram, PenalizedFactor(self.rp, rho, G=gram), True
        except LinAlgError:  # indefinite Newton Hessian: Fisher step instead
            W, z = self.working(eta, newton=False)
            gram = self.X.gram(W)
            return W, z, gram, PenalizedFactor(self.rp, rho, G=gram), False

    def pirls(self, rho: np.ndarray, max_iter: int = 100) -> PIRLSState:
        """Newton PIRLS from the warm start; stops when the Newton step is negligible.

        Convergence: the step is below 1e-9 (1 + max|b|), or the penalized deviance no
        longer changes beyond round-off. A step that cannot lower the penalized deviance
        after 40 halvings ends the loop (converged only if the last change was already at
        round-off), so a stalled fit stops at once with a warning instead of running to
        ``max_iter``. At the end the weights, X'WX and factor are those at the returned
        beta, so LAML reuses them without another pass over the rows.
        """
        fam = self.family
        if self._beta is None:
            eta = fam.link.link(fam.mu_start(self.y, self.w))
            beta = None
        else:
            beta = self._beta
            eta = self.X.dot(beta) + self.offset
        mu = fam.link.inverse(eta)
        pdev = np.inf if beta is None else self.deviance(mu) + self.penalty(beta, rho)
        converged, stalled, separated, change = False, False, False, np.inf
        for it in range(1, max_iter + 1):  # noqa: B007 - it is reported after the loop
            W, z, gram, fac, newton = self._factor(eta, rho)
            T = fac.T  # the working basis at rho
            new = T @ fac.solve(T.T @ self.X.tdot(W * z))
            if beta is not None and newton:
                step = np.max(np.abs(new - beta))
                if step < 1e-9 * (1.0 + np.max(np.abs(beta))) or change <= 1e-13 * abs(pdev):
                    converged = True
                    break
                if change <= 1e-13 * (abs(pdev) + 0.1):  # mgcv's absolute floor
                    # the deviance is ~0 while b keeps growing: the fitted values
                    # reproduce y (perfect separation); more steps only move b to infinity
                    separated = bool(np.max(np.abs(self.y - mu)) < 1e-6)
                    converged = not separated
                    break
            for _ in range(40):  # step halving on the penalized deviance
                eta_new = self.X.dot(new) + self.offset
                mu_new = fam.link.inverse(eta_new)
                if fam.valid_mu(mu_new):
                    pdev_new = self.deviance(mu_new) + self.penalty(new, rho)
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
            beta, eta, mu, pdev = new, eta_new, mu_new, pdev_new
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
            W, z, gram, fac, newton = self._factor(eta, rho)
        self._beta = beta
        dev = self.deviance(mu)
        return PIRLSState(beta, eta, mu, dev, self.penalty(beta, rho), W, it, converged, gram,
                          fac)

    # ------------------------------------------------------------------- LAML
    def profile_scale(self, Dp: float) -> float:
        """phi minimising D_p/(2 phi) - ls(phi) - M_p/2 log(2 pi phi) (1 if known; ML:
        without the M_p term)."""
        fam = self.family
        if fam.scale_known:
            return 1.0
        if fam.name == "gaussian":
            return Dp / (np.sum(self.w > 0) - self.reml_dim)

        def f(log_phi):
            phi = np.exp(log_phi)
            return (Dp / (2 * phi) - fam.saturated_loglik(self.y, self.w, phi)
                    - 0.5 * self.reml_dim * np.log(2 * np.pi * phi))

        guess = np.log(max(Dp / len(self.y), 1e-12))
        res = minimize_scalar(f, bracket=(guess - 1, guess + 1), tol=1e-12)
        return float(np.exp(res.x))

    def state_at(self, rho: np.ndarray) -> PIRLSState:
        """PIRLS at rho, reusing the last state when rho is unchanged."""
        if self._cache is not None and np.array_equal(self._cache[0], rho):
            return self._cache[1]
        st = self.pirls(rho)
        self._cache = (rho.copy(), st)
        return st

    def laml(self, rho: np.ndarray, gradient: bool = True):
        """LAML (or its ML version) at rho and its exact gradient (see module docstring),
        with 1/2 log|H| - 1/2 log|S|_+ and dlog|H|/drho_j - rank_j = -sum_{i in j} F_ii
        evaluated without cancellation (stable.py)."""
        st = self.state_at(rho)
        fac = st.factor
        Dp = st.deviance + st.penalty
        phi = self.profile_scale(Dp)
        value = (Dp / (2 * phi) - self.family.saturated_loglik(self.y, self.w, phi)
                 + 0.5 * fac.logdet_rel - 0.5 * self.reml_dim * np.log(2 * np.pi * phi))
        U = basis_map(self.X.shift, fac)[0].T @ self.U0 if self.ml else None
        if self.ml:
            value += 0.5 * fac.null_logdet(U)[0]
        if not gradient:
            return value, None, st, phi
        T = fac.T
        L = fac.range_inverse_sqrt(U) if self.ml else fac.inverse_sqrt()
        u = self.X.tdot(self.dW_deta(st.eta) * self.X.leverages(T @ L))
        beta_r = T.T @ st.beta
        dD = fac.penalty_quadratics(beta_r)
        trF = fac.edf_excess()
        if self.ml:  # the penalty part of d log|M| (the W part is in u through L)
            trF = trF - fac.null_logdet(U, order=1)[1]
        dbeta = -(T @ fac.solve(fac.penalty_vectors(beta_r)))  # d b_c / d rho_j, columns j
        grad = dD / (2 * phi) - 0.5 * trF + 0.5 * (u @ dbeta)
        return value, grad, st, phi

    def derivatives(self, rho: np.ndarray, h: float = 1e-5):
        """LAML, exact gradient, and a forward-difference Hessian of that gradient."""
        value, grad, st, phi = self.laml(rho)
        k = len(rho)
        hess = np.empty((k, k))
        for j in range(k):
            e = np.zeros(k)
            e[j] = h
            hess[j] = (self.laml(rho + e)[1] - grad) / h
            self._beta = st.beta
        self._cache = (rho.copy(), st)
        return value, grad, 0.5 * (hess + hess.T), (st, phi)

    def score(self, rho: np.ndarray) -> float:
        return self.laml(rho, gradient=False)[0]

    def pql_start(self, rho: np.ndarray, max_iter: int = 4) -> np.ndarray:
        """Starting rho by performance iteration (Wood 2017, Sec. 6.3.2).

        Alternates PIRLS at rho with Gaussian REML on the working model (Fisher weights,
        working response); cheap, and close to the LAML optimum, so that Newton on
        the exact criterion needs only a few steps.
        """
        for _ in range(max_iter):
            st = self.state_at(rho)
            W, z = self.working(st.eta, newton=False)
            gram = st.gram if self.family.canonical else self.X.gram(W)
            qrs = QRStats.from_gram(gram, self.X.tdot(W * z), float(np.sum(W * z * z)),
                                    int(np.sum(self.w > 0)))
            new = fit_reml(qrs, self.blocks, quiet=True, method=self.method).rho
            if np.max(np.abs(new - rho)) < 0.05:
                return new
            rho = new
        return rho


@dataclass
class GLMFit:
    beta: np.ndarray
    rho: np.ndarray
    scale: float
    reml: float
    post: Posterior  # Vp / phi, F and edf with Fisher weights at the optimum (mgcv)
    W: np.ndarray
    state: PIRLSState
    n_iter: int
    converged: bool
    reml_scale: float  # the scale that maximises LAML (mgcv ``reml.scale``)


def fit_laml(problem: GLMProblem, sp=None) -> GLMFit:
    """Minimise LAML (REML or ML, ``problem.method``) over rho (Newton on a difference
    Hessian of the exact gradient)."""
    if sp is not None or not problem.blocks:
        rho = np.log(np.asarray(sp, dtype=float)) if problem.blocks else np.zeros(0)
        value, _, st, phi = problem.laml(rho, gradient=False)
        n_iter, converged = 0, st.converged
    else:
        fam = problem.family
        eta0 = fam.link.link(fam.mu_start(problem.y, problem.w))
        W0, _ = problem.working(eta0, newton=False)  # mgcv initial.sp: weights at mustart
        rho0 = initial_rho(problem.X.gram(W0), problem.blocks)
        rho0 = problem.pql_start(rho0)
        res = newton_minimize(problem.derivatives, problem.score, rho0, tol=1e-8,
                              what="LAML" if problem.method == "REML" else "ML",
                              limits=lambda pl: limit_excess(pl[0].factor))
        rho, value = res.rho, res.score
        st, phi = problem.state_at(rho), res.payload[1]
        n_iter, converged = res.n_iter, res.converged and st.converged
    # mgcv post-processing: Vp and edf use Fisher weights at the final mu (the same as
    # Newton's for canonical links), and an estimated scale is reported as Pearson's.
    W, _ = problem.working(st.eta, newton=False)
    gram = st.gram if problem.family.canonical else problem.X.gram(W)
    fac = PenalizedFactor(problem.rp, rho, G=gram)
    post = posterior(fac, fac.T.T @ st.beta, problem.X.shift)
    reml_scale = phi
    if not problem.family.scale_known:
        edf = float(np.trace(post.F))
        mu = st.mu
        pearson = problem.w * (problem.y - mu) ** 2 / problem.family.variance(mu)
        phi = float(pearson.sum() / (np.sum(problem.w > 0) - edf))
    return GLMFit(post.beta, rho, phi, float(value), post, W, st, n_iter, converged,
                  reml_scale)
