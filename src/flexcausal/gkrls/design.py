"""The model matrix as an operator: held in memory, or re-expanded block by block.

Iterative fits (penalized IRLS) need X'WX, X b, X'v and the leverages x_i' A x_i many
times. ``CachedDesign`` keeps X (fast; N x p floats). ``StreamedDesign`` recomputes
row blocks from the terms' compact encodings on every pass (memory O(block x p)),
used when X would not fit the memory budget.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .backend import map_blocks
from .blocks import build_design, design_block, first_block_centring

ROW_BLOCK = 50_000
DEFAULT_MEMORY_BUDGET = 1.25 * 2**30  # bytes for a cached model matrix


class Design:
    """Operations on X_c = X - 1 shift' by row blocks (``shift`` centres the columns,
    reparam.py); subclasses say how a block is obtained."""

    n: int
    p: int
    shift: np.ndarray

    def map_rows(self, func: Callable[[np.ndarray, slice], object]) -> list:
        raise NotImplementedError

    def gram(self, W: np.ndarray) -> np.ndarray:
        """X' diag(W) X (W may be negative under full Newton)."""
        from .rows import weighted_gram

        return sum(self.map_rows(lambda Xb, rows: weighted_gram(Xb, W[rows])))

    def dot(self, beta: np.ndarray) -> np.ndarray:
        return np.concatenate(self.map_rows(lambda Xb, rows: Xb @ beta))

    def tdot(self, v: np.ndarray) -> np.ndarray:
        return sum(self.map_rows(lambda Xb, rows: Xb.T @ v[rows]))

    def leverages(self, L: np.ndarray) -> np.ndarray:
        """h_i = x_i' L L' x_i = ||L'x_i||^2 (non-negative by construction)."""

        def block(Xb, rows):
            XL = Xb @ L
            return np.einsum("ij,ij->i", XL, XL)

        return np.concatenate(self.map_rows(block))


class CachedDesign(Design):
    def __init__(self, X: np.ndarray, shift: np.ndarray | None = None):
        """``X`` is the already centred X_c; ``shift`` records the centring."""
        self.n, self.p = X.shape
        self.shift = np.zeros(self.p) if shift is None else shift
        self.X = X

    def map_rows(self, func):
        # BLAS-bound block products on the thread pool (one BLAS thread per worker), so
        # they use the cores even inside a fit that pins BLAS to one thread
        return map_blocks(lambda rows: func(self.X[rows], rows), self.n, ROW_BLOCK)


class StreamedDesign(Design):
    def __init__(self, terms: Sequence, encodings: Sequence[np.ndarray], block_rows: int,
                 shift: np.ndarray | None = None):
        self.terms, self.encodings, self.block_rows = terms, encodings, block_rows
        self.n = encodings[0].shape[0]
        self.p = sum(t.n_coef for t in terms)
        self.shift = np.zeros(self.p) if shift is None else shift

    def raw_block(self, rows: slice) -> np.ndarray:
        """The uncentred block X[rows]."""
        return design_block(self.terms, self.encodings, rows)

    def _block(self, rows: slice) -> np.ndarray:
        Xb = self.raw_block(rows)
        if np.any(self.shift):
            Xb -= self.shift
        return Xb

    def map_rows(self, func):
        return map_blocks(lambda rows: func(self._block(rows), rows), self.n, self.block_rows)


def make_design(terms, encodings, block_rows: int, memory_budget: float | None = None,
                intercept: bool = False):
    """Cached if N x p float64 fits ``memory_budget`` bytes, else streamed.

    Returns the design (centred when ``intercept``: the first column is the model's
    intercept) and each term's max absolute row sum of the uncentred X (penalty
    rescaling).
    """
    n = encodings[0].shape[0]
    p = sum(t.n_coef for t in terms)
    shift = first_block_centring(terms, encodings, block_rows, intercept)
    budget = DEFAULT_MEMORY_BUDGET if memory_budget is None else memory_budget
    if 8.0 * n * p <= budget:
        X, rowmax = build_design(terms, encodings, block_rows)
        X -= shift
        return CachedDesign(X, shift), rowmax
    streamed = StreamedDesign(terms, encodings, block_rows)
    bounds = np.cumsum([0] + [t.n_coef for t in terms])
    parts = streamed.map_rows(lambda Xb, rows: [np.abs(Xb[:, a:b]).sum(axis=1).max()
                                            for a, b in zip(bounds[:-1], bounds[1:],
                                                            strict=True)])
    streamed.shift = shift
    return streamed, np.max(np.asarray(parts), axis=0)
