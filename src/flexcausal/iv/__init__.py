"""Nonparametric instrumental-variable regression: E[Y | Z] = E[h(X) | Z].

Estimators share ``fit(treatment=X, instrument=Z, outcome=Y, covariates=W)`` and
``predict(X_new, covariates=W_new) -> h``: ``F2BMLD`` (bilevel mean-field Langevin, or its
official network form), ``DFIV`` (deep feature IV), ``KIV`` (kernel IV), ``Sieve2SLS`` and
``Linear2SLS``. ``ProximalBridge(estimator)`` runs any of them on proximal causal inference
(outcome bridge h(W, A) with E[Y | Z, A] = E[h(W, A) | Z, A]; dose response f(a)).
"""

from ._base import WeakInstrumentWarning, first_stage_f
from .dfiv import DFIV
from .f2bmld import F2BMLD
from .kiv import KIV
from .linear import Linear2SLS
from .proximal import ProximalBridge
from .sieve import Sieve2SLS

__all__ = [
    "DFIV",
    "F2BMLD",
    "KIV",
    "Linear2SLS",
    "ProximalBridge",
    "Sieve2SLS",
    "WeakInstrumentWarning",
    "first_stage_f",
]
