"""The exponential families of R ``family()``: Gaussian, binomial, Poisson, Gamma.

Each gives the variance function V(mu), V'(mu), deviance residuals and the saturated
log-likelihood ``ls`` that mgcv's (Laplace) REML uses (mgcv ``family$ls``; Wood 2011,
Sec. 3). The fitting code never branches on a family's name.
"""

from __future__ import annotations

import numpy as np
from scipy import special, stats

from .base import ExponentialFamily


class Gaussian(ExponentialFamily):
    """Gaussian: V(mu) = 1, unknown scale."""

    name = "gaussian"
    links = ("identity", "log", "inverse")  # the first is the default link
    canonical_link = "identity"
    scale_known = False

    def variance(self, mu):
        return np.ones_like(mu)

    def dvar(self, mu):
        return np.zeros_like(mu)

    def dev_resids(self, y, mu, w):
        return w * (y - mu) ** 2

    def saturated_loglik(self, y, w, scale) -> float:
        """mgcv ``ls``: log-likelihood of the saturated model."""
        return float(-0.5 * np.sum(np.log(2 * np.pi * scale / w)))

    def check_y(self, y, w, name) -> None:
        if not np.all(np.isfinite(y)):
            raise ValueError(f"gaussian response {name!r} has NaN or infinite values")

    def mu_start(self, y, w):
        return y.copy()

    def valid_mu(self, mu) -> bool:
        return bool(np.all(np.isfinite(mu)))


class Binomial(ExponentialFamily):
    """Bernoulli / proportions with prior weights = trials; V(mu) = mu (1 - mu), scale 1."""

    name = "binomial"
    links = ("logit", "probit", "cloglog")
    canonical_link = "logit"
    scale_known = True

    def variance(self, mu):
        return mu * (1 - mu)

    def dvar(self, mu):
        return 1 - 2 * mu

    def dev_resids(self, y, mu, w):
        return 2 * w * (special.xlogy(y, y / mu) + special.xlogy(1 - y, (1 - y) / (1 - mu)))

    def saturated_loglik(self, y, w, scale) -> float:
        m = w
        k = np.round(y * m)
        return float(np.sum(stats.binom.logpmf(k, np.round(m), y)))

    def check_y(self, y, w, name) -> None:
        if np.any((y < 0) | (y > 1)):
            raise ValueError(
                f"binomial response {name!r} must lie in [0, 1] (0/1 or proportions with "
                f"weights= the number of trials); got range [{y.min()}, {y.max()}]"
            )

    def mu_start(self, y, w):
        return (w * y + 0.5) / (w + 1)

    def valid_mu(self, mu) -> bool:
        return bool(np.all((mu > 0) & (mu < 1)))


class Poisson(ExponentialFamily):
    """Counts; V(mu) = mu, scale 1."""

    name = "poisson"
    links = ("log", "identity")
    canonical_link = "log"
    scale_known = True

    def variance(self, mu):
        return mu

    def dvar(self, mu):
        return np.ones_like(mu)

    def dev_resids(self, y, mu, w):
        return 2 * w * (special.xlogy(y, y / mu) - (y - mu))

    def saturated_loglik(self, y, w, scale) -> float:
        return float(np.sum(w * stats.poisson.logpmf(y, y)))

    def check_y(self, y, w, name) -> None:
        if np.any(y < 0) or np.any(y != np.round(y)):
            raise ValueError(f"poisson response {name!r} must be non-negative integer counts")

    def mu_start(self, y, w):
        return y + 0.1

    def valid_mu(self, mu) -> bool:
        return bool(np.all(mu > 0))


class Gamma(ExponentialFamily):
    """Positive continuous; V(mu) = mu^2, unknown scale (log link by default here)."""

    name = "gamma"
    links = ("log", "inverse", "identity")
    canonical_link = "inverse"
    scale_known = False

    def variance(self, mu):
        return mu**2

    def dvar(self, mu):
        return 2 * mu

    def dev_resids(self, y, mu, w):
        return -2 * w * (np.log(y / mu) - (y - mu) / mu)

    def saturated_loglik(self, y, w, scale) -> float:
        # mgcv Gamma()$ls: scale_i = scale / w_i, k = -lgamma(1/s) - log(s)/s - 1/s
        s = scale / w
        return float(np.sum(-special.gammaln(1 / s) - np.log(s) / s - 1 / s - np.log(y)))

    def check_y(self, y, w, name) -> None:
        if np.any(y <= 0):
            raise ValueError(f"gamma response {name!r} must be strictly positive")

    def mu_start(self, y, w):
        return y.copy()

    def valid_mu(self, mu) -> bool:
        return bool(np.all(mu > 0))
