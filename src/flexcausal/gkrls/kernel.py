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
        p = X.shape[1]
        if method == "none":
            return cls(np.zeros(p), np.eye(p))
        mean = X.mean(axis=0)
        if X.shape[0] < 2:
            return cls(mean, np.eye(p))
        if method == "scaled":
            var = X.var(axis=0, ddof=1)
            return cls(mean, np.diag(1.0 / np.sqrt(np.where(var == 0, 1.0, var))))
        cov = np.atleast_2d(np.cov(X, rowvar=False))
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


def gaussian_kernel(A: np.ndarray, B: np.ndarray, bandwidth: float) -> np.ndarray:
    """K[i, j] = exp(-||a_i - b_j||^2 / bandwidth), computed in place in one buffer."""
    K = A @ B.T
    K *= 2.0
    K -= np.einsum("ij,ij->i", A, A)[:, None]
    K -= np.einsum("ij,ij->i", B, B)[None, :]
    np.minimum(K, 0.0, out=K)
    K *= 1.0 / bandwidth
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
    if indices is not None:
        idx = np.asarray(indices)
        idx = validate_indices(idx, n)
        scale = np.sqrt(n / idx.size)
        anchors, S_t = Xs[idx], None
    elif method == "none":
        idx, scale, anchors, S_t = None, 1.0, Xs, None
    else:
        m = default_sketch_size(n, multiplier) if size is None else int(size)
        if m < 1:
            raise ValueError(f"krls(): sketch size must be >= 1, got {m}")
        if method == "subsampling":
            if m > n:
                raise ValueError(
                    f"krls(): sketch size {m} exceeds the number of rows {n}; "
                    "use a smaller size/multiplier or sketch='none'"
                )
            idx = np.sort(rng.choice(n, size=m, replace=False))
            scale, anchors, S_t = np.sqrt(n / m), Xs[idx], None
        else:  # gaussian: R gKRLS draws N(0, 1) entries times sqrt(1 / sqrt(M))
            idx, anchors = None, Xs
            S_t = rng.standard_normal((n, m)) * np.sqrt(1.0 / np.sqrt(m))
            scale = None
    if S_t is None:
        penalty = gaussian_kernel(anchors, anchors, bandwidth) * scale**2
    else:  # S K S' streamed over row blocks of K: never N x N at once
        KSt = np.empty_like(S_t)
        for start in range(0, n, block_rows):
            stop = min(start + block_rows, n)
            KSt[start:stop] = gaussian_kernel(Xs[start:stop], Xs, bandwidth) @ S_t
        penalty = S_t.T @ KSt
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
