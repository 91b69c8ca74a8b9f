"""The truncated thin plate regression spline basis (mgcv ``tprs_setup`` in tprs.c).

Wood (2003, JRSS-B 65(1), Sec. 2-3). With E = U_full D U_full' the eigen-decomposition
of the TPS matrix at the n_u unique knots, keep the k eigenvalues largest in absolute
value (D_k, U_k; mgcv's Lanczos returns them in decreasing order of value). Writing
delta = U_k delta_k, the constraint T' delta = 0 becomes (T' U_k) delta_k = 0. mgcv's
``QT`` factorisation (T'U_k) Q = [0, B] (Householder reflections H_i = I - u_i u_i',
each rotating row i of T'U_k onto its column k-1-i; Q = H_0 H_1 ... H_{M-1}) gives
Z = the first k - M columns of Q, a basis of that null space. Then

    UZ = [U_k Z, 0; 0, I_M]          (tps coefficients = UZ beta),
    X  = [E U_k Z, T]  = [U_k D_k Z, T] at the knots,
    S  = [Z' D_k Z, 0; 0, 0],

and each column of X is divided by its root mean square w_j on the data (X <- X W,
UZ <- UZ W, S <- W S W). At any point x the basis row is
b(x)' UZ, b(x) = (eta(||x - x_1||), ..., eta(||x - x_nu||), phi_1(x), ..., phi_M(x))
(mgcv ``tps_g``/``predict_tprs``). With n_u == k no eigen step is taken:
U_k = I, S = Z' E Z.

The eigenpairs are exact (LAPACK; ARPACK to machine precision above 400 knots) where
mgcv stops its Lanczos iteration at a relative tolerance of eps^0.7, so the two agree
to about 1e-9. Eigenvectors are only defined up to sign; ours are normalised so that
the first entry of (to 1e-6) largest absolute value of each is positive. mgcv's signs
are arbitrary, and flipping them changes Z non-trivially (the Householder step), so X
and S can differ from mgcv's by a reparametrisation of the same function space and
penalty: fitted values and smoothness selection are unaffected; only the scale maS of
``scale.penalty`` moves. ``signs`` multiplies our eigenvectors to reproduce a given run.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import eigh
from scipy.sparse.linalg import eigsh

from .tps import eta_sq, poly_matrix, sq_dist

DENSE_EIGEN_MAX = 400  # above this many knots (and k < n_u / 3) use ARPACK (Lanczos)
_BLOCK = 1 << 21  # entries per block of the (rows x knots) kernel when evaluating


def mgcv_qt(A: np.ndarray) -> np.ndarray:
    """Q (c x c) with A Q = [0, B], B reverse lower triangular (mgcv ``QT``; A is r x c)."""
    A = np.array(A, dtype=np.float64)
    r, c = A.shape
    Q = np.eye(c)
    for i in range(r):
        end = c - i
        p = A[i, :end].copy()
        scale = np.abs(p).max()
        if scale:
            p /= scale
        lsq = np.sqrt(p @ p)
        if p[end - 1] < 0.0:
            lsq = -lsq
        p[end - 1] += lsq
        g = 1.0 / (lsq * p[end - 1]) if lsq else 0.0
        A[i + 1 :, :end] -= g * np.outer(A[i + 1 :, :end] @ p, p)
        Q[:, :end] -= g * np.outer(Q[:, :end] @ p, p)
    return Q


def lanczos_start(n: int) -> np.ndarray:
    """mgcv ``Rlanczos``'s start vector: jran <- (106 jran + 1283) mod 6075, jran/6075 - 1/2."""
    out, jran = np.empty(n), 1
    for i in range(n):
        jran = (jran * 106 + 1283) % 6075
        out[i] = jran / 6075 - 0.5
    return out


def top_eigen(E: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k eigenpairs of largest |value| (ties to the positive one), in decreasing
    order of value (mgcv ``Rlanczos`` with lm < 0), signed by ``sign_reference``."""
    n = E.shape[0]
    if n <= DENSE_EIGEN_MAX or 3 * k >= n:
        vals, vecs = eigh(E)
    else:  # to machine precision, from mgcv's deterministic Lanczos start vector
        vals, vecs = eigsh(E, k=k, which="LM", tol=0.0, v0=lanczos_start(n))
    order = np.argsort(-vals, kind="stable")
    vals, vecs = vals[order], vecs[:, order]
    top, bottom, m = 0, 0, vals.size
    while top + bottom < k:
        if abs(vals[top]) >= abs(vals[m - 1 - bottom]):
            top += 1
        else:
            bottom += 1
    keep = np.r_[np.arange(top), np.arange(m - bottom, m)]
    vals, vecs = vals[keep], vecs[:, keep]
    return vals, vecs * sign_reference(vecs)[1]


def sign_reference(vecs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column: the first row whose |entry| is within 1e-6 of the column's largest
    (robust to the exact ties of symmetric designs) and the sign of that entry."""
    a = np.abs(vecs)
    ref = (a >= a.max(axis=0) * (1 - 1e-6)).argmax(axis=0)
    return ref, np.where(vecs[ref, np.arange(vecs.shape[1])] < 0, -1.0, 1.0)


def eval_rows(x: np.ndarray, knots: np.ndarray, UZ: np.ndarray, m: int,
              powers: np.ndarray) -> np.ndarray:
    """b(x)' UZ for every row of x (in blocks of rows, to bound memory)."""
    d = x.shape[1]
    out = np.empty((x.shape[0], UZ.shape[1]))
    n_u = knots.shape[0]
    step = max(1, _BLOCK // max(n_u, 1))
    for start in range(0, x.shape[0], step):
        xb = x[start : start + step]
        out[start : start + step] = (eta_sq(sq_dist(xb, knots), d, m) @ UZ[:n_u]
                                     + poly_matrix(xb, powers) @ UZ[n_u:])
    return out


def truncated_basis(knots: np.ndarray, k: int, m: int, powers: np.ndarray,
                    signs: np.ndarray | None = None) -> dict:
    """UZ, S (unscaled by W) and, unless n_u == k, the basis rows X_u at the knots."""
    n_u, d = knots.shape
    M = powers.shape[0]
    E = eta_sq(sq_dist(knots, knots), d, m)
    T = poly_matrix(knots, powers)
    if n_u == k:  # "pure knot": the full TPS basis, no eigen truncation
        if signs is not None:
            raise ValueError("signs apply to the eigenvectors; there are none when the "
                             "number of knots equals k")
        Z = mgcv_qt(T.T)[:, : k - M]
        UZ_top, S_small, X_u = Z, Z.T @ E @ Z, None
    else:
        vals, U = top_eigen(E, k)
        if signs is not None:
            signs = np.asarray(signs, dtype=np.float64)
            if signs.shape != (k,) or not np.all(np.abs(signs) == 1.0):
                raise ValueError(f"signs must be {k} values, each +1 or -1")
            U = U * signs
        Z = mgcv_qt(T.T @ U)[:, : k - M]
        UZ_top = U @ Z
        S_small = Z.T @ (vals[:, None] * Z)
        X_u = np.hstack([(U * vals) @ Z, T])
    UZ = np.zeros((n_u + M, k))
    UZ[:n_u, : k - M] = UZ_top
    UZ[n_u:, k - M :] = np.eye(M)
    S = np.zeros((k, k))
    S[: k - M, : k - M] = 0.5 * (S_small + S_small.T)
    return {"UZ": UZ, "S": S, "X_u": X_u}
