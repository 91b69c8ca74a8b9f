"""Ordered categorical (proportional-odds logit) family: mgcv ``ocat(R)``.

The response y takes the values 1..R. With a latent u = eta + e, e standard logistic
(CDF F(x) = 1 / (1 + e^{-x})), and cut points -inf = alpha_0 < alpha_1 < ... <
alpha_{R-1} < alpha_R = inf,

    P(y = r) = F(alpha_r - eta) - F(alpha_{r-1} - eta).

As in mgcv 1.8-41 (``ocat``; Wood, Pya & Saefken 2016, JASA 111, Sec. 3 and Appendix), the
model keeps its intercept and the first cut point is fixed, alpha_1 = -1; the others are
the extra parameters theta (R - 2 of them) through positive increments,

    alpha_r = -1 + sum_{s=1}^{r-1} exp(theta_s),   r = 2, ..., R - 1,

so any real theta gives ordered cut points. With a = alpha_{y-1} - eta, b = alpha_y - eta
the log-likelihood and its eta-derivatives are written without cancellation:

    log P = log F(b) + log F(-a) + log(1 - exp(a - b))      (F(b) - F(a) = F(b) F(-a)
                                                            (1 - e^{a - b}), exactly),
    dl/deta   = F(a) - F(-b),
    d2l/deta2 = -[f(a) + f(b)],   f(x) = F(x) F(-x),

(terms at a = -inf or b = inf vanish). l is concave in eta, so the penalized Hessian is
always positive definite. The expected and observed information coincide here (mgcv's
``EDmu2 = Dmu2``). ``ls`` (the saturated log-likelihood) is 0 in mgcv, so mgcv's REML
D / 2 - ls + ... is the Laplace-REML of -l written with the deviance D = -2 sum w log P.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from .base import LikelihoodFamily


def _log_expit(x):
    """log F(x) = -log(1 + e^{-x}) (0 at x = inf, -inf at x = -inf), stable for large |x|."""
    with np.errstate(invalid="ignore"):
        return -np.logaddexp(0.0, -x)


class Ocat(LikelihoodFamily):
    """mgcv ``ocat(R)``: y in 1..R, identity link, R - 2 cut-point parameters theta.

    ``R`` (alias ``n_categories``) may be left out: the first ``check_y`` (every fit
    calls it) sets it to max(y). Pass it when the highest category may be absent from the
    data. ``theta`` (working scale, length R - 2) fixes the cut points instead of
    estimating them; ``cut_points`` returns alpha_1..alpha_{R-1} for a theta.
    """

    name = "ocat"
    links = ("identity",)

    def __init__(self, link: str | None = None, R: int | None = None,
                 n_categories: int | None = None, theta=None):
        super().__init__(link)
        if R is not None and n_categories is not None and R != n_categories:
            raise ValueError(f"ocat: R={R} and n_categories={n_categories} disagree")
        R = R if R is not None else n_categories
        self.R: int | None = None
        self.theta_fixed = theta is not None
        if R is not None:
            self._set_categories(R)
        if theta is not None:
            theta = np.atleast_1d(np.asarray(theta, dtype=float))
            if self.R is None:
                self._set_categories(len(theta) + 2)
            if theta.shape != (self.R - 2,) or not np.all(np.isfinite(theta)):
                raise ValueError(f"ocat: theta must be {self.R - 2} finite numbers (log "
                                 "increments of the cut points)")
            self.theta = theta.copy()

    def _set_categories(self, R) -> None:
        if int(R) != R or R < 2:
            raise ValueError(f"ocat: the number of categories R must be an integer >= 2, got {R}")
        self.R = int(R)
        self.n_theta = self.R - 2
        self.n_response = self.R
        if len(self.theta) != self.n_theta:
            self.theta = np.zeros(self.n_theta)

    def __repr__(self) -> str:
        return f"ocat(R={self.R})"

    # ------------------------------------------------------------------ theta
    def cut_points(self, theta=None) -> np.ndarray:
        """alpha_1..alpha_{R-1}: -1, then -1 + cumsum(exp(theta))."""
        theta = self.theta if theta is None else np.asarray(theta, dtype=float)
        return np.concatenate([[-1.0], -1.0 + np.cumsum(np.exp(theta))])

    def natural_theta(self, theta=None) -> np.ndarray:
        """The cut points (mgcv ``getTheta(TRUE)``)."""
        return self.cut_points(theta)

    def _bounds(self, y, theta):
        """a = alpha_{y-1}, b = alpha_y for each row (-inf / inf at the ends)."""
        alpha = np.concatenate([[-np.inf], self.cut_points(theta), [np.inf]])
        yi = np.asarray(y).astype(int)
        return alpha[yi - 1], alpha[yi]

    # ------------------------------------------------------------- likelihood
    def check_y(self, y, w, name) -> None:
        y = np.asarray(y, dtype=float)
        if y.size == 0 or not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise ValueError(f"ocat response {name!r} must be integer category codes 1..R "
                             "with no missing values")
        if self.R is None:
            self._set_categories(max(int(y.max()), 2))
        if y.min() < 1 or y.max() > self.R:
            raise ValueError(f"ocat response {name!r} must be coded 1..{self.R} (R={self.R} "
                             f"categories); got range [{y.min():g}, {y.max():g}]")

    def loglik(self, y, eta, theta, w):
        """w_i log P(y_i), its first and second derivatives in eta (module docstring)."""
        e = np.asarray(eta, dtype=float).reshape(len(y), 1)[:, 0]
        lo, hi = self._bounds(y, theta)
        a, b = lo - e, hi - e
        with np.errstate(invalid="ignore"):
            gap = np.where(np.isfinite(lo) & np.isfinite(hi), lo - hi, -np.inf)
        logp = _log_expit(b) + _log_expit(-a) + np.log(-np.expm1(gap))
        Fa = np.where(np.isfinite(a), special.expit(a), 0.0)
        Fnb = np.where(np.isfinite(b), special.expit(-b), 0.0)
        fa = np.where(np.isfinite(a), Fa * special.expit(-a), 0.0)
        fb = np.where(np.isfinite(b), Fnb * special.expit(b), 0.0)
        g = w * (Fa - Fnb)
        h = -w * (fa + fb)
        return w * logp, g[:, None], h[:, None, None]

    def expected_hessian(self, y, eta, theta, w):
        """E[-d2l/deta2] = -d2l/deta2 here (the logistic Hessian does not depend on y
        beyond the interval ends); mgcv's ``EDmu2 = Dmu2``."""
        return -self.loglik(y, eta, theta, w)[2]

    def initial_theta(self, y, w) -> np.ndarray:
        """mgcv ``ocat.ini``: cut points at the empirical logits of the cumulative
        proportions (one pseudo-observation per category), shifted so alpha_1 = -1,
        increments at least 0.01."""
        if self.R is None:
            self.check_y(y, w, "y")
        R = self.R
        if R < 3:
            return np.zeros(0)
        yi = np.asarray(y).astype(int)
        counts = np.bincount(yi - 1, weights=w, minlength=R)[:R] + 1.0
        p = np.cumsum(counts) / counts.sum()
        eta = 5.0 if p[0] == 0 else -1.0 - np.log(p[0] / (1 - p[0]))
        alpha = np.full(R - 1, -1.0)
        for i in range(1, R - 1):
            alpha[i] = np.log(p[i] / (1 - p[i])) + eta
        inc = np.maximum(np.diff(alpha), 0.01)
        return np.log(inc)

    def eta_start(self, y, w) -> np.ndarray:
        """mgcv's ``initialize``: the middle of each category's interval, with the end
        intervals closed at alpha_1 - 1 and alpha_{R-1} + 1."""
        cut = self.cut_points()
        alpha = np.concatenate([[cut[0] - 1.0], cut, [cut[-1] + 1.0]])
        yi = np.asarray(y).astype(int)
        return (0.5 * (alpha[yi - 1] + alpha[yi]))[:, None]

    def categories(self) -> list[str]:
        return [str(r) for r in range(1, self.n_response + 1)]  # outcome coded 1..R

    def response(self, eta) -> np.ndarray:
        """(n, R) category probabilities P(y = 1..R) at the current cut points."""
        e = np.asarray(eta, dtype=float).reshape(-1)
        alpha = np.concatenate([[-np.inf], self.cut_points(), [np.inf]])
        lo, hi = alpha[None, :-1], alpha[None, 1:]
        a, b = lo - e[:, None], hi - e[:, None]
        with np.errstate(invalid="ignore", over="ignore"):
            gap = np.where(np.isfinite(lo) & np.isfinite(hi), lo - hi, -np.inf)
            # F(b) - F(a) = F(b) F(-a) (1 - e^{a - b}): no cancellation in either tail
            return special.expit(b) * special.expit(-a) * -np.expm1(gap)

    def response_jacobian(self, eta) -> tuple[np.ndarray, np.ndarray]:
        """P(y = r) and d P(y = r) / d eta = f(alpha_{r-1} - eta) - f(alpha_r - eta),
        f = F (1 - F) the logistic density (f = 0 at the infinite end points); the cut
        points are held at their estimates, as in gKRLS ``ocat_gradient``."""
        e = np.asarray(eta, dtype=float).reshape(-1)
        alpha = self.cut_points()
        F = special.expit(alpha[None, :] - e[:, None])  # (n, R - 1)
        dens = np.hstack([np.zeros((e.size, 1)), F * (1.0 - F), np.zeros((e.size, 1))])
        return self.response(e), (dens[:, :-1] - dens[:, 1:])[:, :, None]

    def state(self) -> dict:
        return {"theta": [float(t) for t in self.theta], "R": self.R}
