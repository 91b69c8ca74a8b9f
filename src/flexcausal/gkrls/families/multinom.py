"""Multinomial logit family with K linear predictors: mgcv ``multinom(K)``.

y takes the values 0..K; category 0 is the reference. Each of the K linear predictors
eta_1..eta_K has its own model matrix (``fit_likelihood_laml`` stacks the coefficients),
and with eta_0 = 0

    P(y = k) = exp(eta_k) / sum_{j=0}^K exp(eta_j),      k = 0..K.

Per observation, weight w, l = w [eta_y - log sum_j exp(eta_j)], and for k, m = 1..K

    dl/deta_k = w [1(y = k) - p_k],     d2l/deta_k deta_m = -w [1(k = m) p_k - p_k p_m],

negative semi-definite (l is concave in eta); the observed information does not depend on
y, so it is also the expected one. mgcv fits this general family by penalized Newton on
the full Hessian (``gam.fit5``) and Laplace-REML (Wood, Pya & Saefken 2016, JASA 111,
Sec. 3.3); K = 1 is the binomial logit.

Two mgcv 1.8-41 quirks (``multinom()$ll``), not reproduced here: its log-likelihood sets
the reference predictor to 1 instead of 0 in the numerator, so its l (and the REML it
reports as ``gcv.ubre``) differ from the true ones by the number n_0 of y = 0 rows
(``mgcv_score_shift``), and it ignores prior weights.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from .base import LikelihoodFamily


class Multinom(LikelihoodFamily):
    """mgcv ``multinom(K)``: y in 0..K, K linear predictors (identity 'links'), no theta.

    ``K`` may be left out: the first ``check_y`` (every fit calls it) sets it to max(y).
    """

    name = "multinom"
    links = ("identity",)

    def __init__(self, link: str | None = None, K: int | None = None):
        super().__init__(link)
        self.K: int | None = None
        if K is not None:
            self._set_K(K)

    def _set_K(self, K) -> None:
        if int(K) != K or K < 1:
            raise ValueError(f"multinom: K (the number of categories - 1) must be an integer "
                             f">= 1, got {K}")
        self.K = int(K)
        self.n_lp = self.K
        self.n_response = self.K + 1

    def __repr__(self) -> str:
        return f"multinom(K={self.K})"

    def natural_theta(self, theta=None) -> np.ndarray:
        return np.zeros(0)

    def check_y(self, y, w, name) -> None:
        y = np.asarray(y, dtype=float)
        if y.size == 0 or not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise ValueError(f"multinom response {name!r} must be integer category codes "
                             "0..K with no missing values")
        if self.K is None:
            self._set_K(max(int(y.max()), 1))
        if y.min() < 0 or y.max() > self.K:
            raise ValueError(f"multinom response {name!r} must be coded 0..{self.K} "
                             f"(K={self.K}); got range [{y.min():g}, {y.max():g}]")

    def _full_eta(self, eta):
        e = np.asarray(eta, dtype=float).reshape(-1, self.K)
        return np.hstack([np.zeros((e.shape[0], 1)), e])

    def loglik(self, y, eta, theta, w):
        """w l_i, (n, K) gradient and (n, K, K) Hessian in eta (module docstring)."""
        full = self._full_eta(eta)
        yi = np.asarray(y).astype(int)
        lse = special.logsumexp(full, axis=1)
        n = full.shape[0]
        l = full[np.arange(n), yi] - lse
        p = np.exp(full[:, 1:] - lse[:, None])  # (n, K)
        onehot = (yi[:, None] == np.arange(1, self.K + 1)[None, :]).astype(float)
        g = w[:, None] * (onehot - p)
        h = p[:, :, None] * p[:, None, :]
        idx = np.arange(self.K)
        h[:, idx, idx] -= p
        return w * l, g, w[:, None, None] * h

    def expected_hessian(self, y, eta, theta, w):
        """-d2l/deta2 (observed = expected: it does not involve y)."""
        return -self.loglik(y, eta, theta, w)[2]

    def initial_theta(self, y, w) -> np.ndarray:
        return np.zeros(0)

    def eta_start(self, y, w) -> np.ndarray:
        """log(p_k / p_0) with p = (indicator of y + weighted category shares) / 2."""
        if self.K is None:
            self.check_y(y, w, "y")
        yi = np.asarray(y).astype(int)
        share = np.bincount(yi, weights=w, minlength=self.K + 1)[: self.K + 1] + 1.0
        share /= share.sum()
        onehot = (yi[:, None] == np.arange(self.K + 1)[None, :]).astype(float)
        p = 0.5 * (onehot + share[None, :])
        return np.log(p[:, 1:] / p[:, :1])

    def response(self, eta) -> np.ndarray:
        """(n, K + 1) probabilities of categories 0..K."""
        return special.softmax(self._full_eta(eta), axis=1)

    def response_jacobian(self, eta) -> tuple[np.ndarray, np.ndarray]:
        """p_k (k = 0..K) and d p_k / d eta_m = p_k [1(k = m) - p_m] (m = 1..K)."""
        p = self.response(eta)
        J = -p[:, :, None] * p[:, None, 1:]
        idx = np.arange(1, self.K + 1)
        J[:, idx, idx - 1] += p[:, 1:]
        return p, J

    def mgcv_score_shift(self, y) -> float:
        """Add to the Laplace-REML value to get mgcv 1.8-41's ``gcv.ubre``: -n_0."""
        return -float(np.sum(np.asarray(y) == 0))

    def state(self) -> dict:
        return {"theta": [], "K": self.K}
