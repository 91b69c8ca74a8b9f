"""Penalized likelihood fits of extended and general families by Laplace-approximate REML.

The families of ``families/base.py:LikelihoodFamily`` (``ocat``, ``nb``, ``multinom``) give
a per-row log-likelihood l_i(eta_i; theta) of K linear predictors eta_ik = x_ik' b_k and of
extra parameters theta. With the stacked coefficients b = (b_1, ..., b_K) and the penalty
S_lambda = sum_j exp(rho_j) S_j:

**Inner problem** (fixed rho, theta): b^ maximizes l(b) - b'S_lambda b / 2 by Newton's
method on the full Hessian H = -d2l/db db' + S_lambda, halving steps until the penalized
log-likelihood improves (mgcv ``gam.fit4`` / ``gam.fit5``). Blockwise,
-d2l/db_k db_m' = X_k' diag(-d2l_i/deta_ik deta_im) X_m.

**Outer criterion** (Wood, Pya & Saefken 2016, JASA 111, eq. 3; mgcv's REML for extended
and general families, with scale 1):

    V(rho, theta) = -l(b^) + b^'S_lambda b^ / 2 + 1/2 log|H| - 1/2 log|S_lambda|_+
                    - M_p / 2 log(2 pi),

M_p the dimension of the penalty null space. With ``method="ML"`` (mgcv ``gam.fit4``
with ``ldet < 0``, C ``MLpenalty1``) the M_p/2 log(2 pi) term is dropped and log|H| is
replaced by log|H_rr| = log|H| + log|U_0'H^-1 U_0|, the log-determinant on the penalty
range space (fit.py's module docstring); its derivatives use U_r H_rr^-1 U_r' in place of
H^-1 in the trace terms below. mgcv fits general families (``multinom``, ``gam.fit5``)
by REML whatever ``method`` says. mgcv reports this as ``gcv.ubre``: for the
extended families (``gam.fit4``) it writes -l = D / 2 - ls with the deviance D and the
saturated log-likelihood ls (ocat: ls = 0; nb: D / 2 - ls = -sum w l_i exactly), and for
``multinom`` (``gam.fit5``) it uses l directly, but too large by the number of y = 0 rows
(``Multinom.mgcv_score_shift``). H is the *observed* information.

**Gradient** (exact up to directional differences of the family's Hessian):

    dV/drho_j   = 1/2 lambda_j b'S_j b + 1/2 [tr(H^-1 lambda_j S_j) - rank_j]
                  + 1/2 tr(H^-1 X'(-dh_j) X),
    db/drho_j   = -H^-1 lambda_j S_j b,
    dV/dtheta_k = -dl/dtheta_k (at fixed b) + 1/2 tr(H^-1 X'(-dh_k) X),
    db/dtheta_k = H^-1 X' d(dl/deta)/dtheta_k,

(envelope theorem for the first terms; the penalty part of d log|H| - d log|S|_+ is
-sum_{i in j} F_ii from the stable factor, stable.py). dh is the total derivative of the
(n, K, K) eta-Hessian of l along (X db/dpsi, dtheta/dpsi), taken by one central difference
of ``family.loglik`` along that direction (the third derivatives of l are never coded);
derivatives in theta at fixed eta are central differences too. With
Q_ikm = x_ik' (H^-1)_km x_im, tr(H^-1 X'D X) = sum_ikm D_ikm Q_ikm. The Hessian in
(theta, rho) is a forward difference of this gradient, and Newton's method with mgcv's
safeguards (optimize.py ``newton_minimize``) minimizes V over the free parameters.

**Parametrizations** keep theta unconstrained: ocat cut points -1, -1 + cumsum(exp(theta))
(ordered for every theta), nb t = exp(theta) > 0.

**Covariance**: ``Vp = (X'W_F X + S_lambda)^-1`` and ``edf = diag(Vp X'W_F X)`` with W_F
the *expected* information of the family (``expected_hessian``), as mgcv reports them
(for ocat and multinom it equals the observed one; for nb it does not). ``H_inv`` is the
observed-information inverse that the LAML uses.

Numerics: each model matrix with an intercept column (all ones, unpenalized) is centred on
it (reparam.py), and the penalized Hessian is factored in the diagonal-penalty basis with
the column-scaled factor of stable.py, so log|H| - log|S|_+ is formed without cancellation.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.linalg import LinAlgError
from scipy.optimize import minimize

from .families.base import LikelihoodFamily
from .fit import initial_rho, limit_excess, null_basis
from .optimize import RHO_BOUND, newton_minimize
from .reparam import PenaltyBlock, Reparametrization
from .stable import PenalizedFactor

__all__ = ["LikelihoodFit", "fit_likelihood_laml"]

_LOG_2PI = float(np.log(2.0 * np.pi))
_FD_STEP = 1e-5  # central-difference step (unit max-norm direction) for family derivatives


@dataclass
class LikelihoodFit:
    """What ``fit_likelihood_laml`` returns (coefficients in the caller's basis).

    beta        (p,) stacked coefficients b_1..b_K (p = sum p_k); ``lp_slices[k]`` the
                slice of predictor k (eta_k = designs[k] @ beta[lp_slices[k]] + offset_k)
    rho, sp     (m,) log smoothing parameters and exp(rho), one per penalty block
    theta       (n_theta,) family parameters on the working scale (ocat: log cut-point
                increments; nb: log theta); ``theta_natural`` the family's natural ones
                (ocat: cut points incl. the fixed -1; nb: theta)
    laml        V at the optimum (module docstring); ``reml_mgcv`` what mgcv 1.8-41 reports
                as ``gcv.ubre`` (= laml, except multinom: laml - #(y == 0))
    loglik      l(b^) (weighted); ``penalty`` b^'S_lambda b^
    Vp          (p, p) Bayesian posterior covariance, mgcv's ``Vp`` (expected information)
    H_inv       (p, p) inverse observed penalized Hessian (what the LAML uses)
    edf         (p,) effective degrees of freedom per coefficient (mgcv ``edf``)
    eta         (n, K) linear predictors (with the offset); ``fitted`` = family.response(eta)
    grad, hess  LAML gradient / Hessian in the free (theta, rho) at the optimum; ``free``
                names them ("theta0", ..., "rho0", ...)
    at_limit    per free parameter: +1 held fully penalized / at +box, -1 at the other end
    converged   outer and inner converged; n_iter outer Newton iterations; inner_iter the
                Newton iterations of the final inner fit
    """

    beta: np.ndarray
    rho: np.ndarray
    sp: np.ndarray
    theta: np.ndarray
    theta_natural: np.ndarray
    laml: float
    reml_mgcv: float
    loglik: float
    penalty: float
    Vp: np.ndarray
    H_inv: np.ndarray
    edf: np.ndarray
    eta: np.ndarray
    fitted: np.ndarray
    grad: np.ndarray
    hess: np.ndarray
    free: list
    at_limit: np.ndarray
    converged: bool
    n_iter: int
    inner_iter: int
    lp_slices: list


@dataclass
class _Inner:
    beta: np.ndarray  # centred basis
    eta: np.ndarray  # (n, K)
    l: np.ndarray  # (n,) weighted loglik rows
    g: np.ndarray  # (n, K)
    h: np.ndarray  # (n, K, K)
    penalty: float
    factor: PenalizedFactor | None  # of X'(-h)X + S (observed), None if not PD
    n_iter: int
    converged: bool


class _LikelihoodProblem:
    """Data, family, centred designs and penalties; the inner fit and the LAML."""

    def __init__(self, designs, blocks, y, w, family, offset, theta_fixed, method="REML"):
        self.family = family
        self.ml = method == "ML"
        self.y, self.w = y, w
        self.K = len(designs)
        self.n = len(y)
        self.sizes = [X.shape[1] for X in designs]
        self.starts = np.concatenate([[0], np.cumsum(self.sizes)]).astype(int)
        self.p = int(self.starts[-1])
        self.blocks = blocks
        self.offset = offset
        self.rp = Reparametrization.from_blocks(blocks, self.p)
        self.Mp = int(self.p - np.count_nonzero(self.rp.penalized))
        # centring on each design's intercept column (unpenalized, all ones)
        penalized_cols = np.zeros(self.p, dtype=bool)
        for blk in blocks:
            penalized_cols[np.arange(self.p)[blk.cols]] = True
        self.M = np.eye(self.p)  # b = M b_c
        self.M_inv = np.eye(self.p)
        self.X = []
        for k, X in enumerate(designs):
            X = np.asarray(X, dtype=float)
            a = self.starts[k]
            ones = [j for j in range(X.shape[1])
                    if not penalized_cols[a + j] and np.all(X[:, j] == 1.0)]
            if ones and X.shape[0] > 0:
                j0 = ones[0]
                m = X.mean(axis=0)
                m[j0] = 0.0
                X = X - m[None, :]
                self.M[a + j0, a:a + X.shape[1]] -= m
                self.M_inv[a + j0, a:a + X.shape[1]] += m
            self.X.append(X)
        self.theta_fixed = theta_fixed
        # ML: the null space of the total penalty as covectors of the working basis
        # (b = M T b_r, so U = T'M'U_0)
        self.U0 = self.M.T @ null_basis(self.rp) if self.ml else None
        self._warm = None
        self._cache = None

    # ------------------------------------------------------------ linear algebra
    def eta_of(self, beta):
        eta = np.empty((self.n, self.K))
        for k, X in enumerate(self.X):
            eta[:, k] = X @ beta[self.starts[k]:self.starts[k + 1]]
        return eta + self.offset

    def tdot(self, G):
        """X'G for an (n, K) array: the stacked gradient."""
        return np.concatenate([X.T @ G[:, k] for k, X in enumerate(self.X)])

    def gram(self, Wt):
        """X' Wt X for an (n, K, K) weight array (blockwise)."""
        G = np.empty((self.p, self.p))
        for k in range(self.K):
            for m in range(k, self.K):
                B = self.X[k].T @ (Wt[:, k, m][:, None] * self.X[m])
                sk = slice(self.starts[k], self.starts[k + 1])
                sm = slice(self.starts[m], self.starts[m + 1])
                G[sk, sm] = B
                G[sm, sk] = B.T
        return 0.5 * (G + G.T)

    def S_times(self, beta, rho):
        """(S_lambda b, [lambda_j S_j b for each j])."""
        parts = []
        total = np.zeros(self.p)
        for blk, r in zip(self.blocks, rho, strict=True):
            v = np.zeros(self.p)
            v[blk.cols] = np.exp(r) * (blk.S @ beta[blk.cols])
            parts.append(v)
            total += v
        return total, parts

    def penalty(self, beta, rho):
        """b'S_lambda b = sum_i lambda_d,i (T'b)_i^2 (non-negative term by term)."""
        return self.rp.penalty(beta, rho)

    def factor(self, Wt, rho):
        return PenalizedFactor(self.rp, rho, G=self.gram(Wt))

    def solve(self, fac, v):
        return fac.T @ fac.solve(fac.T.T @ v)

    def null_covectors(self, fac):
        """ML: U = T(rho)'M'U_0, the total penalty's null space in the factor's basis
        (T depends on rho when penalties overlap)."""
        return fac.T.T @ self.U0

    # ---------------------------------------------------------------- inner fit
    def loglik(self, eta, theta):
        return self.family.loglik(self.y, eta, theta, self.w)

    def expected(self, eta, theta):
        fn = getattr(self.family, "expected_hessian", None)
        if fn is None:
            return -self.loglik(eta, theta)[2]
        return fn(self.y, eta, theta, self.w)

    def start_beta(self, rho, theta):
        """One Newton step from the family's starting linear predictors eta_0 (not
        necessarily in the column space): b = (X'W_0X + S)^-1 X'(W_0 (eta_0 - offset) + g_0)
        with W_0 the expected information at eta_0."""
        eta0 = np.asarray(self.family.eta_start(self.y, self.w), dtype=float)
        eta0 = eta0.reshape(self.n, self.K)
        _, g0, _ = self.loglik(eta0, theta)
        W0 = self.expected(eta0, theta)
        fac = self.factor(W0, rho)
        z = np.einsum("ikm,im->ik", W0, eta0 - self.offset) + g0
        return self.solve(fac, self.tdot(z))

    def objective(self, beta, rho, theta):
        eta = self.eta_of(beta)
        with np.errstate(all="ignore"):
            val = -float(np.sum(self.loglik(eta, theta)[0]))
        return val + 0.5 * self.penalty(beta, rho)

    def inner(self, rho, theta, max_iter=200) -> _Inner:
        """Penalized Newton for b at fixed (rho, theta), from the warm start.

        Converged when the Newton step is below 1e-10 (1 + max|b|), or below 1e-6 (1 +
        max|b|) and no longer halving from one iteration to the next (the round-off floor
        of an ill-conditioned direction; Newton steps otherwise shrink quadratically): the
        weights, gradient and factor returned are those at the returned b. A step that
        cannot lower the penalized objective in 50 halvings ends the loop (converged if the
        step was already below 1e-6 (1 + max|b|)).
        """
        beta = self._warm
        if beta is None:
            beta = self.start_beta(rho, theta)
            f0 = self.objective(np.zeros(self.p), rho, theta)
            f = self.objective(beta, rho, theta)
            if not (np.isfinite(f) and f <= f0):
                beta, f = np.zeros(self.p), f0
        else:
            f = self.objective(beta, rho, theta)
        converged, last = False, np.inf
        for it in range(1, max_iter + 1):  # noqa: B007 - reported after the loop
            eta = self.eta_of(beta)
            l, g, h = self.loglik(eta, theta)
            Sb, _ = self.S_times(beta, rho)
            grad = self.tdot(g) - Sb
            try:
                fac = self.factor(-h, rho)
                step = self.solve(fac, grad)
            except LinAlgError:  # indefinite observed information: Fisher step
                fac = None
                step = self.solve(self.factor(self.expected(eta, theta), rho), grad)
            size = np.max(np.abs(step), initial=0.0)
            scale = 1.0 + np.max(np.abs(beta), initial=0.0)
            # a Newton step stops shrinking only at the round-off floor of the gradient
            if size < 1e-10 * scale or (size < 1e-6 * scale and size > 0.5 * last):
                converged = fac is not None
                break
            last = size
            alpha = 1.0
            for _ in range(50):
                trial = beta + alpha * step
                f_new = self.objective(trial, rho, theta)
                if np.isfinite(f_new) and f_new <= f + 1e-13 * abs(f):
                    break
                alpha *= 0.5
            else:
                converged = size < 1e-6 * scale and fac is not None
                break
            beta, f = trial, f_new
        else:
            eta = self.eta_of(beta)
            l, g, h = self.loglik(eta, theta)
            try:
                fac = self.factor(-h, rho)
            except LinAlgError:
                fac = None
        self._warm = beta
        return _Inner(beta, eta, l, g, h, self.penalty(beta, rho), fac, it, converged)

    # --------------------------------------------------------------------- LAML
    def split(self, psi):
        nt = 0 if self.theta_fixed is not None else self.family.n_theta
        theta = psi[:nt] if self.theta_fixed is None else self.theta_fixed
        return np.asarray(theta, dtype=float), np.asarray(psi[nt:], dtype=float)

    def state_at(self, psi) -> _Inner:
        if self._cache is not None and np.array_equal(self._cache[0], psi):
            return self._cache[1]
        theta, rho = self.split(psi)
        st = self.inner(rho, theta)
        self._cache = (np.array(psi, copy=True), st)
        return st

    def laml_value(self, st: _Inner) -> float:
        if st.factor is None:
            return np.inf
        if self.ml:
            fac = st.factor
            null = fac.null_logdet(self.null_covectors(fac))[0]
            return float(-np.sum(st.l) + 0.5 * st.penalty + 0.5 * (fac.logdet_rel + null))
        return float(-np.sum(st.l) + 0.5 * st.penalty + 0.5 * st.factor.logdet_rel
                     - 0.5 * self.Mp * _LOG_2PI)

    def score(self, psi) -> float:
        return self.laml_value(self.state_at(psi))

    def _direction_h(self, eta, theta, u_eta, u_theta):
        """Derivative of the (n, K, K) eta-Hessian of l along (u_eta, u_theta)."""
        s = max(np.max(np.abs(u_eta), initial=0.0), np.max(np.abs(u_theta), initial=0.0))
        if s == 0.0:
            return np.zeros((self.n, self.K, self.K))
        eps = _FD_STEP / s
        hp = self.loglik(eta + eps * u_eta, theta + eps * u_theta)[2]
        hm = self.loglik(eta - eps * u_eta, theta - eps * u_theta)[2]
        return (hp - hm) / (2.0 * eps)

    def laml(self, psi):
        """V at psi, its gradient in psi (module docstring) and the inner state."""
        st = self.state_at(psi)
        value = self.laml_value(st)
        if st.factor is None:
            return value, np.full(len(psi), np.nan), st
        theta, rho = self.split(psi)
        fac = st.factor
        T = fac.T
        U = self.null_covectors(fac) if self.ml else None
        L = T @ fac.inverse_sqrt()  # H^-1 = L L' (centred basis)
        # the trace terms: H^-1 (REML) or U_r H_rr^-1 U_r' (ML)
        Lt = T @ fac.range_inverse_sqrt(U) if self.ml else L
        Z = [self.X[k] @ Lt[self.starts[k]:self.starts[k + 1]] for k in range(self.K)]
        Q = np.empty((self.n, self.K, self.K))
        for k in range(self.K):
            for m in range(k, self.K):
                Q[:, k, m] = Q[:, m, k] = np.einsum("ij,ij->i", Z[k], Z[m])
        Hinv = L @ L.T
        grad = []
        nt = len(psi) - len(rho)
        if nt:
            for k in range(nt):
                e = np.zeros(nt)
                e[k] = _FD_STEP
                lp, gp, _ = self.loglik(st.eta, theta + e)
                lm, gm, _ = self.loglik(st.eta, theta - e)
                dl = float(np.sum((lp - lm) / (2 * _FD_STEP)))
                dg = (gp - gm) / (2 * _FD_STEP)
                dbeta = Hinv @ self.tdot(dg)
                deta = self.eta_of(dbeta) - self.offset
                u = np.zeros(nt)
                u[k] = 1.0
                dh = self._direction_h(st.eta, theta, deta, u)
                grad.append(-dl - 0.5 * float(np.sum(dh * Q)))
        if len(rho):
            _, Sb_parts = self.S_times(st.beta, rho)
            trF = fac.edf_excess()
            if self.ml:  # the penalty part of d log|U_0'H^-1 U_0|
                trF = trF - fac.null_logdet(U, order=1)[1]
            zero = np.zeros(len(theta))
            for j, v in enumerate(Sb_parts):
                dbeta = -(Hinv @ v)
                deta = self.eta_of(dbeta) - self.offset
                dh = self._direction_h(st.eta, theta, deta, zero)
                grad.append(0.5 * float(st.beta @ v) - 0.5 * trF[j]
                            - 0.5 * float(np.sum(dh * Q)))
        return value, np.asarray(grad), st

    def derivatives(self, psi, free, step=1e-5):
        """V, gradient and forward-difference Hessian (of the gradient) in the entries
        ``free`` of psi, and the state."""
        psi = np.asarray(psi, dtype=float)
        value, grad, st = self.laml(psi)
        k = len(free)
        hess = np.empty((k, k))
        for a, j in enumerate(free):
            e = np.zeros(len(psi))
            e[j] = step
            hess[a] = (self.laml(psi + e)[1][free] - grad[free]) / step
            self._warm = st.beta
        self._cache = (psi.copy(), st)
        return value, grad[free], 0.5 * (hess + hess.T), st


def _check_inputs(designs, blocks, y, w, family, offset):
    if not isinstance(family, LikelihoodFamily):
        raise TypeError(f"fit_likelihood_laml needs a LikelihoodFamily (ocat, nb, multinom), "
                        f"got {family!r}")
    y = np.asarray(y, dtype=float).reshape(-1)
    n = len(y)
    w = np.ones(n) if w is None else np.asarray(w, dtype=float).reshape(-1)
    if w.shape != (n,) or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("weights must be n non-negative finite numbers")
    family.check_y(y, w, "y")
    designs = [np.asarray(X, dtype=float) for X in designs]
    if len(designs) != family.n_lp:
        raise ValueError(f"{family!r} has {family.n_lp} linear predictor(s); got "
                         f"{len(designs)} model matrices")
    for k, X in enumerate(designs):
        if X.ndim != 2 or X.shape[0] != n:
            raise ValueError(f"model matrix {k} must be ({n}, p_{k}); got {X.shape}")
        if not np.all(np.isfinite(X)):
            raise ValueError(f"model matrix {k} has NaN or infinite entries")
    p = sum(X.shape[1] for X in designs)
    for blk in blocks:
        idx = np.arange(p)[blk.cols]
        if blk.S.shape != (len(idx), len(idx)):
            raise ValueError(f"penalty on columns {blk.cols} has shape {blk.S.shape}")
    K = len(designs)
    offset = (np.zeros((n, K)) if offset is None
              else np.broadcast_to(np.asarray(offset, dtype=float).reshape(n, -1), (n, K)))
    return designs, y, w, np.array(offset, dtype=float)


def fit_likelihood_laml(designs, penalty_blocks: list[PenaltyBlock], y, w, family, sp=None,
                        theta=None, offset=None, tol: float = 1e-9,
                        method: str = "REML") -> LikelihoodFit:
    """Fit an extended / general family GAM by penalized Newton + Laplace-approximate REML.

    Parameters
    ----------
    designs : list of (n, p_k) arrays
        The model matrix of each linear predictor (``family.n_lp`` of them: multinom K,
        ocat / nb 1), uncentred, intercept columns included (a column of ones that no
        penalty touches is detected and centred on internally). The coefficient vector
        stacks them: b = (b_1, ..., b_K), p = sum p_k.
    penalty_blocks : list of ``reparam.PenaltyBlock``
        One per smoothing parameter; ``cols`` index the stacked coefficient vector.
    y, w : (n,) response (ocat 1..R, multinom 0..K, nb counts) and prior weights (None: 1).
    family : a ``LikelihoodFamily`` instance (``make_family("ocat")``, ...). Its ``theta``
        is set to the estimate on return (so ``family.response`` uses it).
    sp : fixed smoothing parameters (length = len(penalty_blocks)); None estimates them.
    theta : fixed family parameters on the working scale; None estimates them (unless the
        family was built with a fixed theta, e.g. ``NegBin(theta=3)``).
    offset : (n,) or (n, K) added to the linear predictors.
    tol : outer convergence: max |dV/dpsi| < tol (1 + |V|) (mgcv stops near 1e-6 |V|).
    method : "REML" or "ML" (module docstring).

    Returns a ``LikelihoodFit`` (see its docstring); coefficients, Vp and edf are in the
    caller's (uncentred, stacked) basis.
    """
    designs, y, w, offset = _check_inputs(designs, penalty_blocks, y, w, family, offset)
    fam = family
    theta_fixed = _fixed_theta(fam, theta)
    theta0 = (theta_fixed if theta_fixed is not None
              else np.asarray(fam.initial_theta(y, w), dtype=float))
    fam.theta = theta0.copy()
    prob = _LikelihoodProblem(designs, list(penalty_blocks), y, w, fam, offset, theta_fixed,
                              method=method)
    m = len(penalty_blocks)
    rho_fixed = None
    if sp is not None:
        sp = np.atleast_1d(np.asarray(sp, dtype=float))
        if sp.shape != (m,) or np.any(~(sp > 0)):
            raise ValueError(f"sp must be {m} positive numbers")
        rho_fixed = np.log(sp)
    nt_free = fam.n_theta if theta_fixed is None else 0

    # starting values: rho balances the penalties against X'W_0X at the family's start
    # (fit.initial_rho, as mgcv initial.sp); theta maximizes l at the fitted eta (twice)
    if rho_fixed is None and m:
        eta0 = np.asarray(fam.eta_start(y, w), dtype=float).reshape(len(y), prob.K)
        rho0 = initial_rho(prob.gram(prob.expected(eta0, theta0)), prob.blocks)
    else:
        rho0 = rho_fixed if rho_fixed is not None else np.zeros(0)
    theta_start = theta0
    for _ in range(2 if nt_free else 0):
        eta = prob.inner(rho0, theta_start).eta

        def negll(t, eta=eta):
            with np.errstate(all="ignore"):
                v = -float(np.sum(prob.loglik(eta, t)[0]))
            return v if np.isfinite(v) else 1e300

        res = minimize(negll, theta_start, method="Nelder-Mead" if nt_free == 1 else "BFGS",
                       options={"maxiter": 200})
        theta_start = np.clip(res.x, -RHO_BOUND + 5, RHO_BOUND - 5)

    # the free parameters psi_free: theta (unless fixed), then rho (unless sp is given)
    free_names = [f"theta{k}" for k in range(nt_free)]
    free_names += [f"rho{j}" for j in range(m)] if rho_fixed is None else []
    psi0 = np.concatenate([theta_start[:nt_free], rho0 if rho_fixed is None else []])

    def full(psi_free):
        """(theta, rho) as the problem takes them (theta only where it is free)."""
        return np.concatenate([psi_free[:nt_free],
                               rho_fixed if rho_fixed is not None else psi_free[nt_free:]])

    if len(psi0):
        free = np.arange(len(psi0)) if rho_fixed is None else np.arange(nt_free)
        last = {}

        def derivatives(psi_free):
            out = prob.derivatives(full(psi_free), free)
            last["psi"], last["hess"] = np.array(psi_free, copy=True), out[2]
            return out

        def limits(st):
            inf = np.full(nt_free, np.inf)
            if rho_fixed is None and m:
                hi, lo = (limit_excess(st.factor) if st.factor is not None
                          else (np.full(m, np.inf), np.full(m, np.inf)))
                return np.concatenate([inf, hi]), np.concatenate([inf, lo])
            return inf, inf

        res = newton_minimize(derivatives, lambda q: prob.score(full(q)), psi0, tol=tol,
                              what="LAML", limits=limits)
        psi, n_iter, outer_ok = full(res.rho), res.n_iter, res.converged
        grad, at_limit = res.grad, res.at_limit
        if not np.array_equal(last["psi"], res.rho):
            derivatives(res.rho)
        hess = last["hess"]
    else:
        psi, n_iter, outer_ok = full(np.zeros(0)), 0, True
        grad, hess, at_limit = np.zeros(0), np.zeros((0, 0)), np.zeros(0, dtype=int)

    theta_hat, rho = prob.split(psi)
    st = prob.state_at(psi)
    if st.factor is None:
        raise LinAlgError("the penalized observed information is not positive definite at "
                          "the estimates: the model is not identifiable")
    if not st.converged:
        warnings.warn("penalized Newton for the coefficients did not converge; results may "
                      "be inaccurate", RuntimeWarning, stacklevel=2)
    value = prob.laml_value(st)
    fam.theta = np.asarray(theta_hat, dtype=float).copy()

    # posterior covariance and edf with the expected information (mgcv's Vp, edf)
    # (the factors' basis T(rho) is the same for both: it depends on rho only)
    M, M_inv = prob.M, prob.M_inv
    fac_F = prob.factor(prob.expected(st.eta, theta_hat), rho)
    B, B_inv = M @ fac_F.T, fac_F.T.T @ M_inv
    Vp = B @ fac_F.inverse() @ B.T
    F = B @ fac_F.F() @ B_inv
    H_inv = B @ st.factor.inverse() @ B.T
    shift = getattr(fam, "mgcv_score_shift", None)
    reml_mgcv = value + (shift(y) if shift is not None else 0.0)
    natural = getattr(fam, "natural_theta", None)
    return LikelihoodFit(
        beta=M @ st.beta, rho=rho, sp=np.exp(rho), theta=np.asarray(theta_hat, dtype=float),
        theta_natural=(natural(theta_hat) if natural is not None
                       else np.asarray(theta_hat, dtype=float)),
        laml=value, reml_mgcv=float(reml_mgcv), loglik=float(np.sum(st.l)),
        penalty=st.penalty, Vp=0.5 * (Vp + Vp.T), H_inv=0.5 * (H_inv + H_inv.T),
        edf=np.diag(F).copy(), eta=st.eta, fitted=fam.response(st.eta), grad=grad, hess=hess,
        free=free_names, at_limit=at_limit, converged=bool(outer_ok and st.converged),
        n_iter=n_iter, inner_iter=st.n_iter,
        lp_slices=[slice(int(a), int(b)) for a, b in zip(prob.starts[:-1], prob.starts[1:],
                                                          strict=True)])


def _fixed_theta(fam, theta):
    """The fixed theta (working scale), or None when it is to be estimated."""
    if theta is not None:
        fixed = np.atleast_1d(np.asarray(theta, dtype=float))
        if fixed.shape != (fam.n_theta,) or not np.all(np.isfinite(fixed)):
            raise ValueError(f"{fam!r} has {fam.n_theta} theta parameter(s); got "
                             f"{np.asarray(theta)!r}")
        return fixed
    if fam.n_theta == 0:
        return np.zeros(0)
    if getattr(fam, "theta_fixed", False):  # e.g. NegBin(theta=3), Ocat(theta=...)
        return np.asarray(fam.theta, dtype=float).copy()
    return None
