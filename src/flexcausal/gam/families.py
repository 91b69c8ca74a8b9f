"""Exponential families and links, as small classes with the same few methods.

Each link gives g(mu), g^{-1}(eta), d mu / d eta and g''(mu); each family gives the
variance function V(mu), V'(mu), deviance residuals and the saturated log-likelihood
``ls`` that mgcv's (Laplace) REML uses (mgcv ``family$ls``; Wood 2011, Sec. 3). The
fitting code never branches on a family's name.
"""

from __future__ import annotations

import numpy as np
from scipy import special, stats

from .._checks import check_choice

_EPS = np.finfo(float).eps


class Link:
    name = "identity"

    def link(self, mu):
        return mu

    def inverse(self, eta):
        return eta

    def mu_eta(self, eta):
        """d mu / d eta."""
        return np.ones_like(eta)

    def d2link(self, mu):
        """g''(mu)."""
        return np.zeros_like(mu)


class LogLink(Link):
    name = "log"

    def link(self, mu):
        return np.log(mu)

    def inverse(self, eta):
        return np.exp(np.minimum(eta, 700.0))

    def mu_eta(self, eta):
        return np.maximum(np.exp(np.minimum(eta, 700.0)), _EPS)

    def d2link(self, mu):
        return -1.0 / mu**2


class LogitLink(Link):
    name = "logit"

    def link(self, mu):
        return np.log(mu) - np.log1p(-mu)

    _THRESH = -np.log(_EPS / (1 - _EPS))  # R binomial()$linkinv keeps mu in [eps, 1 - eps]

    def inverse(self, eta):
        return special.expit(np.clip(eta, -self._THRESH, self._THRESH))

    def mu_eta(self, eta):
        p = special.expit(eta)
        return np.maximum(p * (1 - p), _EPS)

    def d2link(self, mu):
        return (2 * mu - 1) / (mu**2 * (1 - mu) ** 2)


class ProbitLink(Link):
    name = "probit"

    def link(self, mu):
        return special.ndtri(mu)

    def inverse(self, eta):
        thresh = -special.ndtri(_EPS)
        return special.ndtr(np.clip(eta, -thresh, thresh))

    def mu_eta(self, eta):
        return np.maximum(stats.norm.pdf(eta), _EPS)

    def d2link(self, mu):
        eta = special.ndtri(mu)
        return eta / stats.norm.pdf(eta) ** 2


class CloglogLink(Link):
    name = "cloglog"

    def link(self, mu):
        return np.log(-np.log1p(-mu))

    def inverse(self, eta):
        return np.clip(-np.expm1(-np.exp(np.minimum(eta, 700.0))), _EPS, 1 - _EPS)

    def mu_eta(self, eta):
        eta = np.minimum(eta, 700.0)
        return np.maximum(np.exp(eta) * np.exp(-np.exp(eta)), _EPS)

    def d2link(self, mu):
        l1m = np.log1p(-mu)
        return -(1 + l1m) / ((1 - mu) ** 2 * l1m**2)


class InverseLink(Link):
    name = "inverse"

    def link(self, mu):
        return 1.0 / mu

    def inverse(self, eta):
        return 1.0 / eta

    def mu_eta(self, eta):
        return -1.0 / eta**2

    def d2link(self, mu):
        return 2.0 / mu**3


LINKS = {c.name: c for c in (Link, LogLink, LogitLink, ProbitLink, CloglogLink, InverseLink)}


class Family:
    """Gaussian: V(mu) = 1, unknown scale."""

    name = "gaussian"
    links = ("identity", "log", "inverse")  # the first is the default link
    canonical_link = "identity"
    scale_known = False

    def __init__(self, link: str | None = None):
        if link is not None:
            link = check_choice(link, self.links, f"{self.name} link")
        self.link = LINKS[link or self.links[0]]()

    def __repr__(self) -> str:
        return f"{self.name}(link={self.link.name!r})"

    @property
    def canonical(self) -> bool:
        """Canonical link: Newton and Fisher weights coincide."""
        return self.link.name == self.canonical_link

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
        pass

    def mu_start(self, y, w):
        return y.copy()

    def valid_mu(self, mu) -> bool:
        return bool(np.all(np.isfinite(mu)))


class Binomial(Family):
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


class Poisson(Family):
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


class Gamma(Family):
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


FAMILIES = {c.name: c for c in (Family, Binomial, Poisson, Gamma)}


def make_family(family, link: str | None = None) -> Family:
    """``"binomial"``, ``("binomial", "probit")`` or a Family instance."""
    if isinstance(family, Family):
        return family
    if isinstance(family, tuple):
        family, link = family
    name = check_choice(family, tuple(FAMILIES), "family")
    return FAMILIES[name](link)
