"""Row-block streaming of the model matrix: a QR factor of [X, y], X b, and ||X_term||_inf.

The N x p model matrix is never held in memory: blocks of rows are expanded from the
terms' compact encodings, reduced to p x p cross-products and dropped. The blocks go
through the one map/reduce of backend.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import numpy as np
from scipy.linalg import LinAlgError, cholesky, qr

from .backend import map_blocks
from .fit import QRStats
from .reparam import centring_shift
from .rows import RFactor
from .stable import psd_sqrt

DEFAULT_BLOCK_ROWS = 50_000


def design_block(terms: Sequence, encodings: Sequence[np.ndarray], rows: slice) -> np.ndarray:
    """Columns of all terms for one block of rows, in coefficient order."""
    return np.hstack([t.expand(e[rows]) for t, e in zip(terms, encodings, strict=True)])


class GramKernel:
    """Per block: Z = sqrt(w) [X_c, (y - offset) / y_scale] reduced to Z'Z (BLAS gemm,
    rows.weighted_gram) or to its Householder R (``method="qr"``), and, given the
    weighted mean ``ybar`` of y, the null deviance sum w (y - ybar)^2."""

    def __init__(self, method: str, weighted: bool, y_scale: float, ybar=None):
        self.method, self.weighted, self.y_scale, self.ybar = method, weighted, y_scale, ybar
        self.whole_block = method == "qr"  # one QR factor per block (rows.in_cache)

    def __call__(self, ch):
        m, p = ch.X.shape
        null = 0.0 if self.ybar is None else float(np.sum(ch.w * (ch.y - self.ybar) ** 2))
        Z = np.empty((m, p + 1))
        Z[:, :-1] = ch.X
        Z[:, -1] = (ch.y - ch.off) / self.y_scale
        if self.weighted:
            Z *= np.sqrt(ch.w)[:, None]
        if self.method == "gram":
            G = Z.T @ Z
            return 0.5 * (G + G.T), null
        return RFactor(qr(Z, mode="r", overwrite_a=True, check_finite=False)[0]), null


def accumulate_rows(rows, y_scale: float = 1.0, weighted: bool = False,
                    method: str = "gram", ybar=None):
    """One pass over a row source (rows.py): (QRStats of [sqrt(W) X_c, sqrt(W) y~],
    null deviance or 0), y~ = (y - offset) / y_scale; see ``accumulate``. If the Gram
    matrix is not numerically positive definite the QR pass is made here."""
    (R_or_G, null), rowmax = rows.reduce(GramKernel(method, weighted, y_scale, ybar),
                                         rowmax=True)
    if method == "gram":
        try:
            R_aug = cholesky(R_or_G, lower=False, check_finite=False)
        except LinAlgError:
            return accumulate_rows(rows, y_scale, weighted, "qr", ybar)
    else:
        R_aug = R_or_G.R
    return QRStats.from_augmented(R_aug, rows.n, rows.shift, rowmax), null


def accumulate(
    terms: Sequence,
    encodings: Sequence[np.ndarray],
    y: np.ndarray,
    weights: np.ndarray | None = None,
    block_rows: int = DEFAULT_BLOCK_ROWS,
    intercept: bool = False,
    method: str = "gram",
) -> QRStats:
    """One pass: a triangular factor R_aug of Z = [sqrt(W) X_c, sqrt(W) y] (R_aug'R_aug =
    Z'Z) and per-term ||X_term||_inf of the uncentred X.

    X_c = X - 1 m' is centred by the column means m of the first row block when
    ``intercept`` says the first column is the model's intercept (reparam.py).
    ``method="qr"``: each block is reduced to its Householder QR factor (LAPACK) and the
    stacked factors are reduced again, so the conditioning of X, not its square, limits
    the accuracy (Wood 2011, Sec. 3.2). ``method="gram"``: blocks are reduced to Z'Z
    (BLAS gemm, several times faster) and R_aug is its Cholesky factor; accurate unless
    the unpenalized columns are ill conditioned or the fit nearly interpolates, which
    ``fit.needs_qr`` detects so that the caller can make a ``"qr"`` pass instead. If the
    Gram matrix is not numerically positive definite the QR pass is made here.
    """
    from .design import StreamedDesign
    from .rows import ArrayRows

    n = y.shape[0]
    shift = first_block_centring(terms, encodings, block_rows, intercept)
    w = np.ones(n) if weights is None else weights
    rows = ArrayRows(StreamedDesign(terms, encodings, block_rows, shift), y, w, np.zeros(n))
    return accumulate_rows(rows, 1.0, weights is not None, method)[0]


def first_block_centring(terms: Sequence, encodings: Sequence[np.ndarray], block_rows: int,
                          intercept: bool) -> np.ndarray:
    """The centring shift m of reparam.py from the first rows: their column means when
    ``intercept`` says (and the rows confirm) that column 0 is the intercept, else 0."""
    n = encodings[0].shape[0]
    first = design_block(terms, encodings, slice(0, min(n, block_rows, 10_000)))
    is_one = first.shape[1] > 0 and bool(np.all(first[:, 0] == 1.0))
    return centring_shift(first, intercept and is_one)


def linear_predictor(
    terms: Sequence,
    encodings: Sequence[np.ndarray],
    beta: np.ndarray,
    cov: np.ndarray | None = None,
    block_rows: int = DEFAULT_BLOCK_ROWS,
) -> tuple[np.ndarray, np.ndarray | None]:
    """X beta and, if ``cov`` is given, sqrt(diag(X cov X')) — block by block."""
    n = encodings[0].shape[0]
    L = None if cov is None else psd_sqrt(cov)  # X V X' = ||X L||^2: never negative

    def block(rows: slice):
        X = design_block(terms, encodings, rows)
        se = None if L is None else np.sqrt(np.einsum("ij,ij->i", XL := X @ L, XL))
        return X @ beta, se

    parts = map_blocks(block, n, block_rows)
    eta = np.concatenate([p[0] for p in parts])
    se = None if cov is None else np.concatenate([p[1] for p in parts])
    return eta, se


def build_design(
    terms: Sequence, encodings: Sequence[np.ndarray], block_rows: int = DEFAULT_BLOCK_ROWS
) -> tuple[np.ndarray, np.ndarray]:
    """The full N x p model matrix (for iterative GLM fits), filled block by block,
    and each term's max absolute row sum ||X_term||_inf (mgcv penalty rescaling)."""
    n = encodings[0].shape[0]
    bounds = np.cumsum([0] + [t.n_coef for t in terms])
    X = np.empty((n, bounds[-1]))

    def fill(rows: slice) -> np.ndarray:
        X[rows] = design_block(terms, encodings, rows)
        return np.array([np.abs(X[rows, a:b]).sum(axis=1).max() for a, b in pairwise(bounds)])

    rowmax = np.max(map_blocks(fill, n, min(block_rows, 20_000)), axis=0)
    return X, rowmax
