"""The engine's view of the data: a *row source* that reduces row blocks.

Every statistic the fits need from the N rows is a sum over row blocks of a small
result (X'WX, X'Wz, deviances, leverage-weighted scores, QR factors): a ``kernel`` maps
one ``Chunk`` (a block of the centred model matrix with its y, prior weights and
offset) to such a result, and the source adds the results up. The engine never holds
per-row vectors between passes: whatever a pass needs per row (eta, mu, working
weights) it recomputes from the coefficients inside the kernel.

Two sources implement the protocol:

* ``ArrayRows``: data in memory (the terms' encodings, y, w, offset as arrays) over a
  ``design.Design`` (a cached N x p model matrix or blocks re-expanded from the
  encodings); blocks run on the thread pool of backend.py.
* ``dask_rows.DaskRows``: the partitions of a Dask DataFrame, encoded on the workers;
  per-partition results are reduced on the cluster in a tree and only the p x p (or
  smaller) total comes back.

Results are combined by ``add``: numbers and arrays are added, tuples elementwise,
``None`` is the neutral element, ``Max`` keeps elementwise maxima and ``RFactor`` the
triangular factor of stacked QR factors.

Because results add, a kernel may run on any split of a block: the sources run it on
cache-sized sub-blocks (``in_cache``), so that the several sweeps a kernel makes over
its rows (X b, the weights, X'WX, X'Wz) read X from memory once instead of once per
sweep; a pass over an in-memory X is otherwise bound by memory bandwidth, not flops.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy.linalg import qr


@dataclass
class Chunk:
    """One block of rows: X is the centred model matrix block X - 1 shift'."""

    X: np.ndarray
    y: np.ndarray
    w: np.ndarray
    off: np.ndarray


class Max:
    """An elementwise maximum under ``add``."""

    __slots__ = ("v",)

    def __init__(self, v):
        self.v = np.asarray(v, dtype=float)

    def __add__(self, other):
        return Max(np.maximum(self.v, other.v))


class RFactor:
    """A triangular factor R (R'R = Z'Z of the rows seen) combined by stacking + QR."""

    __slots__ = ("R",)

    def __init__(self, R: np.ndarray):
        self.R = R

    def __add__(self, other):
        return RFactor.stack([self, other])

    @staticmethod
    def stack(parts: Sequence[RFactor]) -> RFactor:
        mats = [p.R for p in parts if p.R.shape[0]]
        if not mats:
            return parts[0]
        if len(mats) == 1:
            return RFactor(mats[0])
        return RFactor(qr(np.vstack(mats), mode="r", overwrite_a=True, check_finite=False)[0])


def add(a, b):
    """Combine two kernel results (see the module docstring)."""
    if a is None:
        return b
    if b is None:
        return a
    if isinstance(a, tuple):
        return tuple(add(x, y) for x, y in zip(a, b, strict=True))
    return a + b


def add_all(parts: Sequence):
    """Combine many kernel results at once (QR factors are stacked in one QR)."""
    parts = [p for p in parts if p is not None]
    if not parts:
        return None
    first = parts[0]
    if isinstance(first, tuple):
        return tuple(add_all([p[k] for p in parts]) for k in range(len(first)))
    if isinstance(first, RFactor):
        return RFactor.stack(parts)
    if isinstance(first, np.ndarray):
        return functools.reduce(np.add, parts)
    return functools.reduce(add, parts)


CACHE_ELEMENTS = 2**17  # float64 entries of X per sub-block: 1 MiB, a core's L2 cache


