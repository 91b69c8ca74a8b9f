"""Thin plate spline building blocks (Duchon 1977; Wood 2003, JRSS-B 65(1) 95-114).

A thin plate spline of order m in d dimensions (2m > d) minimises
||y - f||^2 + lambda J_md(f), with J_md the integral over R^d of all order-m
derivatives squared. Its solution is

    f(x) = sum_i delta_i eta_md(||x - x_i||) + sum_j alpha_j phi_j(x),   T' delta = 0,

where the phi_j are the M = choose(m+d-1, d) monomials of degree < m (the null space
of J_md), T_ij = phi_j(x_i), and J_md(f) = delta' E delta with E_ij = eta(||x_i-x_j||):

    eta(r) = c_md r^(2m-d) log(r)   (d even),     eta(r) = c_md r^(2m-d)   (d odd),
    c_md = (-1)^(m+1+d/2) / (2^(2m-1) pi^(d/2) (m-1)! (m-d/2)!)    (d even),
    c_md = Gamma(d/2 - m) / (2^(2m) pi^(d/2) (m-1)!)               (d odd).

Source: mgcv 1.8-41 ``tprs.c`` (``eta_const``, ``fast_eta``, ``gen_tps_poly_powers``,
``null_space_dimension``, ``tpsE``, ``tpsT``), re-derived here in NumPy.
"""

from __future__ import annotations

import math

import numpy as np


def default_m(d: int) -> int:
    """mgcv's default order: the smallest m with 2m > d + 1 (m=2 for d<=2, 3 for d=3,4)."""
    m = 1
    while 2 * m < d + 2:
        m += 1
    return m


def effective_m(d: int, m: int | None) -> int:
    """mgcv ``null_space_dimension``: m is used when 2m > d, else the default."""
    if m is None or 2 * m <= d:
        return default_m(d)
    return int(m)


def null_space_dim(d: int, m: int) -> int:
    """M = choose(m + d - 1, d), the number of monomials of degree < m in d variables."""
    return math.comb(m + d - 1, d)


def poly_powers(d: int, m: int) -> np.ndarray:
    """(M, d) exponents of the null space monomials in mgcv's order
    (``gen_tps_poly_powers``: the first variable's power increases fastest; for d=2,
    m=2: 1, x1, x2; m=3: 1, x1, x1^2, x2, x1 x2, x2^2)."""
    M = null_space_dim(d, m)
    index = [0] * d
    out = np.zeros((M, d), dtype=np.int64)
    for i in range(M):
        out[i] = index
        total = sum(index)
        if total < m - 1:
            index[0] += 1
        else:
            total -= index[0]
            index[0] = 0
            for j in range(1, d):
                index[j] += 1
                total += 1
                if total == m:
                    total -= index[j]
                    index[j] = 0
                else:
                    break
    return out


def eta_const(d: int, m: int) -> float:
    """c_md, the constant of the TPS radial function (mgcv ``eta_const``)."""
    if 2 * m <= d:
        raise ValueError(f"a thin plate spline needs 2m > d (got m={m}, d={d})")
    if d % 2 == 0:
        f = -1.0 if (m + 1 + d // 2) % 2 else 1.0
        f /= 2.0 ** (2 * m - 1) * math.pi ** (d // 2)
        f /= math.factorial(m - 1) * math.factorial(m - d // 2)
        return f
    f = math.sqrt(math.pi)  # Gamma(1/2), then Gamma(d/2 - m) by the recursion downwards
    for i in range(m - (d - 1) // 2):
        f /= -0.5 - i
    f /= 4.0**m * math.pi ** (d / 2) * math.factorial(m - 1)
    return f


def eta_sq(r2: np.ndarray, d: int, m: int) -> np.ndarray:
    """eta as a function of the squared distance r2 (0 where r2 <= 0), ``fast_eta``."""
    c = eta_const(d, m)
    r2 = np.asarray(r2, dtype=np.float64)
    out = np.zeros_like(r2)
    pos = r2 > 0
    rp = r2[pos]
    if d % 2 == 0:
        out[pos] = c * 0.5 * np.log(rp) * rp ** (m - d // 2)
    else:
        out[pos] = c * rp ** (m - d // 2 - 1) * np.sqrt(rp)
    return out


def sq_dist(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances between the rows of A and of B, summed coordinate by
    coordinate as mgcv does (exactly 0 for coincident points)."""
    out = np.zeros((A.shape[0], B.shape[0]))
    for j in range(A.shape[1]):
        out += (A[:, j, None] - B[None, :, j]) ** 2
    return out


def poly_matrix(X: np.ndarray, powers: np.ndarray) -> np.ndarray:
    """T_ij = prod_l X_il^powers_jl (``tpsT``)."""
    T = np.ones((X.shape[0], powers.shape[0]))
    for j, p in enumerate(powers):
        for col, q in enumerate(p):
            if q:
                T[:, j] *= X[:, col] ** q
    return T
