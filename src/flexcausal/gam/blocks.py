"""Row-block streaming of the model matrix: accumulate X'WX, X'Wy and ||X_term||_inf.

The N x p model matrix is never held in memory: blocks of rows are expanded from the
terms' compact encodings, reduced to p x p cross-products and dropped. Blocks run on a
small thread pool (NumPy's exp and BLAS release the GIL) with BLAS pinned to one thread
per worker, so the kernel evaluation uses every core too.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from scipy.linalg.blas import dsyrk
from threadpoolctl import threadpool_limits

DEFAULT_BLOCK_ROWS = 50_000


def design_block(terms: Sequence, encodings: Sequence[np.ndarray], rows: slice) -> np.ndarray:
    """Columns of all terms for one block of rows, in coefficient order."""
    return np.hstack([t.expand(e[rows]) for t, e in zip(terms, encodings, strict=True)])


def row_blocks(n: int, block_rows: int) -> list[slice]:
    return [slice(s, min(s + block_rows, n)) for s in range(0, n, block_rows)]


def map_blocks(func: Callable[[slice], object], n: int, block_rows: int) -> list:
    """Apply ``func`` to each row block, in parallel when there is more than one block."""
    blocks = row_blocks(n, block_rows)
    workers = min(os.cpu_count() or 1, len(blocks))
    if workers <= 1:
        return [func(b) for b in blocks]
    with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(workers) as pool:
        return list(pool.map(func, blocks))


@dataclass
class CrossProducts:
    """Sufficient statistics of a weighted least-squares problem."""

    XtX: np.ndarray
    Xty: np.ndarray
    yty: float
    n: int
    max_row_abs_sum: np.ndarray  # per term: ||X_term||_inf (mgcv penalty rescaling)


def accumulate(
    terms: Sequence,
    encodings: Sequence[np.ndarray],
    y: np.ndarray,
    weights: np.ndarray | None = None,
    block_rows: int = DEFAULT_BLOCK_ROWS,
) -> CrossProducts:
    """One pass: X'WX, X'Wy, y'Wy and the per-term max absolute row sums of X."""
    n = y.shape[0]
    bounds = np.cumsum([0] + [t.n_coef for t in terms])

    def reduce(rows: slice):
        X = design_block(terms, encodings, rows)
        yb = y[rows]
        rowmax = np.array(
            [np.abs(X[:, a:b]).sum(axis=1).max() for a, b in pairwise(bounds)]
        )
        if weights is not None:
            sw = np.sqrt(weights[rows])
            X *= sw[:, None]
            yb = yb * sw
        XtX = dsyrk(1.0, X, trans=1, lower=0)
        return XtX, X.T @ yb, float(yb @ yb), rowmax

    parts = map_blocks(reduce, n, block_rows)
    XtX = sum(p[0] for p in parts)
    XtX = np.triu(XtX) + np.triu(XtX, 1).T
    return CrossProducts(
        XtX=XtX,
        Xty=sum(p[1] for p in parts),
        yty=sum(p[2] for p in parts),
        n=n,
        max_row_abs_sum=np.max([p[3] for p in parts], axis=0),
    )


def linear_predictor(
    terms: Sequence,
    encodings: Sequence[np.ndarray],
    beta: np.ndarray,
    cov: np.ndarray | None = None,
    block_rows: int = DEFAULT_BLOCK_ROWS,
) -> tuple[np.ndarray, np.ndarray | None]:
    """X beta and, if ``cov`` is given, sqrt(diag(X cov X')) — block by block."""
    n = encodings[0].shape[0]

    def block(rows: slice):
        X = design_block(terms, encodings, rows)
        se = None if cov is None else np.sqrt(np.einsum("ij,ij->i", X @ cov, X))
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
