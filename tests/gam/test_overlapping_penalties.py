"""Overlapping penalties (tensor products: several S_j on the same coefficients).

References, none of which shares code with reparam.py / stable.py:

* dense numpy linear algebra at moderate smoothing parameters;
* closed forms for commuting (Kronecker) penalties lambda_1 A x I + lambda_2 I x B, whose
  eigenvalues are lambda_1 a_i + lambda_2 b_k, at any spread of lambda;
* exact rational arithmetic (``fractions``) for a sum-to-zero constrained te-like pair,
  where the penalties do not commute: log|S|_+ = log det(S + N N') - log det(N'N) for a
  rational basis N of the null space, and the REML score of a small model;
* central finite differences of our own score, and scipy's minimizer on a dense,
  straightforward REML formula.
"""

from __future__ import annotations

import warnings
from fractions import Fraction as Fr
from math import fsum, log

import numpy as np
import pytest
from scipy.optimize import minimize

from flexcausal.gkrls.design import CachedDesign
from flexcausal.gkrls.families import make_family
from flexcausal.gkrls.fit import GaussianREML, QRStats, fit_reml, limit_excess
from flexcausal.gkrls.pirls import GLMProblem, fit_laml
from flexcausal.gkrls.reparam import PenaltyBlock, Reparametrization, total_penalty
from flexcausal.gkrls.spline import cr_basis, cr_penalty, place_knots, sum_to_zero_householder
from flexcausal.gkrls.stable import PenalizedFactor

EXTREME = [np.log([1e-8, 1e12]), np.log([1e12, 1e-8]), np.array([-35.0, 35.0]),
           np.array([35.0, 35.0]), np.array([-35.0, -35.0])]


# ------------------------------------------------------------------- problems
def _diffpen(k: int) -> np.ndarray:
    D = np.diff(np.eye(k, dtype=int), 2, axis=0)
    return D.T @ D


def _contrast(k: int) -> np.ndarray:
    """Rational sum-to-zero basis: columns e_i - e_{i+1}."""
    Z = np.zeros((k, k - 1), dtype=int)
    for i in range(k - 1):
        Z[i, i], Z[i + 1, i] = 1, -1
    return Z


def _te_problem(seed=0, n=200, k1=5, k2=4, kz=6, truth=None):
    """Intercept + te(x1, x2) (cr margins, sum-to-zero absorbed: two overlapping
    penalties) + s(z) (a separate one) and a smooth truth."""
    rng = np.random.default_rng(seed)
    x1, x2, z = rng.uniform(size=(3, n))
    kn1, kn2 = place_knots(x1, k1), place_knots(x2, k2)
    Xt = np.einsum("ni,nj->nij", cr_basis(x1, kn1), cr_basis(x2, kn2)).reshape(n, -1)
    Zc = sum_to_zero_householder(Xt.sum(axis=0))
    S1 = Zc.T @ np.kron(cr_penalty(kn1), np.eye(k2)) @ Zc
    S2 = Zc.T @ np.kron(np.eye(k1), cr_penalty(kn2)) @ Zc
    knz = place_knots(z, kz)
    Zz = sum_to_zero_householder(cr_basis(z, knz).sum(axis=0))
    Xz, Sz = cr_basis(z, knz) @ Zz, Zz.T @ cr_penalty(knz) @ Zz
    m = k1 * k2 - 1
    X = np.column_stack([np.ones(n), Xt @ Zc, Xz])
    blocks = [PenaltyBlock(slice(1, 1 + m), S1, (k1 - 2) * k2),
              PenaltyBlock(slice(1, 1 + m), S2, k1 * (k2 - 2)),
              PenaltyBlock(slice(1 + m, m + kz), Sz, kz - 2)]
    f = np.sin(3 * x1) * x2 + np.cos(4 * z) if truth is None else truth(x1, x2, z)
    return X, f + rng.normal(0, 0.3, n), blocks


