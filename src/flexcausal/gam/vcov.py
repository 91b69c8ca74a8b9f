"""Coefficient covariances: Bayesian Vp, frequentist Ve, and sandwich estimators.

Vp = (X'WX + S)^{-1} phi and Ve = F Vp with F = (X'WX + S)^{-1} X'WX (Wood 2017,
Sec. 6.10). Sandwich forms follow R gKRLS ``estfun.gam`` + ``sandwich``:
"""

from __future__ import annotations

import numpy as np

from .._checks import check_choice

TYPES = ("bayes", "frequentist", "HC0", "HC1", "cluster")


def coefficient_covariance(model, type: str, cluster=None) -> np.ndarray:
    kind = check_choice(type, TYPES, "vcov type")
    if kind == "bayes":
        return model._Vp
    if kind == "frequentist":
        return model._Ve
    raise NotImplementedError(kind)