def cache_rows(p: int) -> int:
    """Rows of a sub-block whose p columns hold about ``CACHE_ELEMENTS`` floats."""
    return max(256, CACHE_ELEMENTS // max(p, 1))


def in_cache(kernel: Callable[[Chunk], object]) -> Callable[[Chunk], object]:
    """``kernel`` run on cache-sized sub-blocks of each chunk and added up (exact:
    results add). Kernels whose result does not split well (a QR factor) say
    ``whole_block = True`` and see the block whole."""
    if getattr(kernel, "whole_block", False):
        return kernel

    def run(ch: Chunk):
        m, p = ch.X.shape
        if m <= cache_rows(p):
            return kernel(ch)
        return reduce_expanded(kernel, ch.X.__getitem__, np.zeros(p), ch.y, ch.w, ch.off,
                               slice(0, m))

    return run


def reduce_expanded(kernel, expand: Callable[[slice], np.ndarray], shift: np.ndarray,
                    y: np.ndarray, w: np.ndarray, off: np.ndarray, rows: slice,
                    bounds: np.ndarray | None = None):
    """``kernel`` over ``rows`` of a model matrix that is expanded from its encodings
    (``expand(sub)``: the uncentred X[sub]) sub-block by sub-block, each cache-sized
    (whole for ``whole_block`` kernels): expansion and kernel then run from cache and no
    block-sized array is ever allocated. With ``bounds`` (term column boundaries), the
    pair (result, ``Max`` of the per-term absolute row sums of the uncentred X)."""
    whole = getattr(kernel, "whole_block", False)
    step = max(rows.stop - rows.start, 1) if whole else cache_rows(len(shift))
    out = []
    for start in range(rows.start, rows.stop, step):
        sub = slice(start, min(start + step, rows.stop))
        Xb = expand(sub)
        rm = None if bounds is None else Max(term_rowmax(Xb, bounds))
        if np.any(shift):
            Xb -= shift
        r = kernel(Chunk(Xb, y[sub], w[sub], off[sub]))
        out.append(r if bounds is None else (r, rm))
    return add_all(out)


def weighted_gram(X: np.ndarray, W: np.ndarray) -> np.ndarray:
    """X' diag(W) X, exactly symmetric. With W >= 0 it is A'A, A = sqrt(W) X (a BLAS
    gemm: on cache-sized blocks OpenBLAS's gemm runs about twice as fast as its syrk,
    which would do half the flops); W may be negative (full Newton weights)."""
    if X.shape[0] == 0:
        return np.zeros((X.shape[1], X.shape[1]))
    A = np.sqrt(W)[:, None] * X if np.all(W >= 0) else None
    G = A.T @ A if A is not None else X.T @ (W[:, None] * X)
    return 0.5 * (G + G.T)


class RowSource(Protocol):
    """What the fits need from the data (module docstring)."""

    n: int  # rows
    p: int  # model-matrix columns
    shift: np.ndarray  # centring of the columns (reparam.centring_shift)

    def reduce(self, kernel: Callable[[Chunk], object], rowmax: bool = False):
        """The ``add``-combination of ``kernel`` over all row blocks; with ``rowmax``, the
        pair (that, per-term max absolute row sums of the uncentred X: mgcv's penalty
        rescaling, ``Term.finish``)."""
        ...

    def saturated_loglik(self, family, scale: float) -> float:
        """mgcv ``ls``: the family's saturated log-likelihood of the rows at ``scale``."""
        ...


def term_rowmax(X: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Per-term max absolute row sum of an uncentred block (mgcv penalty rescaling)."""
    if X.shape[0] == 0:
        return np.zeros(len(bounds) - 1)
    return np.array([np.abs(X[:, a:b]).sum(axis=1).max() if b > a else 0.0
                     for a, b in zip(bounds[:-1], bounds[1:], strict=True)])


class ArrayRows:
    """In-memory rows: a ``design.Design`` plus y, prior weights and offset arrays."""

    def __init__(self, design, y: np.ndarray, w: np.ndarray, off: np.ndarray,
                 rowmax: np.ndarray | None = None):
        self.design = design
        self.y = np.asarray(y, dtype=float)
        self.w = np.asarray(w, dtype=float)
        self.off = np.asarray(off, dtype=float)
        self.n, self.p = design.n, design.p
        self.rowmax = rowmax  # known already (from building the design)

    @property
    def shift(self) -> np.ndarray:
        return self.design.shift

    def reduce(self, kernel, rowmax: bool = False):
        y, w, off, design = self.y, self.w, self.off, self.design
        if hasattr(design, "raw_block"):  # streamed: expanded sub-block by sub-block
            from .backend import map_blocks

            bounds = None
            if rowmax and self.rowmax is None:  # measured on this pass
                bounds = np.cumsum([0] + [t.n_coef for t in design.terms])
            out = add_all(map_blocks(
                lambda rows: reduce_expanded(kernel, design.raw_block, design.shift, y, w,
                                             off, rows, bounds),
                self.n, design.block_rows))
            if bounds is not None:
                return out[0], out[1].v
        else:
            cached = in_cache(kernel)
            out = add_all(design.map_rows(
                lambda Xb, rows: cached(Chunk(Xb, y[rows], w[rows], off[rows]))))
        return (out, self.rowmax) if rowmax else out

    def saturated_loglik(self, family, scale: float) -> float:
        return family.saturated_loglik(self.y, self.w, scale)