def _qrstats(X, y):
    R_aug = np.linalg.qr(np.column_stack([X, y]), mode="r")
    return QRStats.from_augmented(R_aug, len(y), np.zeros(X.shape[1]), np.ones(1))


def _dense_log_pdet(S):
    ev = np.linalg.eigvalsh(S)
    return float(np.log(ev[ev > 1e-10 * ev.max()]).sum())


def _dense_reml(X, y, blocks, rho, null_dim):
    """V(rho) of fit.py written out with dense numpy (moderate sp only)."""
    n, p = X.shape
    S = total_penalty(blocks, rho, p)
    A = X.T @ X + S
    b = np.linalg.solve(A, X.T @ y)
    D = np.sum((y - X @ b) ** 2) + b @ S @ b
    c = (n - null_dim) / 2
    return (c * (1 + np.log(2 * np.pi * D / (2 * c))) + 0.5 * np.linalg.slogdet(A)[1]
            - 0.5 * _dense_log_pdet(S))


def _fd(f, x, h=1e-5):
    out = []
    for j in range(len(x)):
        e = np.zeros(len(x))
        e[j] = h
        out.append((f(x + e) - f(x - e)) / (2 * h))
    return np.array(out)


# ---------------------------------------------------------- exact arithmetic
def _fr_solve(M, rhs):
    """det(M) and M^{-1} rhs by Gauss-Jordan elimination in exact rationals."""
    n = len(M)
    M = [list(r) + list(b) for r, b in zip(M, rhs, strict=True)]
    det = Fr(1)
    for i in range(n):
        piv = next(r for r in range(i, n) if M[r][i] != 0)
        if piv != i:
            M[i], M[piv] = M[piv], M[i]
            det = -det
        det *= M[i][i]
        inv = 1 / M[i][i]
        M[i] = [x * inv for x in M[i]]
        for r in range(n):
            if r != i and M[r][i] != 0:
                f = M[r][i]
                M[r] = [a - f * b for a, b in zip(M[r], M[i], strict=True)]
    return det, [row[n:] for row in M]


def _flog(f: Fr) -> float:
    return log(f.numerator) - log(f.denominator)


def _rational_te(k1=4, k2=5):
    """Integer te-like penalties Z'(A x I)Z, Z'(I x B)Z (second differences, rational
    sum-to-zero basis Z) and an integer basis N of their common null space."""
    q = k1 * k2
    Z = _contrast(q)
    S1 = Z.T @ np.kron(_diffpen(k1), np.eye(k2, dtype=int)) @ Z
    S2 = Z.T @ np.kron(np.eye(k1, dtype=int), _diffpen(k2)) @ Z
    V = [np.kron(u, w) for u in (np.ones(k1, int), np.arange(k1))
         for w in (np.ones(k2, int), np.arange(k2))]
    # null vectors of the unconstrained sum with zero sum, then Z c = v (c = cumsum v)
    N = np.array([np.cumsum(v * V[0].sum() - V[0] * v.sum())[:-1] for v in V[1:]]).T
    assert not np.any(S1 @ N) and not np.any(S2 @ N)
    return S1, S2, N, (k1 - 2) * k2, k1 * (k2 - 2)


def _exact_log_pdet(S1, S2, N, rho):
    """log|S|_+, its gradient and Hessian in rho, exactly (rationals, then one log)."""
    m = len(S1)
    l1, l2 = (Fr(float(np.exp(r))) for r in rho)
    NNt, NtN = N @ N.T, N.T @ N
    M = [[l1 * int(S1[i, j]) + l2 * int(S2[i, j]) + int(NNt[i, j]) for j in range(m)]
         for i in range(m)]
    eye = [[Fr(int(i == j)) for j in range(m)] for i in range(m)]
    det, Minv = _fr_solve(M, eye)
    detN, _ = _fr_solve([[Fr(int(v)) for v in row] for row in NtN],
                        [[Fr(0)] for _ in range(len(NtN))])
    # tr(S^+ S_j) = tr((S + NN')^{-1} S_j) since S_j N = 0
    P = [[[sum(Minv[i][k] * lam * int(Sj[k, j]) for k in range(m)) for j in range(m)]
          for i in range(m)] for lam, Sj in ((l1, S1), (l2, S2))]
    d1 = np.array([float(sum(Pj[i][i] for i in range(m))) for Pj in P])
    tr2 = np.array([[float(sum(P[a][i][k] * P[b][k][i] for i in range(m) for k in range(m)))
                     for b in range(2)] for a in range(2)])
    return _flog(det) - _flog(detN), d1, np.diag(d1) - tr2


