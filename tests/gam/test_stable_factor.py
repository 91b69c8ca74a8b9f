"""stable.PenalizedFactor and reparam.Reparametrization against brute force.

At moderate smoothing parameters plain dense linear algebra is accurate, so every
quantity the REML core uses (log-determinants, A^{-1}, F, P, solves, a square root of
A^{-1}) is compared with numpy on the original basis; at extreme ones the identities
that must hold exactly (F + P = I, edf between its limits) are checked instead.
"""

from __future__ import annotations

import numpy as np
import pytest

from flexcausal.gkrls.reparam import PenaltyBlock, Reparametrization, basis_map, total_penalty
from flexcausal.gkrls.stable import PenalizedFactor, psd_sqrt


def _problem(seed=0, n=80):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 9))
    X[:, 0] = 1.0
    D2 = np.diff(np.eye(4), 2, axis=0)  # second-difference penalty: null space dim 2
    A = rng.normal(size=(3, 3))
    blocks = [PenaltyBlock(slice(1, 5), D2.T @ D2, 2),
              PenaltyBlock(slice(5, 8), A @ A.T + np.eye(3), 3)]
    return X, blocks


@pytest.mark.parametrize("source", ["R", "G"])
@pytest.mark.parametrize("rho", [np.array([0.3, -1.2]), np.array([4.0, 2.0])])
def test_factor_matches_dense_linear_algebra(source, rho):
    X, blocks = _problem()
    p = X.shape[1]
    rp = Reparametrization.from_blocks(blocks, p)
    G = X.T @ X
    R = np.linalg.qr(X, mode="r")
    fac = PenalizedFactor(rp, rho, **({"R": R} if source == "R" else {"G": G}))
    S = total_penalty(blocks, rho, p)
    A = G + S
    T = rp.T
    assert fac.logdet == pytest.approx(np.linalg.slogdet(A)[1], rel=1e-12)
    eig = np.linalg.eigvalsh(S)
    log_pdet = np.sum(np.log(eig[eig > 1e-10 * eig.max()]))
    assert rp.log_pdet_S(rho) == pytest.approx(log_pdet, rel=1e-12)
    assert fac.logdet_rel == pytest.approx(np.linalg.slogdet(A)[1] - log_pdet, rel=1e-10)
    A_inv = np.linalg.inv(A)
    np.testing.assert_allclose(T @ fac.inverse() @ T.T, A_inv, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(T @ fac.F() @ T.T, A_inv @ G, rtol=1e-9, atol=1e-11)
    L = T @ fac.inverse_sqrt()
    np.testing.assert_allclose(L @ L.T, A_inv, rtol=1e-10, atol=1e-12)
    b = np.arange(p, dtype=float)
    np.testing.assert_allclose(T @ fac.solve(T.T @ b), A_inv @ b, rtol=1e-10)


def test_similar_pieces_sum_to_identity_at_extreme_smoothing():
    X, blocks = _problem(1)
    rp = Reparametrization.from_blocks(blocks, X.shape[1])
    R = np.linalg.qr(X, mode="r")
    for rho in ([40.0, -40.0], [-40.0, 40.0], [60.0, 60.0]):
        fac = PenalizedFactor(rp, np.array(rho), R=R)
        F, P = fac.F_scaled(), fac.P_scaled()
        np.testing.assert_allclose(F + P, np.eye(len(F)), atol=1e-10)
        edf = np.diag(F)
        assert np.all(edf >= 0) and np.all(edf <= 1 + 1e-12)
        assert np.all(edf[~rp.penalized] == 1.0)


def test_basis_map_recovers_original_coefficients():
    X, blocks = _problem(2)
    p = X.shape[1]
    rp = Reparametrization.from_blocks(blocks, p)
    m = np.r_[0.0, np.random.default_rng(3).normal(size=p - 1)]
    B, B_inv = basis_map(m, rp)
    np.testing.assert_allclose(B @ B_inv, np.eye(p), atol=1e-12)
    Xc = X - m  # the working design: X_c T b_r = X B b_r
    b_r = np.random.default_rng(4).normal(size=p)
    np.testing.assert_allclose(Xc @ rp.T @ b_r, X @ (B @ b_r), atol=1e-10)
    S = total_penalty(blocks, np.zeros(2), p)
    b = B @ b_r
    assert b @ S @ b == pytest.approx(np.sum(rp.lam_d(np.zeros(2)) * b_r**2), rel=1e-10)


def test_psd_sqrt_handles_round_off_negative_eigenvalues():
    v = np.array([1.0, 1.0 + 1e-9])
    V = np.outer(v, v) - 1e-18 * np.eye(2)  # PSD up to round-off, Cholesky fails
    L = psd_sqrt(V)
    assert np.all(np.isfinite(L))
    np.testing.assert_allclose(L @ L.T, V, atol=1e-12)
