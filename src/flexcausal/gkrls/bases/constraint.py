"""mgcv ``smoothCon(..., absorb.cons=TRUE, scale.penalty=TRUE)`` for one penalty.

Penalty scaling (done first, on the *unconstrained* basis X and penalty S):

    maS = ||S||_1 / ||X||_inf^2,   S <- S / maS      (``sm$S.scale = maS``)

with ||S||_1 the largest absolute column sum and ||X||_inf the largest absolute row
sum of X on the fitting data.

Sum-to-zero constraint: C = colMeans(X) (1 x k). With ``qrc <- qr(t(C))`` (LINPACK
``dqrdc2``: one Householder reflection H = I - u u' / u_1, u = c/s + e_1,
s = sign(c_1) ||c||), the constrained basis is X H[, 2:k] and the penalty
H[2:k, ] S H[, 2:k]; ``PredictMat`` applies the same H to new rows. If some entries of
C are exactly zero, mgcv reflects only the columns with C != 0 (``indi``): the first
nz = |indi| - 1 of them are replaced by their reflected combinations and the last is
dropped; the other columns are untouched. Either way the map is a k x (k-1) matrix Z,
X_c = X Z and S_c = Z' S Z.
"""

from __future__ import annotations

import numpy as np


def penalty_scale(X: np.ndarray, S: np.ndarray) -> float:
    """maS = ||S||_1 / ||X||_inf^2 (mgcv ``smoothCon``, ``scale.penalty=TRUE``)."""
    max_row = np.abs(X).sum(axis=1).max()
    return float(np.abs(S).sum(axis=0).max() / max_row**2)


def linpack_reflector(c: np.ndarray) -> np.ndarray:
    """The Householder matrix H with H c = -s e_1 of ``qr(t(c))`` (LINPACK dqrdc2)."""
    c = np.asarray(c, dtype=np.float64)
    norm = np.linalg.norm(c)
    if norm == 0.0:
        raise ValueError("the constraint vector is zero")
    s = norm if c[0] >= 0 else -norm  # dsign(nrmxl, qrx(l,l)); c[0] = 0 keeps +
    u = c / s
    u[0] += 1.0
    return np.eye(c.size) - np.outer(u, u) / u[0]


def sum_to_zero_map(col_means: np.ndarray) -> np.ndarray:
    """Z (k x (k-1)) absorbing C b = 0 the way mgcv ``smoothCon`` does."""
    C = np.asarray(col_means, dtype=np.float64)
    k = C.size
    indi = np.flatnonzero(C != 0.0)
    if indi.size == 0:
        raise ValueError("the sum-to-zero constraint is zero: every column sums to 0")
    H = linpack_reflector(C[indi])
    Z = np.eye(k)
    nz = indi.size - 1
    for j in range(nz):
        Z[:, indi[j]] = 0.0
        Z[indi, indi[j]] = H[:, j + 1]
    return np.delete(Z, indi[-1], axis=1)
