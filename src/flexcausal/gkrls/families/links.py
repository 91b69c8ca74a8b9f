"""Link functions g: each gives g(mu), g^{-1}(eta), d mu / d eta and g''(mu)
(R ``make.link``; the clamps follow R ``binomial()$linkinv`` and friends)."""

from __future__ import annotations

import numpy as np
from scipy import special, stats

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
