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
from .kernel import KERNEL_CHUNK, gaussian_kernel


@dataclass
class Contrast:
    """Per-row values tau_ic and, per response column c, the average and its gradient."""

    values: np.ndarray | None  # (n, C); None when not kept (Dask data)
    estimate: np.ndarray  # (C,)
    gradient: np.ndarray  # (C, p) d mean_i(tau_ic) / d beta
    row_gradients: np.ndarray | None = None  # (n, C, p) when individual effects are wanted

    def __sub__(self, other: Contrast) -> Contrast:
        rows = None
        if self.row_gradients is not None and other.row_gradients is not None:
            rows = self.row_gradients - other.row_gradients
        values = (None if self.values is None or other.values is None
                  else self.values - other.values)
        return Contrast(values, self.estimate - other.estimate,
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


class ContrastMaker:
    """The per-block sums of a contrast over counterfactual frames that differ only in
    ``moved`` columns (picklable: sent to Dask workers as is).

    Terms that read no moved column have the same columns in every frame: they are
    encoded and expanded once per block, their part of eta is added once, and their
    gradient is (sum_k a_k J^(k))' X_unchanged, one product instead of one per frame;
    only the moved terms are re-encoded and re-expanded per frame.

    ``shifts`` (one {column: delta} per frame, for derivatives): a numeric kernel column
    moved by delta moves every standardized row by delta w (w = delta times the column's
    row of the whitening), and K(s + w, a) = K(s, a) exp(-2 s'w / b) exp(2 a'w / b)
    exp(-w'w / b): a row scaling and a column scaling of the unmoved kernel matrix K0.
    So a ``krls()`` term is evaluated once per block for all frames, and each frame
    needs only K0 v and K0'u products (eta and the gradient) instead of a new kernel and
    an N x M x M' expansion."""

    def __init__(self, model, moved, shifts=None):
        from .terms import KRLSTerm

        self.terms = list(model.terms)
        self.beta = model.coef_.to_numpy()
        self.family = model.family_
        self.offset_columns = list(model.offset_columns)
        moved = set(moved)
        self.changed = [bool(moved & set(getattr(t, "reads", t.columns))) for t in self.terms]
        self.fast = {}  # term index -> the frames' standardized shifts w
        for j, t in enumerate(self.terms):
            if shifts is None or not self.changed[j] or not isinstance(t, KRLSTerm):
                continue
            cols = moved & set(t.columns)
            if any(c in t.levels for c in cols):
                continue
            ws = [_kernel_shift(t, {c: d.get(c, 0.0) for c in cols}) for d in shifts]
            if max(float(np.abs(w).max(initial=0.0)) for w in ws) <= 1e-2:
                self.fast[j] = ws
        self.lps = []
        bounds = np.cumsum([0] + [t.n_coef for t in self.terms])
        for ts, _ in predictor_slices(model):
            idx = range(ts.start, ts.stop)
            parts = {}
            for flag in (False, True):
                which = [j for j in idx if self.changed[j] == flag and j not in self.fast]
                cols = (np.concatenate([np.arange(bounds[j], bounds[j + 1]) for j in which])
                        if which else np.zeros(0, dtype=int))
                parts[flag] = (which, cols)
            parts["fast"] = [(j, np.arange(bounds[j], bounds[j + 1])) for j in idx
                             if j in self.fast]
            self.lps.append(parts)
        self.n_resp = self.family.n_response
        # the most anchors of any krls() term: how wide a block's kernel arrays are
        self.kernel_anchors = max((t.sketch_.anchors.shape[0] for t in self.terms
                                   if isinstance(t, KRLSTerm)), default=0)

    def encode(self, frames: list[pd.DataFrame], encode, base=None):
        """``encode(frame, term_indices) -> (encodings by term index, offset)``: the
        unchanged (and shifted kernel) terms once from ``base`` (the unmoved frame;
        default frames[0]), the other changed ones per frame."""
        if self.fast and base is None:
            raise ValueError("shifted kernel terms need the unmoved frame (base=)")
        once = [j for j, c in enumerate(self.changed) if not c or j in self.fast]
        changed = [j for j, c in enumerate(self.changed) if c and j not in self.fast]
        shared, _ = encode(frames[0] if base is None else base, once)
        per_frame = [encode(f, changed) for f in frames]
        return shared, per_frame

    def block(self, shared, per_frame, coefs, rows: slice, individual: bool):
        """(values (m, C), gradient sum (C, p), row gradients (m, C, p) or None)."""
        beta, fam, C = self.beta, self.family, self.n_resp
        m = rows.stop - rows.start
        values = np.zeros((m, C))
        grad = np.zeros((C, beta.size))
        G = np.zeros((m, C, beta.size)) if individual else None
        X_un, base, kern = [], [], {}
        for l, parts in enumerate(self.lps):
            which, cols = parts[False]
            X = _columns(self.terms, which, shared, rows)
            X_un.append(X)
            base.append(X @ beta[cols])
            for j, cols_j in parts["fast"]:
                t = self.terms[j]
                S = shared[j][rows]
                K0 = gaussian_kernel(S, t.sketch_.anchors, t.bandwidth)
                Wb = t.sketch_.weights @ beta[cols_j]
                E0 = K0 @ Wb  # the term's part of eta in the unmoved frame
                base[l] = base[l] + E0
                # per-row sum of r_k and sum of the anchor-scaled products (below)
                kern[j] = [S, K0, Wb, E0, np.zeros((m, C)), np.zeros((K0.shape[1], C))]
        Jsum = [np.zeros((m, C)) for _ in self.lps]
        for k, ((encs, off), a) in enumerate(zip(per_frame, coefs, strict=True)):
            X_ch, eta, scal = [], np.empty((m, len(self.lps))), {}
            for l, parts in enumerate(self.lps):
                which, cols = parts[True]
                X = _columns(self.terms, which, encs, rows)
                X_ch.append(X)
                eta[:, l] = base[l] + X @ beta[cols] + off[rows]
                for j, _ in parts["fast"]:
                    S, K0, Wb, E0 = kern[j][:4]
                    em, bm = _kernel_scalings(self.terms[j], S, self.fast[j][k])
                    scal[j] = em, bm
                    d = K0 @ (bm * Wb)
                    eta[:, l] += em * (E0 + d) + d  # (1 + em)(E0 + d) - E0, accurately
            mu, J = fam.response_jacobian(eta if eta.shape[1] > 1 else eta[:, 0])
            values += a * mu
            for l, parts in enumerate(self.lps):
                cols = parts[True][1]
                aJ = a * J[:, :, l]
                Jsum[l] += aJ
                if cols.size:
                    grad[:, cols] += aJ.T @ X_ch[l]
                    if individual:
                        G[:, :, cols] += aJ[:, :, None] * X_ch[l][:, None, :]
                for j, cols_j in parts["fast"]:
                    _, K0, _, _, rsum, extra = kern[j]
                    em, bm = scal[j]
                    r = (1.0 + em)[:, None] * aJ  # gamma_k alpha_k a_k J_k, row by row
                    rsum += r
                    extra += bm[:, None] * (K0.T @ r)
                    if individual:
                        W = self.terms[j].sketch_.weights
                        Xk = (1.0 + em)[:, None] * (K0 @ ((1.0 + bm)[:, None] * W))
                        G[:, :, cols_j] += aJ[:, :, None] * Xk[:, None, :]
        for l, parts in enumerate(self.lps):
            cols = parts[False][1]
            if cols.size:
                grad[:, cols] += Jsum[l].T @ X_un[l]
                if individual:
                    G[:, :, cols] += Jsum[l][:, :, None] * X_un[l][:, None, :]
            for j, cols_j in parts["fast"]:
                _, K0, _, _, rsum, extra = kern[j]
                # sum_k W'((1 + bm_k) o K0'r_k): the large, cancelling per-frame parts r_k
                # summed row by row before the products with K0' and the ill-conditioned W
                grad[:, cols_j] += (K0.T @ rsum + extra).T @ self.terms[j].sketch_.weights
        return values, grad, G


def _kernel_shift(term, deltas: dict) -> np.ndarray:
    """The standardized shift w of every row when numeric kernel columns move by delta."""
    w = np.zeros(term.standardizer.whiten.shape[1])
    at = 0
    for c in term.columns:
        if c in term.levels:
            at += len(term.levels[c])
            continue
        if deltas.get(c, 0.0):
            w = w + deltas[c] * term.standardizer.whiten[at]
        at += 1
    return w


def _kernel_scalings(term, S: np.ndarray, w: np.ndarray):
    """K(s + w, a) = K(s, a) (1 + em_s)(1 + bm_a) with em = expm1(-(w'w + 2 s'w) / b) and
    bm = expm1(2 a'w / b): the small parts are kept apart so that frames a tiny shift
    apart differ by accurately computed amounts."""
    b = term.bandwidth
    return (np.expm1(-(float(w @ w) + 2.0 * (S @ w)) / b),
            np.expm1(2.0 * (term.sketch_.anchors @ w) / b))


def _columns(terms, which, encodings, rows: slice) -> np.ndarray:
    if not which:
        return np.zeros((rows.stop - rows.start, 0))
    return design_block([terms[j] for j in which], [encodings[j] for j in which], rows)


def model_encoder(model):
    """``encode(frame, term_indices)`` for ContrastMaker with the model's checks."""

    return lambda frame, which: model.encode(frame, terms=which)


def evaluate_contrast(
    model,
    frames: list[pd.DataFrame],
    coefs: list[float],
    individual: bool = False,
    block_rows: int | None = None,
    moved=None,
    base: pd.DataFrame | None = None,
    shifts=None,
) -> Contrast:
    """tau_ic = sum_k coefs[k] * mu_c(frames[k].row i), averaged with its gradient.

    ``moved``: the columns in which the frames differ (None: any column may differ);
    ``shifts``: per frame {column: delta} when each frame is ``base`` with columns moved
    by constants (derivatives; ContrastMaker)."""
    if moved is None:
        moved = {c for t in model.terms for c in getattr(t, "reads", t.columns)}
    maker = ContrastMaker(model, moved, shifts)
    shared, per_frame = maker.encode(frames, model_encoder(model), base)
    n = len(frames[0])

    def block(rows: slice):
        return maker.block(shared, per_frame, coefs, rows, individual)

    # the (rows, C, p) gradient block is C times the size of the one-column case; with a
    # krls() term, blocks are also kept to ~2 KERNEL_CHUNK kernel elements so that the
    # block's (rows x anchors) kernel arrays stay in cache (2x faster at M = 500)
    rows_per_block = max(256, (block_rows or model.block_rows) // maker.n_resp)
    if maker.kernel_anchors and block_rows is None:
        rows_per_block = min(rows_per_block,
                             max(256, 2 * KERNEL_CHUNK // maker.kernel_anchors))
    parts = map_blocks(block, n, rows_per_block)
    values = np.concatenate([p[0] for p in parts])
    grad = np.sum([p[1] for p in parts], axis=0)
    row_grads = np.concatenate([p[2] for p in parts]) if individual else None
    return Contrast(values, values.mean(axis=0), grad / n, row_grads)
