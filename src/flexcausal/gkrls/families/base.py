"""The family protocol: what every response distribution must declare.

Two kinds, as in mgcv (Wood, Pya & Saefken 2016, JASA 111, Sec. 3):

* ``ExponentialFamily`` (R ``family()``): one linear predictor, mean mu = g^{-1}(eta),
  variance phi V(mu). Fitted by penalized IRLS with working weights (pirls.py).
* ``LikelihoodFamily`` (mgcv's extended and general families: ``ocat``, ``nb``,
  ``multinom``): a per-row log-likelihood l_i(eta_i1..eta_iK; theta) of K >= 1 linear
  predictors and of extra parameters theta (ocat cut points, negative-binomial theta)
  that are estimated together with the smoothing parameters. Fitted by penalized
  Newton on the full Hessian inside Laplace-approximate REML.

Nothing here has a default for the statistics: a family that does not implement the
abstract methods cannot be instantiated (no silent Gaussian deviance).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

from ..._checks import check_choice
from .links import LINKS, Link


class Family(ABC):
    """Shared interface. ``n_lp`` linear predictors, ``n_theta`` extra parameters,
    ``n_response`` columns returned by ``predict(type="response")``."""

    name: ClassVar[str]
    links: ClassVar[tuple[str, ...]]  # the first is the default link
    scale_known: ClassVar[bool]
    n_lp: int = 1
    n_theta: int = 0
    n_response: int = 1

    def __init__(self, link: str | None = None):
        if link is not None:
            link = check_choice(link, self.links, f"{self.name} link")
        self.link: Link = LINKS[link or self.links[0]]()
        self.theta = np.zeros(self.n_theta)

    def __repr__(self) -> str:
        return f"{self.name}(link={self.link.name!r})"

    @abstractmethod
    def check_y(self, y: np.ndarray, w: np.ndarray, name: str) -> None:
        """ValueError naming the response when y is outside the family's support."""

    def response(self, eta: np.ndarray) -> np.ndarray:
        """E[y] (or category probabilities, one column each) from the linear predictor(s)."""
        return self.link.inverse(eta)

    def response_jacobian(self, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Response columns and their derivatives in the linear predictors.

        Returns mu (n, n_response) and J (n, n_response, n_lp) with J[i, c, l] =
        d mu_ic / d eta_il: what the delta method needs for effects on each response
        column (gKRLS ``predict_extended``). The default is one predictor through the link:
        mu = g^{-1}(eta), J = d mu / d eta."""
        e = np.asarray(eta, dtype=float).reshape(-1)
        return self.response(e).reshape(-1, 1), self.link.mu_eta(e)[:, None, None]

    def categories(self) -> list[str]:
        """Names of the response columns (outcome categories), as predict labels them."""
        return [str(j) for j in range(self.n_response)]

    def state(self) -> dict:
        """JSON-able parameters of a fitted family (for saving)."""
        return {"theta": [float(t) for t in self.theta]}


class ExponentialFamily(Family):
    """R ``family()`` objects: V(mu), V'(mu), deviance residuals, saturated loglik."""

    canonical_link: ClassVar[str]

    @property
    def canonical(self) -> bool:
        """Canonical link: Newton and Fisher weights coincide."""
        return self.link.name == self.canonical_link

    @abstractmethod
    def variance(self, mu): ...

    @abstractmethod
    def dvar(self, mu): ...

    @abstractmethod
    def dev_resids(self, y, mu, w): ...

    @abstractmethod
    def saturated_loglik(self, y, w, scale) -> float:
        """mgcv ``ls``: log-likelihood of the saturated model."""

    @abstractmethod
    def mu_start(self, y, w): ...

    @abstractmethod
    def valid_mu(self, mu) -> bool: ...


class LikelihoodFamily(Family):
    """Extended / general families: a per-row log-likelihood of eta (n, n_lp) and theta.

    ``loglik`` returns l_i, its gradient d l_i / d eta_i (n, n_lp) and Hessian
    d2 l_i / d eta_i d eta_i' (n, n_lp, n_lp); the fitting code (likelihood.py) builds the
    penalized Newton iteration and LAML from them. Derivatives in theta may be left to
    the fitter (differences of ``loglik``) unless the family provides them.
    """

    scale_known = True

    @abstractmethod
    def loglik(self, y, eta, theta, w):
        """(l (n,), dl/deta (n, n_lp), d2l/deta2 (n, n_lp, n_lp))."""

    @abstractmethod
    def initial_theta(self, y, w) -> np.ndarray: ...

    @abstractmethod
    def eta_start(self, y, w) -> np.ndarray:
        """(n, n_lp) starting linear predictors."""
