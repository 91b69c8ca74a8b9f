"""Proximal causal inference through the NPIV estimators (the slides' third problem).

Treatment A, outcome Y, unobserved confounder U, treatment proxy Z and outcome proxy W
(Miao, Geng & Tchetgen Tchetgen 2018; Tchetgen Tchetgen et al. 2020). An outcome bridge h
solves the conditional moment equation

    E[Y | Z, A, X] = E[h(W, A, X) | Z, A, X],

which is NPIV with instrument (Z, A, X) and "treatment" (W, A, X) (slides, "Background:
Proximal causal inference": Y -> Y, Z -> (Z, A), X -> (W, A)). The dose response is then
f(a) = E[h(W, a, X)], estimated by averaging h(W_i, a, X_i) over the sample.

``ProximalBridge(estimator)`` runs any ``flexcausal.iv`` estimator on that form: treatment
W, instrument Z, covariates (A, X) (covariates enter both stages, so the first stage
conditions on (Z, A, X) and h sees (W, A, X)). ``F2BMLD``, ``DFIV`` (= DFPV's two-stage
feature form), ``KIV`` (= KPV) and ``Sieve2SLS`` all plug in.
"""

from __future__ import annotations

import numpy as np

from ._base import NPIVEstimator, as_matrix

__all__ = ["ProximalBridge"]


class ProximalBridge:
    """Outcome-bridge estimation of a dose response by an NPIV ``estimator``.

    ``fit(treatment=A, treatment_proxy=Z, outcome_proxy=W, outcome=Y, covariates=X)`` fits
    a fresh copy of ``estimator`` (``estimator_``) to E[Y | Z, A, X] = E[h(W, A, X) | Z, A, X];
    ``bridge(W, A, X)`` is h; ``dose_response(a_values)`` is f(a) = mean_i h(W_i, a, X_i)
    over the training rows.
    """

    def __init__(self, estimator: NPIVEstimator):
        self.estimator = estimator

    def __repr__(self) -> str:
        return f"ProximalBridge({self.estimator!r})"

    def fit(self, treatment, treatment_proxy, outcome_proxy, outcome, covariates=None):
        if not isinstance(self.estimator, NPIVEstimator):
            raise TypeError(
                "estimator must be a flexcausal.iv estimator (F2BMLD, DFIV, KIV, Sieve2SLS, "
                f"Linear2SLS), got {type(self.estimator).__name__}"
            )
        a = as_matrix(treatment, "treatment")
        n = a.shape[0]
        w = as_matrix(outcome_proxy, "outcome_proxy", n)
        z = as_matrix(treatment_proxy, "treatment_proxy", n)
        x = None if covariates is None else as_matrix(covariates, "covariates", n)
        ax = a if x is None else np.column_stack([a, x])
        est = type(self.estimator)(**self.estimator.get_params())
        self.estimator_ = est.fit(treatment=w, instrument=z, outcome=outcome, covariates=ax)
        self.n_treatments_, self.n_covariates_ = a.shape[1], 0 if x is None else x.shape[1]
        self._w, self._x = w, x
        return self

    def _check_fitted(self):
        if not hasattr(self, "estimator_"):
            raise RuntimeError("ProximalBridge is not fitted yet; call fit() first")

    def bridge(self, outcome_proxy, treatment, covariates=None) -> np.ndarray:
        """h(w, a, x) at new rows, shape (n,)."""
        self._check_fitted()
        w = as_matrix(outcome_proxy, "outcome_proxy")
        a = as_matrix(treatment, "treatment", w.shape[0])
        if a.shape[1] != self.n_treatments_:
            raise ValueError(f"treatment has {a.shape[1]} column(s); the bridge was fitted "
                             f"with {self.n_treatments_}")
        if self.n_covariates_ and covariates is None:
            raise ValueError(f"covariates are required: the bridge was fitted with "
                             f"{self.n_covariates_}")
        if not self.n_covariates_ and covariates is not None:
            raise ValueError("covariates were not used in fit; pass covariates=None")
        ax = a if covariates is None else np.column_stack(
            [a, as_matrix(covariates, "covariates", w.shape[0])])
        return self.estimator_.predict(w, covariates=ax)

    def dose_response(self, treatment_values) -> np.ndarray:
        """f(a) = mean_i h(W_i, a, X_i) for each treatment value (rows of a 2-D array, or
        scalars for one treatment column), shape (len(treatment_values),)."""
        self._check_fitted()
        values = np.asarray(treatment_values, dtype=float)
        values = values.reshape(-1, 1) if values.ndim <= 1 else values
        if values.shape[1] != self.n_treatments_:
            raise ValueError(f"treatment_values have {values.shape[1]} column(s); the bridge "
                             f"was fitted with {self.n_treatments_}")
        if not np.all(np.isfinite(values)):
            raise ValueError("treatment_values contain NaN or infinite values")
        n = self._w.shape[0]
        out = np.empty(len(values))
        for k, a in enumerate(values):
            a_rep = np.broadcast_to(a, (n, a.shape[0]))
            out[k] = float(np.mean(self.bridge(self._w, a_rep, self._x)))
        return out
