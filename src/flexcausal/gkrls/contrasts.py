"""Linear combinations of response-scale predictions, with their gradients in beta.

Every effect of gKRLS ``calculate_effects`` is a contrast: for row i and response column
c, tau_ic = sum_k a_k mu_c(x_i^{(k)}), where x^{(k)} are counterfactual copies of the
data (one variable moved) and mu = (mu_1..mu_C) the family's response columns: the mean
g^{-1}(eta) for one-column families, each category's probability for ocat and multinom.
With J_icl = d mu_ic / d eta_il (``Family.response_jacobian``) and X_l the model matrix
of linear predictor l, the delta method needs

    d tau_ic / d beta_l = sum_k a_k J_icl(x_i^{(k)}) x_il^{(k)},

which is accumulated in row blocks so the N x p model matrices of the copies are never
held at once. Extra family parameters (ocat cut points) are held at their estimates, as in
gKRLS ``predict_extended`` (its gradient is in beta only).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .backend import map_blocks
from .blocks import design_block


@dataclass
class Contrast:
    """Per-row values tau_ic and, per response column c, the average and its gradient."""

    values: np.ndarray  # (n, C)
    estimate: np.ndarray  # (C,)
    gradient: np.ndarray  # (C, p) d mean_i(tau_ic) / d beta
    row_gradients: np.ndarray | None = None  # (n, C, p) when individual effects are wanted

    def __sub__(self, other: Contrast) -> Contrast:
        rows = None
        if self.row_gradients is not None and other.row_gradients is not None:
            rows = self.row_gradients - other.row_gradients
        return Contrast(self.values - other.values, self.estimate - other.estimate,
                        self.gradient - other.gradient, rows)


def predictor_slices(model) -> list[tuple[slice, slice]]:
    """(term slice, coefficient slice) of each linear predictor of the model."""
    sizes = getattr(model, "lp_sizes_", None) or [len(model.terms)]
    out, t0, c0 = [], 0, 0
    for size in sizes:
        p = sum(t.n_coef for t in model.terms[t0:t0 + size])
        out.append((slice(t0, t0 + size), slice(c0, c0 + p)))
        t0, c0 = t0 + size, c0 + p
    return out


def evaluate_contrast(
    model,
    frames: list[pd.DataFrame],
    coefs: list[float],
    individual: bool = False,
    block_rows: int | None = None,
) -> Contrast:
    """tau_ic = sum_k coefs[k] * mu_c(frames[k].row i), averaged with its gradient."""
    beta = model.coef_.to_numpy()
    family = model.family_
    lps = predictor_slices(model)
    encoded = [model.encode(frame) for frame in frames]
    n = len(frames[0])
    n_resp = family.n_response

    def block(rows: slice):
        m = rows.stop - rows.start
        values = np.zeros((m, n_resp))
        g_block = np.zeros((m, n_resp, beta.size))
        for (encodings, offset), c in zip(encoded, coefs, strict=True):
            Xs = [design_block(model.terms[ts], encodings[ts], rows) for ts, _ in lps]
            eta = np.column_stack([X @ beta[cs] + offset[rows]
                                   for X, (_, cs) in zip(Xs, lps, strict=True)])
            mu, J = family.response_jacobian(eta if eta.shape[1] > 1 else eta[:, 0])
            values += c * mu
            for l, (X, (_, cs)) in enumerate(zip(Xs, lps, strict=True)):
                g_block[:, :, cs] += (c * J[:, :, l])[:, :, None] * X[:, None, :]
        return values, g_block.sum(axis=0), g_block if individual else None

    # the (rows, C, p) gradient block is C times the size of the one-column case
    rows_per_block = max(256, (block_rows or model.block_rows) // n_resp)
    parts = map_blocks(block, n, rows_per_block)
    values = np.concatenate([p[0] for p in parts])
    grad = np.sum([p[1] for p in parts], axis=0)
    row_grads = np.concatenate([p[2] for p in parts]) if individual else None
    return Contrast(values, values.mean(axis=0), grad / n, row_grads)
