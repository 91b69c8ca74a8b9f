"""Independent checks of the REML engine: closed forms, finite differences, invariances."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import cdist

import flexcausal as fc
from flexcausal.gkrls.blocks import accumulate, design_block
from flexcausal.gkrls.fit import GaussianREML, total_penalty
from flexcausal.gkrls.fitting import penalty_blocks
from flexcausal.gkrls.kernel import Standardizer, default_sketch_size, gaussian_kernel


@pytest.fixture(scope="module")
def mixed_data():
    rng = np.random.default_rng(3)
    n = 300
    df = pd.DataFrame(
        {
            "x1": rng.normal(size=n),
            "x2": rng.normal(size=n),
            "x3": rng.normal(size=n),
            "z": rng.uniform(size=n),
            "g": rng.choice([f"g{i}" for i in range(6)], size=n),
        }
    )
    u = dict(zip(sorted(df.g.unique()), rng.normal(0, 0.7, 6), strict=True))
    df["y"] = (0.5 * df.x3 + np.sin(df.x1) + 0.5 * df.x2**2 + np.sin(2 * np.pi * df.z)
               + df.g.map(u) + rng.normal(0, 0.5, n))
    return df


FORMULA = "y ~ x3 + krls(x1, x2, size=40) + re(g) + s(z, k=8)"


def explicit_design(model, data):
    encodings = [t.encode(data) for t in model.terms]
    return design_block(model.terms, encodings, slice(0, len(data)))


def test_fixed_sp_equals_closed_form_penalized_least_squares(mixed_data):
    sp = np.array([0.05, 2.0, 0.5])
    model = fc.gam(FORMULA, mixed_data, sp=sp)
    X = explicit_design(model, mixed_data)
    y = mixed_data.y.to_numpy()
    S = total_penalty(penalty_blocks(model.terms), np.log(sp), X.shape[1])
    beta = np.linalg.solve(X.T @ X + S, X.T @ y)
    np.testing.assert_allclose(model.coef_.to_numpy(), beta, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(model.fitted_values_, X @ beta, rtol=1e-9, atol=1e-10)
    A_inv = np.linalg.inv(X.T @ X + S)
    np.testing.assert_allclose(model.edf_coef_, np.diag(A_inv @ X.T @ X), atol=1e-9)
    # scale: penalized RSS over n minus the null-space dimension (intercept, x3, s(z) line)
    pen_rss = np.sum((y - X @ beta) ** 2) + beta @ S @ beta
    assert model.scale_ == pytest.approx(pen_rss / (len(y) - 3), rel=1e-9)
    np.testing.assert_allclose(model.vcov("bayes").to_numpy(), A_inv * model.scale_, rtol=1e-7,
                               atol=1e-12)


def test_reml_score_equals_brute_force_formula(mixed_data):
    model = fc.gam(FORMULA, mixed_data)
    X = explicit_design(model, mixed_data)
    y = mixed_data.y.to_numpy()
    blocks = penalty_blocks(model.terms)
    S = total_penalty(blocks, np.log(model.sp_.to_numpy()), X.shape[1])
    beta = np.linalg.solve(X.T @ X + S, X.T @ y)
    n, p = X.shape
    Mp = p - sum(b.rank for b in blocks)
    phi = (np.sum((y - X @ beta) ** 2) + beta @ S @ beta) / (n - Mp)
    eig = np.linalg.eigvalsh(S)
    log_pdet = np.sum(np.log(eig[eig > eig.max() * 1e-12]))
    V = ((np.sum((y - X @ beta) ** 2) + beta @ S @ beta) / (2 * phi)
         + (n - Mp) / 2 * np.log(2 * np.pi * phi)
         + 0.5 * np.linalg.slogdet(X.T @ X + S)[1] - 0.5 * log_pdet)
    assert model.reml_ == pytest.approx(V, rel=1e-9)


def test_reml_gradient_and_hessian_match_finite_differences(mixed_data):
    model = fc.gam(FORMULA, mixed_data, sp=[0.1, 1.0, 0.3])
    encodings = [t.encode(mixed_data) for t in model.terms]
    cp = accumulate(model.terms, encodings, mixed_data.y.to_numpy())
    crit = GaussianREML(cp, penalty_blocks(model.terms))
    rho = np.log([0.1, 1.0, 0.3])
    _, grad, hess, *_ = crit.derivatives(rho)
    h = 1e-5
    fd_grad, fd_hess = np.empty(3), np.empty((3, 3))
    for j in range(3):
        e = np.zeros(3)
        e[j] = h
        fd_grad[j] = (crit.score(rho + e) - crit.score(rho - e)) / (2 * h)
        fd_hess[j] = (crit.derivatives(rho + e)[1] - crit.derivatives(rho - e)[1]) / (2 * h)
    np.testing.assert_allclose(grad, fd_grad, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(hess, fd_hess, rtol=1e-5, atol=1e-6)


def test_reml_optimum_is_a_minimum(mixed_data):
    model = fc.gam(FORMULA, mixed_data)
    for j in range(len(model.sp_)):
        for factor in (0.8, 1.25):
            sp = model.sp_.to_numpy().copy()
            sp[j] *= factor
            assert fc.gam(FORMULA, mixed_data, sp=sp).reml_ > model.reml_


def test_row_blocks_do_not_change_the_answer(mixed_data):
    whole = fc.gam(FORMULA, mixed_data)
    blocked = fc.gam(FORMULA, mixed_data, block_rows=37)
    np.testing.assert_allclose(blocked.coef_, whole.coef_, rtol=1e-7, atol=1e-9)
    assert blocked.reml_ == pytest.approx(whole.reml_, rel=1e-12)
    np.testing.assert_allclose(blocked.predict(mixed_data.iloc[:20], se=True),
                               whole.predict(mixed_data.iloc[:20], se=True), rtol=1e-7)


def test_kernel_matches_brute_force_and_whitening():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(30, 3)) @ np.array([[2.0, 0.5, 0], [0, 1, 0.3], [0, 0, 0.2]])
    B = A[:7]
    np.testing.assert_allclose(gaussian_kernel(A, B, 3.0),
                               np.exp(-cdist(A, B, "sqeuclidean") / 3.0), rtol=1e-12)
    std = Standardizer.fit(A, "mahalanobis")
    np.testing.assert_allclose(np.cov(std.transform(A), rowvar=False), np.eye(3), atol=1e-10)
    sc = Standardizer.fit(A, "scaled")
    np.testing.assert_allclose(sc.transform(A).std(axis=0, ddof=1), 1.0, rtol=1e-12)


def test_default_sketch_size_follows_gkrls():
    # floor(ceiling(N^(1/3)) * 5): R gKRLS values
    assert [default_sketch_size(n, 5) for n in (400, 1000, 10_000, 100_000, 1_000_000)] == [
        40, 50, 110, 235, 500]


def test_sketch_none_basis_is_the_truncated_full_kernel():
    rng = np.random.default_rng(2)
    x1, x2 = rng.uniform(0, 2 * np.pi, (2, 60))
    df = pd.DataFrame({"x1": x1, "x2": x2, "y": np.sin(x1) * np.cos(x2)})
    model = fc.gam("y ~ krls(x1, x2, sketch='none', standardize='none', bandwidth=2.0)", df)
    K = np.exp(-cdist(df[["x1", "x2"]], df[["x1", "x2"]], "sqeuclidean") / 2.0)
    vals, vecs = np.linalg.eigh(K)
    keep = vals >= np.sqrt(np.finfo(float).eps)
    expected = K @ vecs[:, keep] / np.sqrt(vals[keep])
    basis = explicit_design(model, df)[:, 1:]
    # same column space and same Gram matrix (eigenvector signs / order are arbitrary)
    np.testing.assert_allclose(basis @ basis.T, expected @ expected.T, rtol=1e-7, atol=1e-7)


def test_gaussian_sketch_penalty_is_S_K_St():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(80, 2))
    from flexcausal.gkrls.kernel import build_sketch

    sk = build_sketch(x, 2.0, "gaussian", 12, 5, None, np.random.default_rng(9))
    S_t = np.random.default_rng(9).standard_normal((80, 12)) * np.sqrt(1 / np.sqrt(12))
    K = np.exp(-cdist(x, x, "sqeuclidean") / 2.0)
    expected = np.linalg.eigvalsh(S_t.T @ K @ S_t)
    np.testing.assert_allclose(np.sort(sk.eigenvalues), expected, rtol=1e-8, atol=1e-9)
    # truncated basis has identity penalty: W' K W = I on kept directions
    np.testing.assert_allclose(sk.weights.T @ K @ sk.weights, np.eye(sk.weights.shape[1]),
                               atol=1e-6)


def test_same_seed_same_numbers_other_seed_other_sketch(mixed_data):
    a = fc.gam("y ~ krls(x1, x2, seed=4)", mixed_data)
    b = fc.gam("y ~ krls(x1, x2, seed=4)", mixed_data)
    c = fc.gam("y ~ krls(x1, x2, seed=5)", mixed_data)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    assert not np.array_equal(a.terms[1].sketch_.indices, c.terms[1].sketch_.indices)


def test_three_hills_recovers_the_truth():
    rng = np.random.default_rng(11)
    n = 2000
    x1, x2 = rng.uniform(0, 2 * np.pi, (2, n))
    df = pd.DataFrame({"x1": x1, "x2": x2, "y": np.sin(x1) * np.cos(x2) + rng.normal(0, .5, n)})
    model = fc.gam("y ~ krls(x1, x2)", df)
    rmse = np.sqrt(np.mean((model.fitted_values_ - np.sin(x1) * np.cos(x2)) ** 2))
    assert rmse < 0.08
    assert model.scale_ == pytest.approx(0.25, rel=0.1)


def test_streamed_design_gives_the_cached_answer(mixed_data):
    df = mixed_data.assign(yb=(mixed_data.y > mixed_data.y.median()).astype(float))
    formula = "yb ~ x3 + krls(x1, x2, size=40) + re(g)"
    cached = fc.gam(formula, df, family="binomial")
    streamed = fc.gam(formula, df, family="binomial", design_memory_gb=0, block_rows=64)
    assert streamed.reml_ == pytest.approx(cached.reml_, rel=1e-10)
    np.testing.assert_allclose(streamed.coef_, cached.coef_, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(streamed.vcov(), cached.vcov(), rtol=1e-6, atol=1e-10)