# ======================================================= log|S|_+ and derivatives
def _kronecker_blocks(k1=5, k2=6):
    A = cr_penalty(np.linspace(0, 1, k1) ** 1.3)
    B = cr_penalty(np.linspace(0, 2, k2) ** 1.1)
    A, B = A / np.linalg.eigvalsh(A)[-1], B / np.linalg.eigvalsh(B)[-1]
    q = k1 * k2
    blocks = [PenaltyBlock(slice(1, 1 + q), np.kron(A, np.eye(k2)), (k1 - 2) * k2),
              PenaltyBlock(slice(1, 1 + q), np.kron(np.eye(k1), B), k1 * (k2 - 2))]
    a, b = np.linalg.eigvalsh(A), np.linalg.eigvalsh(B)
    a[:2] = b[:2] = 0.0  # the cr null space (constant and linear), exactly
    return blocks, q + 1, a, b


@pytest.mark.parametrize("rho", [np.array([0.3, -1.2])] + EXTREME,
                         ids=lambda r: f"{r[0]:.1f},{r[1]:.1f}")
def test_log_pdet_of_kronecker_penalties_matches_closed_form(rho):
    blocks, p, a, b = _kronecker_blocks()
    rp = Reparametrization.from_blocks(blocks, p)
    assert rp.null_dim == 1 + 4  # unpenalized first column + null(A) x null(B)
    l1, l2 = np.exp(rho)
    pairs = [(x, z) for x in a for z in b if x > 0 or z > 0]
    value = fsum(log(l1 * x + l2 * z) for x, z in pairs)
    g = np.array([fsum(l1 * x / (l1 * x + l2 * z) for x, z in pairs),
                  fsum(l2 * z / (l1 * x + l2 * z) for x, z in pairs)])
    off = -fsum(l1 * x * l2 * z / (l1 * x + l2 * z) ** 2 for x, z in pairs)
    v, grad, hess = rp.log_pdet_S_derivatives(rho)
    assert v == pytest.approx(value, rel=1e-14, abs=1e-12)
    assert rp.log_pdet_S(rho) == v
    np.testing.assert_allclose(grad, g, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(hess, [[-off, off], [off, -off]], atol=1e-13)


@pytest.mark.parametrize("rho", [np.array([0.3, -1.2])] + EXTREME,
                         ids=lambda r: f"{r[0]:.1f},{r[1]:.1f}")
def test_log_pdet_of_constrained_te_penalties_is_exact(rho):
    """Non-commuting penalties (sum-to-zero absorbed); reference in exact rationals."""
    S1, S2, N, r1, r2 = _rational_te()
    m = len(S1)
    blocks = [PenaltyBlock(slice(0, m), S1.astype(float), r1),
              PenaltyBlock(slice(0, m), S2.astype(float), r2)]
    rp = Reparametrization.from_blocks(blocks, m)
    assert rp.null_dim == N.shape[1]
    value, d1, d2 = _exact_log_pdet(S1, S2, N, rho)
    v, grad, hess = rp.log_pdet_S_derivatives(rho)
    assert v == pytest.approx(value, rel=1e-14, abs=1e-12)
    np.testing.assert_allclose(grad, d1, atol=1e-13)
    np.testing.assert_allclose(hess, d2, atol=1e-13)


@pytest.mark.parametrize("seed", range(3))
def test_log_pdet_of_random_overlaps_matches_numpy_and_finite_differences(seed):
    """Random PSD penalties overlapping partly and fully, next to a separate one."""
    rng = np.random.default_rng(seed)

    def psd(k, r):
        A = rng.normal(size=(k, r))
        return A @ A.T

    blocks = [PenaltyBlock(slice(1, 7), psd(6, 3), 3), PenaltyBlock(slice(4, 10), psd(6, 4), 4),
              PenaltyBlock(slice(1, 7), psd(6, 2), 2), PenaltyBlock(slice(10, 14), psd(4, 2), 2)]
    p = 15
    rp = Reparametrization.from_blocks(blocks, p)
    assert [sorted(g.sps.tolist()) for g in rp.groups] == [[0, 1, 2]]
    rho = rng.normal(size=4)
    S = total_penalty(blocks, rho, p)
    assert rp.null_dim == p - np.linalg.matrix_rank(S)
    v, grad, hess = rp.log_pdet_S_derivatives(rho)
    # (numpy's small eigenvalues of the sum carry errors of eps ||S||: the reference is
    # the less accurate side here)
    assert v == pytest.approx(_dense_log_pdet(S), rel=1e-9)
    np.testing.assert_allclose(grad, _fd(rp.log_pdet_S, rho), atol=1e-8)
    fd_hess = np.array([_fd(lambda r, j=j: rp.log_pdet_S_derivatives(r)[1][j], rho)
                        for j in range(4)])
    np.testing.assert_allclose(hess, fd_hess, atol=1e-8)
    assert grad[3] == 2.0 and not np.any(hess[3])  # the separate block: rank, linear


def test_separate_blocks_keep_the_diagonal_path():
    X, _, blocks = _te_problem()
    sep = [blocks[2], PenaltyBlock(slice(1, 20), blocks[0].S, blocks[0].rank)]
    rp = Reparametrization.from_blocks(sep, X.shape[1])
    assert rp.groups == [] and rp.basis(np.zeros(2))[0] is rp.T
    assert np.array_equal(rp.penalized, rp.owner >= 0)
    fac = PenalizedFactor(rp, np.array([0.2, -1.0]), R=np.linalg.qr(X, mode="r"))
    assert fac.T is rp.T


# ================================================================ the factor
@pytest.mark.parametrize("source", ["R", "G"])
@pytest.mark.parametrize("rho", [np.array([0.3, -1.2, 0.5]), np.array([4.0, 2.0, -3.0])])
def test_factor_with_overlaps_matches_dense_linear_algebra(source, rho):
    X, _, blocks = _te_problem()
    p = X.shape[1]
    rp = Reparametrization.from_blocks(blocks, p)
    G = X.T @ X
    fac = PenalizedFactor(rp, rho, **({"R": np.linalg.qr(X, mode="r")} if source == "R"
                                      else {"G": G}))
    S = total_penalty(blocks, rho, p)
    A = G + S
    T = fac.T
    np.testing.assert_allclose(T @ T.T, np.eye(p), atol=1e-13)
    logdet_A = np.linalg.slogdet(A)[1]
    assert fac.logdet == pytest.approx(logdet_A, rel=1e-12)
    assert rp.log_pdet_S(rho) == pytest.approx(_dense_log_pdet(S), rel=1e-12)
    assert fac.logdet_rel == pytest.approx(logdet_A - _dense_log_pdet(S), rel=1e-11)
    A_inv = np.linalg.inv(A)
    np.testing.assert_allclose(T @ fac.inverse() @ T.T, A_inv, rtol=1e-9,
                               atol=1e-12 * np.abs(A_inv).max())
    np.testing.assert_allclose(T @ fac.F() @ T.T, A_inv @ G, atol=1e-11)
    L = T @ fac.inverse_sqrt()
    np.testing.assert_allclose(L @ L.T, A_inv, atol=1e-12 * np.abs(A_inv).max())
    b = np.arange(p, dtype=float)
    np.testing.assert_allclose(T @ fac.solve(T.T @ b), A_inv @ b, rtol=1e-9, atol=1e-14)
    # derivative pieces: tr(F S^+ L_j), tr(A^{-1} L_j), b'L_j b, L_j b
    S_pinv = np.linalg.pinv(S, rcond=1e-12, hermitian=True)
    L = [total_penalty([blk], [r], p) for blk, r in zip(blocks, rho, strict=True)]
    hi, lo = limit_excess(fac)
    np.testing.assert_allclose(hi, [np.trace(A_inv @ G @ S_pinv @ Lj) for Lj in L], atol=1e-12)
    np.testing.assert_allclose(lo, [np.trace(A_inv @ Lj) for Lj in L], atol=1e-11)
    beta = np.random.default_rng(1).normal(size=p)
    np.testing.assert_allclose(fac.penalty_quadratics(T.T @ beta), [beta @ Lj @ beta for Lj in L],
                               rtol=1e-11)
    np.testing.assert_allclose(T @ fac.penalty_vectors(T.T @ beta),
                               np.column_stack([Lj @ beta for Lj in L]), atol=1e-11)
    assert fac.penalty_value(T.T @ beta) == pytest.approx(beta @ S @ beta, rel=1e-12)
    assert rp.penalty(beta, rho) == pytest.approx(beta @ S @ beta, rel=1e-12)


@pytest.mark.parametrize("rho", [np.log([1e-8, 1e12, 1.0]), np.log([1e12, 1e-8, 1.0]),
                                 np.array([35.0, 35, 35]), np.array([-35.0, -35, -35])])
def test_factor_identities_at_extreme_smoothing(rho):
    """F + P = I; the edf a parameter can still remove sums, over a group, to the
    group's edf; both excesses are >= 0 and vanish at their limits."""
    X, _, blocks = _te_problem(2)
    rp = Reparametrization.from_blocks(blocks, X.shape[1])
    fac = PenalizedFactor(rp, rho, R=np.linalg.qr(X, mode="r"))
    Fs, Ps = fac.F_scaled(), fac.P_scaled()
    np.testing.assert_allclose(Fs + Ps, np.eye(len(Fs)), atol=1e-12)
    hi, lo = limit_excess(fac)
    cols = rp.groups[0].cols
    assert hi[:2].sum() == pytest.approx(np.diag(Fs)[cols].sum(), abs=1e-12)
    assert lo[:2].sum() == pytest.approx(np.diag(Ps)[cols].sum(), abs=1e-12)
    assert np.all(hi >= -1e-15) and np.all(lo >= 0)
    for j in range(2):
        if rho[j] >= 27:
            assert hi[j] < 1e-11  # fully penalized: no cancellation leaves round-off
        if rho[j] <= -18:
            assert lo[j] < 1e-3  # O(lambda_j): tr(A^{-1} lambda_j S_j)


# ====================================================================== REML
@pytest.mark.parametrize("rho", [np.array([0.3, -1.2, 0.5]), np.array([4.0, 2.0, -3.0]),
                                 np.log([1e-8, 1e12, 1.0]), np.log([1e12, 1e-8, 1e3])])
def test_reml_gradient_and_hessian_match_finite_differences(rho):
    X, y, blocks = _te_problem()
    crit = GaussianREML(_qrstats(X, y), blocks)
    assert crit.null_dim == 1 + 3 + 1  # intercept, te null space less the constant, s(z) line
    value, grad, hess, _ = crit.derivatives(rho)
    if rho.max() < 10:
        assert value == pytest.approx(_dense_reml(X, y, blocks, rho, crit.null_dim), rel=1e-12)
    np.testing.assert_allclose(grad, _fd(crit.score, rho), atol=1e-7)
    fd_hess = np.array([_fd(lambda r, j=j: crit.derivatives(r)[1][j], rho) for j in range(3)])
    np.testing.assert_allclose(hess, fd_hess, atol=1e-7)


def test_reml_with_two_groups_and_a_partial_overlap():
    rng = np.random.default_rng(5)
    n, p = 150, 20
    d2 = _diffpen(6).astype(float)
    A = rng.normal(size=(6, 3))
    blocks = [PenaltyBlock(slice(1, 7), d2, 4), PenaltyBlock(slice(4, 10), A @ A.T, 3),
              PenaltyBlock(slice(10, 16), np.kron(_diffpen(3), np.eye(2)), 2),
              PenaltyBlock(slice(10, 16), np.kron(np.eye(3), np.diag([0.0, 1.0])), 3),
              PenaltyBlock(slice(16, 20), _diffpen(4).astype(float), 2)]
    X = rng.normal(size=(n, p))
    X[:, 0] = 1.0
    y = 0.3 * X @ rng.normal(size=p) + rng.normal(size=n)
    crit = GaussianREML(_qrstats(X, y), blocks)
    assert [g.sps.tolist() for g in crit.rp.groups] == [[0, 1], [2, 3]]
    for rho in (rng.normal(size=5), np.array([-18.0, 27, 20, -15, 3])):
        value, grad, hess, _ = crit.derivatives(rho)
        if rho.max() < 10:
            assert value == pytest.approx(_dense_reml(X, y, blocks, rho, crit.null_dim),
                                          rel=1e-12)
        np.testing.assert_allclose(grad, _fd(crit.score, rho), atol=1e-7)
        fd_hess = np.array([_fd(lambda r, j=j: crit.derivatives(r)[1][j], rho)
                            for j in range(5)])
        np.testing.assert_allclose(hess, fd_hess, atol=1e-7)


@pytest.mark.parametrize("rho", [np.array([0.3, -1.2])] + EXTREME[:-1],
                         ids=lambda r: f"{r[0]:.1f},{r[1]:.1f}")
def test_reml_score_is_exact_at_extreme_smoothing(rho):
    """The whole score V(rho) of a small te-like model against exact rationals (X, y,
    penalties exact in binary; logs taken of exact determinants)."""
    S1, S2, N, r1, r2 = _rational_te(3, 4)
    m = len(S1)
    p, n = m + 1, 60
    rng = np.random.default_rng(1)
    X = np.column_stack([np.ones(n), rng.normal(size=(n, m))])
    y = rng.normal(size=n)
    blocks = [PenaltyBlock(slice(1, p), S1.astype(float), r1),
              PenaltyBlock(slice(1, p), S2.astype(float), r2)]
    crit = GaussianREML(_qrstats(X, y), blocks)
    Nf = np.zeros((p, N.shape[1] + 1), dtype=int)
    Nf[0, 0] = 1
    Nf[1:, 1:] = N
    assert crit.null_dim == Nf.shape[1]
    Xf = [[Fr(float(v)) for v in row] for row in X]
    yf = [Fr(float(v)) for v in y]
    l1, l2 = (Fr(float(np.exp(r))) for r in rho)
    S = [[Fr(0)] * p for _ in range(p)]
    for i in range(m):
        for j in range(m):
            S[i + 1][j + 1] = l1 * int(S1[i, j]) + l2 * int(S2[i, j])
    A = [[sum(Xf[r][i] * Xf[r][j] for r in range(n)) + S[i][j] for j in range(p)]
         for i in range(p)]
    Xty = [sum(Xf[r][i] * yf[r] for r in range(n)) for i in range(p)]
    det_A, sol = _fr_solve(A, [[v] for v in Xty])
    D = sum(v * v for v in yf) - sum(row[0] * v for row, v in zip(sol, Xty, strict=True))
    NNt, NtN = Nf @ Nf.T, Nf.T @ Nf
    det_SN, _ = _fr_solve([[S[i][j] + int(NNt[i, j]) for j in range(p)] for i in range(p)],
                          [[Fr(0)] for _ in range(p)])
    det_N, _ = _fr_solve([[Fr(int(v)) for v in row] for row in NtN],
                         [[Fr(0)] for _ in range(len(NtN))])
    c = (n - crit.null_dim) / 2
    exact = (c * (1 + log(2 * np.pi) + _flog(D) - log(2 * c)) + 0.5 * _flog(det_A)
             - 0.5 * (_flog(det_SN) - _flog(det_N)))
    assert crit.score(rho) == pytest.approx(exact, rel=1e-13)


def test_fit_reml_matches_brute_force_optimisation():
    X, y, blocks = _te_problem(3, n=300)
    qrs = _qrstats(X, y)
    fit = fit_reml(qrs, blocks)
    assert fit.converged
    null_dim = GaussianREML(qrs, blocks).null_dim

    def dense(rho):
        return _dense_reml(X, y, blocks, rho, null_dim)

    res = minimize(dense, np.zeros(3), method="Nelder-Mead",
                   options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 20000, "maxfev": 20000})
    res = minimize(dense, res.x, method="BFGS", options={"gtol": 1e-10})
    np.testing.assert_allclose(np.exp(fit.rho), np.exp(res.x), rtol=1e-5)
    assert fit.reml == pytest.approx(res.fun, rel=1e-8)
    # the reported coefficients and edf are those of the dense formula at that sp
    S = total_penalty(blocks, fit.rho, X.shape[1])
    A_inv = np.linalg.inv(X.T @ X + S)
    np.testing.assert_allclose(fit.beta, A_inv @ X.T @ y, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(np.trace(fit.post.F), np.trace(A_inv @ X.T @ X), rtol=1e-10)


# ====================================================================== LAML
def test_laml_gradient_matches_finite_differences_and_fit_runs():
    X, y, blocks = _te_problem(3, n=300)
    n = len(y)
    counts = np.random.default_rng(0).poisson(np.exp(0.5 + 0.8 * (y - y.mean()))).astype(float)

    def problem():
        return GLMProblem(CachedDesign(X), counts, np.ones(n), np.zeros(n),
                          make_family("poisson"), blocks)

    prob = problem()
    for rho in (np.array([0.5, -0.5, 1.0]), np.log([1e-8, 1e12, 1.0]),
                np.log([1e12, 1e-8, 10.0])):
        _, grad, _, _ = prob.laml(rho)
        np.testing.assert_allclose(grad, _fd(prob.score, rho), atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = fit_laml(problem())
    assert fit.converged
    # at the optimum the free gradient vanishes
    _, grad, _, _ = problem().laml(fit.rho)
    free = np.abs(fit.rho) < 30
    assert np.all(np.abs(grad[free]) < 1e-5)


def test_model_whose_only_penalties_overlap():
    """No penalty on the diagonal path (the per-parameter sums start from nothing):
    derivatives against finite differences and the optimum against scipy's."""
    X, y, blocks = _te_problem(4, n=250, truth=lambda x1, x2, z: np.sin(3 * x1 + x2 ** 2))
    X, blocks = X[:, : blocks[2].cols.start], blocks[:2]
    qrs = _qrstats(X, y)
    crit = GaussianREML(qrs, blocks)
    rho = np.array([0.5, 2.0])
    _, grad, hess, (fac, _, _) = crit.derivatives(rho)
    assert fac.edf_excess().dtype == fac.penalty_quadratics(np.ones(X.shape[1])).dtype == float
    np.testing.assert_allclose(grad, _fd(crit.score, rho), atol=1e-7)
    fd_hess = np.array([_fd(lambda r, j=j: crit.derivatives(r)[1][j], rho) for j in range(2)])
    np.testing.assert_allclose(hess, fd_hess, atol=1e-7)
    fit = fit_reml(qrs, blocks)
    res = minimize(lambda r: _dense_reml(X, y, blocks, r, crit.null_dim), fit.rho + 0.5,
                   method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-14})
    np.testing.assert_allclose(np.exp(fit.rho), np.exp(res.x), rtol=1e-5)
    assert fit.reml == pytest.approx(res.fun, rel=1e-10)
