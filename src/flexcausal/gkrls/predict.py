"""Predictions from a fitted model: X b (+ offset) by row blocks, with standard errors.

``se`` is sqrt(diag(X V X')) with V the chosen coefficient covariance (mgcv
``predict.gam(se.fit=TRUE)``: Vp by default); on the response scale the SE is
|d mu / d eta| se_eta (the delta method, as mgcv).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .backend import map_blocks
from .blocks import design_block, linear_predictor


def predict_frame(terms, encodings, offset, beta, family, kind: str, V=None,
                  block_rows: int = 50_000, lp_sizes=None):
    """Link- or response-scale predictions (and SEs when ``V`` is given).

    Families with several linear predictors (multinom) or several response columns
    (ocat, multinom) give a DataFrame: one column per predictor (link) or per category
    (response: probabilities). With SEs it has two column groups, ``fit`` and ``se``
    (``pred["fit"]``, ``pred["se"]``), each with one column per predictor/category."""
    if family.n_lp > 1 or (kind == "response" and family.n_response > 1):
        return _multi_column(terms, encodings, offset, beta, family, kind, V, block_rows,
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


def _multi_column(terms, encodings, offset, beta, family, kind, V, block_rows, lp_sizes):
    """Per block: eta_l = X_l beta_l + offset; response mu_c with J = d mu_c / d eta_l
    (``Family.response_jacobian``); SE of column c = sqrt(g_c' V g_c), g_c the row's
    gradient in beta (link scale: g = x_l in predictor l's coefficients)."""
    slices, t0, c0 = [], 0, 0
    for size in lp_sizes:
        p = sum(t.n_coef for t in terms[t0:t0 + size])
        slices.append((slice(t0, t0 + size), slice(c0, c0 + p)))
        t0, c0 = t0 + size, c0 + p
    n_lp = len(slices)

    def block(rows):
        Xs = [design_block(terms[ts], encodings[ts], rows) for ts, _ in slices]
        eta = np.column_stack([X @ beta[cs] + offset[rows]
                               for X, (_, cs) in zip(Xs, slices, strict=True)])
        if kind == "link":
            fit, J = eta, np.broadcast_to(np.eye(n_lp), (eta.shape[0], n_lp, n_lp))
        else:
            fit, J = family.response_jacobian(eta if n_lp > 1 else eta[:, 0])
        if V is None:
            return fit, None
        G = np.zeros((eta.shape[0], fit.shape[1], beta.size))
        for l, (X, (_, cs)) in enumerate(zip(Xs, slices, strict=True)):
            G[:, :, cs] += J[:, :, l][:, :, None] * X[:, None, :]
        return fit, np.sqrt(np.einsum("icj,jk,ick->ic", G, V, G))

    n = encodings[0].shape[0]
    parts = map_blocks(block, n, max(256, block_rows // max(n_lp, family.n_response)))
    fit = np.concatenate([p[0] for p in parts])
    names = ([f"eta{k}" for k in range(n_lp)] if kind == "link"
             else list(family.categories()))
    if V is None:
        return pd.DataFrame(fit, columns=names)
    se = np.concatenate([p[1] for p in parts])
    return pd.concat({"fit": pd.DataFrame(fit, columns=names),
                      "se": pd.DataFrame(se, columns=names)}, axis=1)
