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
                  block_rows: int = 50_000, lp_sizes=None):
    """Link- or response-scale predictions (and SEs when ``V`` is given).

    Families with several linear predictors (multinom) or several response columns
    (ocat, multinom) give a DataFrame: one column per predictor (link) or per category
    (response: probabilities)."""
    if family.n_lp > 1 or (kind == "response" and family.n_response > 1):
        if V is not None:
            raise ValueError(f"se=True is not available for the {family.name} family's "
                             "multi-column predictions; use fc.marginal_effects for "
                             "effects with standard errors")
        return _multi_column(terms, encodings, offset, beta, family, kind, block_rows,
                             lp_sizes or [len(terms)])
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


def _multi_column(terms, encodings, offset, beta, family, kind, block_rows, lp_sizes):
    etas, t0, c0 = [], 0, 0
    for size in lp_sizes:
        lp = terms[t0:t0 + size]
        p = sum(t.n_coef for t in lp)
        eta, _ = linear_predictor(lp, encodings[t0:t0 + size], beta[c0:c0 + p],
                                  block_rows=block_rows)
        etas.append(eta + offset)
        t0, c0 = t0 + size, c0 + p
    eta = np.column_stack(etas)
    if kind == "link":
        out = eta if eta.shape[1] > 1 else eta[:, 0]
        return pd.DataFrame(out, columns=[f"eta{k}" for k in range(out.shape[1])]) \
            if out.ndim == 2 else out
    prob = family.response(eta if eta.shape[1] > 1 else eta[:, 0])
    return pd.DataFrame(prob, columns=family.categories())
