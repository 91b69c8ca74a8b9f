"""The gKRLS kernel basis: standardization, Gaussian kernel, sketching, truncation.

Follows R gKRLS (R/mgcv_function.R ``smooth.construct.gKRLS.smooth.spec`` and
R/kernel_function.R); Chang & Goplerud (gKRLS paper, Sec. 2-3):

    k(x, x') = exp(-||x - x'||^2 / b),  b = number of standardized columns,
    basis    = K(X, X_anchor) W,        W = S' U_+ Lambda_+^{-1/2},
    penalty  = S K S' = U Lambda U'  ->  identity after the truncation.

Every sketch is written as "anchors + weights": subsampling keeps M rows with
S = sqrt(N/M) I_M, ``none`` uses all N rows with S = I_N, and the Gaussian
sketch uses all N rows with a dense M x N matrix S.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

SQRT_EPS = float(np.sqrt(np.finfo(float).eps))  # gKRLS tolerance, R: sqrt(.Machine$double.eps)
STANDARDIZE = ("mahalanobis", "scaled", "none")
SKETCHES = ("subsampling", "gaussian", "none")


@dataclass
class Standardizer:
    """x -> (x - mean) @ whiten, with statistics learned on the training rows.

    ``mahalanobis``: cov(X) = Q L Q', eigenvalues < sqrt(eps) dropped, whiten = Q L^{-1/2};
    ``scaled``: divide by the column sd (sd 0 -> 1); ``none``: identity.
    """

    mean: np.ndarray
    whiten: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray, method: str) -> Standardizer:
        """From the training rows X: moments by ``ExactMoments`` (the same bits whichever
        way the rows are split into partitions)."""
        acc = ExactMoments(column_scales(np.abs(X).max(axis=0, initial=0.0)))
        acc.add(X)
        return cls.from_moments(*acc.moments(), method)

    @classmethod
    def from_moments(cls, n: int, mean: np.ndarray, M2: np.ndarray,
                     method: str) -> Standardizer:
        """From the row count, column means and scatter matrix M2 = (X - 1 mean')'(X - 1
        mean') of the training rows (merged over partitions by ``merge_moments``)."""
        p = len(mean)
        if method == "none":
            return cls(np.zeros(p), np.eye(p))
        if n < 2:
            return cls(mean, np.eye(p))
        cov = np.atleast_2d(M2 / (n - 1))
        if method == "scaled":
            var = np.diag(cov).copy()
            return cls(mean, np.diag(1.0 / np.sqrt(np.where(var == 0, 1.0, var))))
        vals, vecs = np.linalg.eigh(cov)
        keep = vals >= SQRT_EPS
        if not keep.any():
            raise ValueError(
                "krls(): every eigenvalue of the kernel columns' covariance is below "
                "sqrt(eps) (R gKRLS's absolute rule): the columns are constant or on a tiny "
                "scale; rescale them or use standardize='scaled'"
            )
        small = ~keep & (vals > 1e3 * np.finfo(float).eps * vals.max())  # not collinearity
        if small.any():
            warnings.warn(
                f"krls(): {int(small.sum())} direction(s) of the kernel columns have variance "
                f"{', '.join(f'{v:.2g}' for v in vals[small])}, below R gKRLS's absolute "
                "cutoff sqrt(eps), and are dropped: the kernel ignores them. The columns "
                "are on very different or tiny scales; rescale them (e.g. to unit variance) "
                "if they should count",
                UserWarning, stacklevel=5)
        vals, vecs = vals[keep][::-1], vecs[:, keep][:, ::-1]
        return cls(mean, vecs / np.sqrt(vals))

    def transform(self, X: np.ndarray) -> np.ndarray:
        return (X - self.mean) @ self.whiten


def column_scales(maxabs: np.ndarray) -> np.ndarray:
    """Per column a power of two s with max|x| <= 2^53 s: the grid ``ExactMoments``
    rounds the column to (as fine as float64 resolves its largest value)."""
    m = np.asarray(maxabs, dtype=float)
    _, e = np.frexp(np.where(m > 0, m, 1.0))
    return np.ldexp(1.0, e - 53)


_PIECE = 2.0**18
_CHUNK = 2**17  # rows per exact block product: (2^18)^2 * 2^17 = 2^53


class ExactMoments:
    """Row count, column sums and cross-product sums of X rounded to the grid
    ``scale`` (``column_scales``), accumulated as exact integers.

    Each rounded value k = round(x / s) (|k| <= 2^53) is cut into three 18-bit pieces, so
    that BLAS products of pieces over 2^17 rows are exact integers in float64; the sums
    are kept as Python integers. Sums of any partition of the rows add up to the same
    integers, so mean and scatter matrix (``moments``, correctly rounded from exact
    rationals) are bit-identical for in-memory data and for any Dask partitioning, and
    so are the kernel anchors and basis that depend on them (the eigen-truncation of the
    sketched kernel is sensitive to the last bit of the standardization)."""

    def __init__(self, scale: np.ndarray):
        self.scale = np.asarray(scale, dtype=float)
        p = self.scale.size
        self.n = 0
        self.S = np.zeros(p, dtype=object)
        self.Q = np.zeros((p, p), dtype=object)

    def add(self, X: np.ndarray) -> ExactMoments:
        X = np.asarray(X, dtype=float).reshape(-1, self.scale.size)
        for start in range(0, X.shape[0], _CHUNK):
            k = np.rint(X[start:start + _CHUNK] / self.scale)
            top = np.floor(k / _PIECE**2)
            rest = k - top * _PIECE**2
            mid = np.floor(rest / _PIECE)
            pieces = (rest - mid * _PIECE, mid, top)  # k = p0 + p1 2^18 + p2 2^36
            for a, A in enumerate(pieces):
                self.S += _ints(A.sum(axis=0)) * (1 << (18 * a))
                for b, B in enumerate(pieces):
                    self.Q += _ints(A.T @ B) * (1 << (18 * (a + b)))
            self.n += k.shape[0]
        return self

    def __add__(self, other: ExactMoments) -> ExactMoments:
        out = ExactMoments(self.scale)
        out.n, out.S, out.Q = self.n + other.n, self.S + other.S, self.Q + other.Q
        return out

    def moments(self) -> tuple[int, np.ndarray, np.ndarray]:
        """(n, column means, scatter matrix sum (x - mean)(x - mean)'), each entry the
        float64 nearest to its exact value for the rounded data."""
        from fractions import Fraction

        p, n = self.scale.size, self.n
        if n == 0:
            return 0, np.zeros(p), np.zeros((p, p))
        s = [Fraction(float(v)) for v in self.scale]
        mean = np.array([float(Fraction(int(self.S[j]), n) * s[j]) for j in range(p)])
        M2 = np.empty((p, p))
        for j in range(p):
            for l in range(j, p):
                exact = (Fraction(int(self.Q[j, l])) - Fraction(int(self.S[j]) * int(self.S[l]), n))
                M2[j, l] = M2[l, j] = float(exact * s[j] * s[l])
        return n, mean, M2


def _ints(A: np.ndarray) -> np.ndarray:
    """Exact integer-valued float64 entries (< 2^53) as Python ints."""
    return np.asarray(A).astype(np.int64).astype(object)


# elements of one kernel sub-block (4 MiB of float64, cache-sized): KRLSTerm.expand and the
# effects' row blocks keep their (rows x anchors) kernel arrays about this size
KERNEL_CHUNK = 2**19


def gaussian_kernel(A: np.ndarray, B: np.ndarray, bandwidth: float) -> np.ndarray:
    """K[i, j] = exp(-||a_i - b_j||^2 / bandwidth)
    = exp((2 a_i'b_j - ||a_i||^2 - ||b_j||^2) / bandwidth), computed in place in one
    buffer; the factor 2 / bandwidth is applied to the small B, not to K (two fewer
    sweeps over K, whose element-wise passes are half the cost of a kernel block)."""
    scale = 1.0 / bandwidth
    K = A @ (B.T * (2.0 * scale))
    K -= (np.einsum("ij,ij->i", A, A) * scale)[:, None]
    K -= (np.einsum("ij,ij->i", B, B) * scale)[None, :]
    np.minimum(K, 0.0, out=K)
    np.exp(K, out=K)
    return K


def default_sketch_size(n: int, multiplier: float) -> int:
    """gKRLS default: floor(ceiling(N^(1/3)) * multiplier)."""
    # Same floating-point arithmetic as R (pow, ceiling, floor), so sizes agree exactly.
    return int(np.floor(np.ceil(float(n) ** (1.0 / 3.0)) * multiplier))


@dataclass
class KernelSketch:
    """Anchors and weights after eigen-truncation: basis(x) = K(x, anchors) @ weights."""

    anchors: np.ndarray  # (n_anchor, P) standardized anchor rows
    weights: np.ndarray  # (n_anchor, M') = S' U_+ Lambda_+^{-1/2}
    indices: np.ndarray | None  # 0-based training rows of the anchors (subsampling)
    size_before: int  # M, the sketch dimension before truncation
    eigenvalues: np.ndarray  # eigenvalues of the sketched penalty S K S' (descending)


def sketch_size(n: int, size: int | None, multiplier: float) -> int:
    """M: ``size``, or the gKRLS default floor(ceil(N^(1/3)) * multiplier); at least 1."""
    m = default_sketch_size(n, multiplier) if size is None else int(size)
    if m < 1:
        raise ValueError(f"krls(): sketch size must be >= 1, got {m}")
    return m


def sketch_rows(n: int, method: str, size: int | None, multiplier: float, indices,
                rng: np.random.Generator) -> tuple[np.ndarray | None, float | None]:
    """The training rows a subsampling (or custom) sketch keeps, and S's scale sqrt(N/M).

    Subsampling draws ``np.sort(rng.choice(n, size=M, replace=False))`` with
    M = floor(ceil(N^(1/3)) * multiplier) (gKRLS default) or ``size``: 0-based positions
    in the row order of the data (for a Dask frame: partition order, then row order
    within a partition), so the same rows and seed give the same sketch in memory and
    on a cluster. Other sketches use all rows: (None, None)."""
    if indices is not None:
        idx = validate_indices(np.asarray(indices), n)
        return idx, float(np.sqrt(n / idx.size))
    if method != "subsampling":
        return None, None
    m = sketch_size(n, size, multiplier)
    if m > n:
        raise ValueError(
            f"krls(): sketch size {m} exceeds the number of rows {n}; "
            "use a smaller size/multiplier or sketch='none'"
        )
    return np.sort(rng.choice(n, size=m, replace=False)), float(np.sqrt(n / m))


def build_sketch(
    Xs: np.ndarray,
    bandwidth: float,
    method: str,
    size: int | None,
    multiplier: float,
    indices,
    rng: np.random.Generator,
    block_rows: int = 20_000,
) -> KernelSketch:
    """Draw the sketch, form the penalty S K S', and truncate eigenvalues < sqrt(eps)."""
    n = Xs.shape[0]
    if indices is not None or method == "subsampling":
        idx, scale = sketch_rows(n, method, size, multiplier, indices, rng)
        return sketch_from_anchors(Xs[idx], bandwidth, scale, idx)
    if method == "none":
        idx, scale, anchors, S_t = None, 1.0, Xs, None
    else:  # gaussian: R gKRLS draws N(0, 1) entries times sqrt(1 / sqrt(M))
        m = sketch_size(n, size, multiplier)
        idx, anchors = None, Xs
        S_t = rng.standard_normal((n, m)) * np.sqrt(1.0 / np.sqrt(m))
        scale = None
    if S_t is None:
        return sketch_from_anchors(anchors, bandwidth, scale, idx)
    # S K S' streamed over row blocks of K: never N x N at once
    KSt = np.empty_like(S_t)
    for start in range(0, n, block_rows):
        stop = min(start + block_rows, n)
        KSt[start:stop] = gaussian_kernel(Xs[start:stop], Xs, bandwidth) @ S_t
    return _truncate(S_t.T @ KSt, anchors, None, S_t, idx)


def sketch_from_anchors(anchors: np.ndarray, bandwidth: float, scale: float,
                        idx: np.ndarray | None) -> KernelSketch:
    """A subsampling (S = scale * I on the anchor rows) or full (``none``) sketch from
    its standardized anchor rows."""
    penalty = gaussian_kernel(anchors, anchors, bandwidth) * scale**2
    return _truncate(penalty, anchors, scale, None, idx)


def _truncate(penalty, anchors, scale, S_t, idx) -> KernelSketch:
    penalty = 0.5 * (penalty + penalty.T)
    vals, vecs = np.linalg.eigh(penalty)
    vals, vecs = vals[::-1], vecs[:, ::-1]
    keep = vals >= SQRT_EPS
    if not keep.any():
        raise ValueError("krls(): every eigenvalue of the sketched kernel fell below sqrt(eps)")
    T = vecs[:, keep] / np.sqrt(vals[keep])
    weights = T * scale if S_t is None else S_t @ T
    return KernelSketch(anchors, weights, idx, penalty.shape[0], vals)


def validate_indices(idx: np.ndarray, n: int) -> np.ndarray:
    """0-based, unique, in-range integer row indices."""
    if idx.ndim != 1 or idx.size == 0:
        raise ValueError("krls(): indices must be a non-empty 1-D sequence of row numbers")
    if not np.issubdtype(idx.dtype, np.integer):
        if np.issubdtype(idx.dtype, np.floating) and np.all(idx == np.round(idx)):
            idx = idx.astype(np.int64)
        else:
            raise TypeError(f"krls(): indices must be integers, got dtype {idx.dtype}")
    if idx.min() < 0 or idx.max() >= n:
        raise ValueError(
            f"krls(): indices must lie in [0, {n - 1}] (0-based); got range "
            f"[{idx.min()}, {idx.max()}]"
        )
    if np.unique(idx).size != idx.size:
        raise ValueError("krls(): indices contain duplicates")
    return idx.astype(np.int64)
