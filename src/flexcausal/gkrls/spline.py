"""mgcv's cubic regression spline basis, ``s(x, bs="cr", k)``.

Wood (2017, *Generalized Additive Models*, Sec. 5.3.1) and mgcv
``smooth.construct.cr.smooth.spec``: the coefficients are the function values at
k knots (at quantiles of the unique x); a natural cubic spline interpolates them,

    f(x) = a_-(x) b_j + a_+(x) b_{j+1} + c_-(x) d_j + c_+(x) d_{j+1},  d = F b,

with F = [0; B^{-1} D; 0] (second derivatives, zero at the end knots) and penalty
S = D' B^{-1} D = integral of f''(x)^2. Outside the knots f is extended linearly.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import solve


def place_knots(x: np.ndarray, k: int) -> np.ndarray:
    """k knots evenly spread through the sorted unique x (mgcv ``place.knots``)."""
    u = np.unique(x)
    n = u.size
    if k > n:
        raise ValueError(f"s(): k={k} knots but only {n} unique values of the variable")
    if k < 3:
        raise ValueError(f"s(): bs='cr' needs k >= 3, got k={k}")
    pos = np.linspace(0.0, n - 1.0, k)  # 0-based version of seq(1, n, by=delta)
    lower = np.floor(pos).astype(int)[:-1]
    frac = pos[:-1] - lower
    knots = np.empty(k)
    knots[0], knots[-1] = u[0], u[-1]
    inner = slice(1, k - 1)
    knots[inner] = u[lower[inner]] * (1 - frac[inner]) + u[lower[inner] + 1] * frac[inner]
    return knots


def _second_derivative_map(knots: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """D ((k-2) x k), B ((k-2) x (k-2)) and F = [0; B^{-1} D; 0] (k x k)."""
    k = knots.size
    h = np.diff(knots)
    D = np.zeros((k - 2, k))
    B = np.zeros((k - 2, k - 2))
    for i in range(k - 2):
        D[i, i] = 1.0 / h[i]
        D[i, i + 1] = -1.0 / h[i] - 1.0 / h[i + 1]
        D[i, i + 2] = 1.0 / h[i + 1]
        B[i, i] = (h[i] + h[i + 1]) / 3.0
        if i < k - 3:
            B[i, i + 1] = B[i + 1, i] = h[i + 1] / 6.0
    F = np.zeros((k, k))
    F[1:-1] = solve(B, D, assume_a="sym")
    return D, B, F


def cr_penalty(knots: np.ndarray) -> np.ndarray:
    """S = D' B^{-1} D, the integrated squared second derivative."""
    D, _, F = _second_derivative_map(knots)
    S = D.T @ F[1:-1]
    return 0.5 * (S + S.T)


def cr_basis(x: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """Model matrix (n x k) of the natural cubic spline with values-at-knots coefficients."""
    x = np.asarray(x, dtype=float)
    k = knots.size
    _, _, F = _second_derivative_map(knots)
    X = np.zeros((x.size, k))
    inside = (x >= knots[0]) & (x <= knots[-1])
    xi = x[inside]
    j = np.clip(np.searchsorted(knots, xi, side="right") - 1, 0, k - 2)
    h = knots[j + 1] - knots[j]
    am = (knots[j + 1] - xi) / h
    ap = (xi - knots[j]) / h
    cm = ((knots[j + 1] - xi) ** 3 / h - h * (knots[j + 1] - xi)) / 6.0
    cp = ((xi - knots[j]) ** 3 / h - h * (xi - knots[j])) / 6.0
    rows = np.flatnonzero(inside)
    X[rows, j] += am
    X[rows, j + 1] += ap
    X[rows] += cm[:, None] * F[j] + cp[:, None] * F[j + 1]
    # linear extrapolation beyond the end knots, slope from the end interval
    for side, outside in ((0, x < knots[0]), (-1, x > knots[-1])):
        if not outside.any():
            continue
        if side == 0:
            h0 = knots[1] - knots[0]
            slope = np.zeros(k)
            slope[0], slope[1] = -1.0 / h0, 1.0 / h0
            slope += -h0 / 3.0 * F[0] - h0 / 6.0 * F[1]
            value = np.zeros(k)
            value[0] = 1.0
            X[outside] = value + (x[outside] - knots[0])[:, None] * slope
        else:
            h1 = knots[-1] - knots[-2]
            slope = np.zeros(k)
            slope[-2], slope[-1] = -1.0 / h1, 1.0 / h1
            slope += h1 / 6.0 * F[-2] + h1 / 3.0 * F[-1]
            value = np.zeros(k)
            value[-1] = 1.0
            X[outside] = value + (x[outside] - knots[-1])[:, None] * slope
    return X


def sum_to_zero_householder(colsums: np.ndarray) -> np.ndarray:
    """Null-space basis Z (k x k-1) of the constraint 1'X b = 0, as mgcv absorbs it.

    mgcv ``smoothCon(absorb.cons=TRUE)`` takes a Householder QR of C' = colSums(X)
    (R's LINPACK ``dqrdc2``) and keeps columns 2..k of Q, so X <- X Z, S <- Z'SZ.
    """
    c = np.asarray(colsums, dtype=float)
    norm = np.linalg.norm(c)
    u = c / (norm if c[0] == 0 else np.copysign(norm, c[0]))
    u[0] += 1.0
    Q = np.eye(c.size) - np.outer(u, u) / u[0]
    return Q[:, 1:]
