"""Linear combinations of response-scale predictions, with their gradients in beta.

Every effect of gKRLS ``calculate_effects`` is a contrast: for row i,
tau_i = sum_k c_k mu(x_i^{(k)}), where x^{(k)} are counterfactual copies of the data
(one variable moved) and mu = g^{-1}(X beta + offset). The delta method needs
d tau_i / d beta = sum_k c_k mu'(eta_i^{(k)}) x_i^{(k)}, which is accumulated in row
blocks so the N x p model matrices of the copies are never held at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .backend import map_blocks
from .blocks import design_block


@dataclass
class Contrast:
    """Per-row values tau_i and the average's value and gradient."""

    values: np.ndarray  # (n,)
    estimate: float
    gradient: np.ndarray  # (p,) d mean(tau) / d beta
    row_gradients: np.ndarray | None = None  # (n, p) when individual effects are wanted


def evaluate_contrast(
    model,
    frames: list[pd.DataFrame],
    coefs: list[float],
    individual: bool = False,
    block_rows: int | None = None,
) -> Contrast:
    """tau_i = sum_k coefs[k] * mu(frames[k].row i), averaged with its gradient."""
    beta = model.coef_.to_numpy()
    link = model.family_.link
    encoded = [model.encode(frame) for frame in frames]
    n = len(frames[0])

    def block(rows: slice):
        values = np.zeros(rows.stop - rows.start)
        g_block = np.zeros((rows.stop - rows.start, beta.size))
        for (encodings, offset), c in zip(encoded, coefs, strict=True):
            X = design_block(model.terms, encodings, rows)
            eta = X @ beta + offset[rows]
            values += c * link.inverse(eta)
            g_block += (c * link.mu_eta(eta))[:, None] * X
        return values, g_block.sum(axis=0), g_block if individual else None

    parts = map_blocks(block, n, block_rows or model.block_rows)
    values = np.concatenate([p[0] for p in parts])
    grad = np.sum([p[1] for p in parts], axis=0)
    row_grads = np.vstack([p[2] for p in parts]) if individual else None
    return Contrast(values, float(values.mean()), grad / n, row_grads)
