"""Predictions from a fitted model: X b (+ offset) by row blocks, with standard errors.

``se`` is sqrt(diag(X V X')) with V the chosen coefficient covariance (mgcv
``predict.gam(se.fit=TRUE)``: Vp by default); on the response scale the SE is
|d mu / d eta| se_eta (the delta method, as mgcv).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .blocks import linear_predictor


def predict_frame(terms, encodings, offset, beta, family, kind: str, V=None,
                  block_rows: int = 50_000):
    """Link- or response-scale predictions (and SEs when ``V`` is given)."""
    eta, se_fit = linear_predictor(terms, encodings, beta, V, block_rows=block_rows)
    eta = eta + offset
    fit = eta
    if kind == "response":
        fit = family.link.inverse(eta)
        if V is not None:
            se_fit = se_fit * np.abs(family.link.mu_eta(eta))
    if V is not None:
        return pd.DataFrame({"fit": fit, "se": se_fit})
    return fit
