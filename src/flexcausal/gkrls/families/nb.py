"""Negative binomial family with log link and estimated theta: mgcv ``nb()``.

y >= 0 with mean mu = exp(eta) and variance mu + mu^2 / t, t = exp(theta) > 0 (the working
parameter theta = log t is unconstrained, as mgcv's ``.Theta``). Per observation, weight w,

    l = w [lgamma(y + t) - lgamma(t) - lgamma(y + 1) + t log t + y log mu
           - (y + t) log(mu + t)]
      = w [lgamma(y + t) - lgamma(t) - lgamma(y + 1) - y s(theta - eta) - t s(eta - theta)],

s(x) = log(1 + e^x) (softplus), which stays accurate when t is huge (Poisson limit) or
tiny. With q = F(eta - theta) = mu / (mu + t) (F the logistic CDF):

    dl/deta   = w [y - (y + t) q],
    d2l/deta2 = -w (y + t) q (1 - q)           (< 0: l is concave in eta),
    E[-d2l/deta2] = w mu t / (mu + t)           (the expected information).

mgcv (Wood, Pya & Saefken 2016, Sec. 3; ``nb()$Dd``, ``nb()$ls``) writes the criterion with
the deviance D = 2 sum w [y log(y / mu) - (y + t) log((y + t) / (mu + t))] and the
saturated log-likelihood ls(theta); D / 2 - ls = -sum l exactly, so its REML is the
Laplace-REML of the log-likelihood above. Its reported ``Vp`` and ``edf`` use the expected
information (``EDmu2``), the LAML the observed one: ``expected_hessian`` gives the former.

lgamma(y + t) - lgamma(t) is formed by Stirling's series when t >= 10, without the
cancellation of two numbers of size t log t.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from .base import LikelihoodFamily


def lgamma_ratio(y, t):
    """lgamma(y + t) - lgamma(t) for y >= 0, t > 0, accurate for large t.

    For t >= 10, with x = t, z = t + y (Stirling; the series error is below
    691 / (360360 x^11) < 2e-14):
    (z - 1/2) log z - (x - 1/2) log x - y = (x - 1/2) log1p(y / x) + y log z - y,
    plus s(z) - s(x), s(v) = 1/(12 v) - 1/(360 v^3) + 1/(1260 v^5) - 1/(1680 v^7)
    + 1/(1188 v^9).
    """
    y = np.asarray(y, dtype=float)
    t = np.broadcast_to(np.asarray(t, dtype=float), y.shape)
    out = np.empty(np.broadcast(y, t).shape)
    small = t < 10.0
    out[small] = special.gammaln(y[small] + t[small]) - special.gammaln(t[small])
    x, yy = t[~small], y[~small]
    z = x + yy

    def series(v):
        iv = 1.0 / v
        iv2 = iv * iv
        return iv * (1.0 / 12 - iv2 * (1.0 / 360 - iv2 * (1.0 / 1260 - iv2 * (
            1.0 / 1680 - iv2 / 1188))))

    out[~small] = ((x - 0.5) * np.log1p(yy / x) + yy * np.log(z) - yy
                   + series(z) - series(x))
    return out


def _softplus(x):
    return np.logaddexp(0.0, x)


class NegBin(LikelihoodFamily):
    """mgcv ``nb()``: log link, theta = log(t) estimated; ``theta=`` (the natural t > 0,
    as ``nb(theta = 3)``) fixes it."""

    name = "nb"
    links = ("log",)
    n_theta = 1

    def __init__(self, link: str | None = None, theta: float | None = None):
        super().__init__(link)
        self.theta_fixed = theta is not None
        if theta is not None:
            if not (np.isscalar(theta) and np.isfinite(theta) and theta > 0):
                raise ValueError(f"nb: theta must be a positive number, got {theta!r}")
            self.theta = np.array([np.log(float(theta))])

    def natural_theta(self, theta=None) -> np.ndarray:
        """t = exp(theta) (mgcv ``getTheta(TRUE)``)."""
        theta = self.theta if theta is None else np.asarray(theta, dtype=float)
        return np.exp(theta)

    def check_y(self, y, w, name) -> None:
        y = np.asarray(y, dtype=float)
        if not np.all(np.isfinite(y)) or np.any(y < 0):
            raise ValueError(f"negative binomial response {name!r} must be non-negative "
                             "counts with no missing values")

    def loglik(self, y, eta, theta, w):
        """w l_i, its first and second derivatives in eta (module docstring)."""
        e = np.asarray(eta, dtype=float).reshape(len(y), 1)[:, 0]
        th = float(np.asarray(theta, dtype=float).reshape(-1)[0])
        t = np.exp(th)
        y = np.asarray(y, dtype=float)
        l = (lgamma_ratio(y, t) - special.gammaln(y + 1.0) - y * _softplus(th - e)
             - t * _softplus(e - th))
        q = special.expit(e - th)
        g = y - (y + t) * q
        h = -(y + t) * q * special.expit(th - e)
        return w * l, (w * g)[:, None], (w * h)[:, None, None]

    def expected_hessian(self, y, eta, theta, w):
        """E[-d2l/deta2] = w mu t / (mu + t) = w t F(eta - theta) (n, 1, 1)."""
        e = np.asarray(eta, dtype=float).reshape(len(y), 1)[:, 0]
        th = float(np.asarray(theta, dtype=float).reshape(-1)[0])
        return (w * np.exp(th) * special.expit(e - th))[:, None, None]

    def initial_theta(self, y, w) -> np.ndarray:
        """The fixed theta, else a moment estimate t = m^2 / (v - m) from the weighted
        mean and variance of y (clipped to [0.01, 100]); the fitter refines it."""
        if self.theta_fixed:
            return self.theta.copy()
        y = np.asarray(y, dtype=float)
        m = float(np.average(y, weights=w))
        v = float(np.average((y - m) ** 2, weights=w))
        t = m * m / (v - m) if v > m * 1.01 else 100.0
        return np.array([np.log(np.clip(t, 0.01, 100.0))])

    def eta_start(self, y, w) -> np.ndarray:
        """mgcv ``initialize``: mu = y + (y == 0) / 6."""
        y = np.asarray(y, dtype=float)
        return np.log(y + (y == 0) / 6.0)[:, None]

    def response(self, eta) -> np.ndarray:
        """The mean exp(eta)."""
        return self.link.inverse(np.asarray(eta, dtype=float).reshape(-1))
