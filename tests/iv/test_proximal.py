"""Proximal causal inference through the NPIV estimators, and the DFPV demand design."""

from __future__ import annotations

import numpy as np
import pytest

from flexcausal.datasets import demand_proxy, demand_proxy_grid, demand_proxy_truth
from flexcausal.datasets.demand import demand_psi
from flexcausal.iv import F2BMLD, Linear2SLS, ProximalBridge, Sieve2SLS


def linear_proxy_design(n=4000, beta=2.0, gamma_u=3.0, seed=0):
    """U ~ N(0, 1); Z = U + e; W = U + e; A = U + e; Y = beta A + gamma_u U + e.

    E[Y | Z, A] = beta A + gamma_u E[U | Z, A] and E[W | Z, A] = E[U | Z, A], so the bridge is
    h(w, a) = beta a + gamma_u w, and f(a) = E[h(W, a)] = beta a (E[W] = 0) = E[Y(a)].
    Identification: cov(W, Z | A) = 1 - 1 * 1 / 2 = 1/2 != 0 (with A = Z + U + e it would be
    0: A would absorb all the proxies share)."""
    rng = np.random.default_rng(seed)
    u = rng.normal(size=n)
    z = u + rng.normal(size=n)
    w = u + rng.normal(size=n)
    a = u + rng.normal(size=n)
    y = beta * a + gamma_u * u + rng.normal(size=n)
    return a, z, w, y


def test_linear_bridge_closed_form():
    a, z, w, y = linear_proxy_design()
    grid = np.linspace(-2, 2, 9)
    naive = np.polyfit(a, y, 1)[0]
    assert naive > 3.3  # confounded: beta + gamma_u cov(A, U) / var(A) = 2 + 3 / 2
    pb = ProximalBridge(Linear2SLS()).fit(treatment=a, treatment_proxy=z, outcome_proxy=w,
                                           outcome=y)
    coef = pb.estimator_.coef_  # h(w, a) = b0 + c w + beta a: columns [W, A]
    np.testing.assert_allclose(coef, [3.0, 2.0], atol=0.15)
    np.testing.assert_allclose(pb.dose_response(grid), coef[1] * grid + pb.estimator_.intercept_
                               + coef[0] * w.mean(), rtol=1e-12)
    np.testing.assert_allclose(pb.dose_response(grid), 2.0 * grid, atol=0.3)
    np.testing.assert_allclose(pb.bridge(w[:3], a[:3]),
                               pb.estimator_.intercept_ + coef[0] * w[:3] + coef[1] * a[:3])


@pytest.mark.parametrize("make", [lambda: Sieve2SLS(basis="poly", n_basis_x=2, n_basis_z=3),
                                  lambda: F2BMLD(form="network", outer_steps=1500,
                                                 batch_size=256, alpha=3e-3, beta=3e-3,
                                                 gamma=3e-3, seed=0)])
def test_nonparametric_bridges_recover_linear_f(make):
    a, z, w, y = linear_proxy_design(seed=1)
    pb = ProximalBridge(make()).fit(treatment=a, treatment_proxy=z, outcome_proxy=w, outcome=y)
    grid = np.linspace(-1.5, 1.5, 7)
    err = np.sqrt(np.mean((pb.dose_response(grid) - 2.0 * grid) ** 2))
    naive = np.polyval(np.polyfit(a, y, 1), grid)
    assert err < 0.35 < np.sqrt(np.mean((naive - 2.0 * grid) ** 2)), err


def test_bridge_with_covariates_and_bad_input():
    a, z, w, y = linear_proxy_design(n=500)
    x = np.random.default_rng(3).normal(size=(500, 1))
    pb = ProximalBridge(Linear2SLS()).fit(a, z, w, y + x[:, 0], covariates=x)
    assert pb.estimator_.coef_[2] == pytest.approx(1.0, abs=0.2)  # [W, A, X]
    assert pb.dose_response([0.0, 1.0]).shape == (2,)
    with pytest.raises(ValueError, match="covariates are required"):
        pb.bridge(w, a)
    with pytest.raises(TypeError, match="flexcausal.iv estimator"):
        ProximalBridge(object()).fit(a, z, w, y)
    with pytest.raises(ValueError, match="outcome_proxy has 499 rows"):
        ProximalBridge(Linear2SLS()).fit(a, z, w[:-1], y)
    with pytest.raises(RuntimeError, match="not fitted"):
        ProximalBridge(Linear2SLS()).dose_response([1.0])


def test_demand_proxy_matches_the_reference_draws():
    df = demand_proxy(200, seed=4)
    rng = np.random.default_rng(4)  # the reference's generatate_demand_core, in order
    u = rng.uniform(0, 10, 200)
    c1 = 2 * np.sin(u * np.pi * 2 / 10) + rng.normal(0, 1.0, 200)
    c2 = 2 * np.cos(u * np.pi * 2 / 10) + rng.normal(0, 1.0, 200)
    price = 35 + (c1 + 3) * demand_psi(u) + c2 + rng.normal(0, 1.0, 200)
    views = 7 * demand_psi(u) + 45 + rng.normal(0, 1.0, 200)
    y = np.clip(np.exp((views - price) / 10.0), None, 5.0) * price - 5 * demand_psi(u)
    y = y + rng.normal(0, 1.0, 200)
    np.testing.assert_array_equal(df.price, price)
    np.testing.assert_array_equal(df.outcome, y)
    np.testing.assert_array_equal(df[["cost1", "cost2", "views", "demand"]].to_numpy(),
                                  np.column_stack([c1, c2, views, u]))
    truth = demand_proxy_truth()
    assert truth.shape == (10,) and np.array_equal(demand_proxy_grid(), np.linspace(10, 30, 10))
    rng = np.random.default_rng(42)  # the reference's cal_structural(p), p = 10
    u = rng.uniform(0, 10.0, 10000)
    v = 7 * demand_psi(u) + 45 + rng.normal(0, 1.0, 10000)
    ref = np.mean(np.clip(np.exp((v - 10.0) / 10.0), None, 5.0) * 10.0 - 5 * demand_psi(u))
    assert truth[0] == pytest.approx(ref, rel=1e-14)
