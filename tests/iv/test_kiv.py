"""KIV equals a brute-force NumPy transcription of Singh, Sahani & Gretton (2019), Alg. 1."""

from __future__ import annotations

import numpy as np
import pytest

from flexcausal.iv import KIV
from flexcausal.iv._base import split_indices


def _gauss(a, b, ls):
    d = ((a[:, None, :] - b[None, :, :]) / ls) ** 2
    return np.exp(-0.5 * d.sum(-1))


def _brute_force(x, z, y, lam_grid, xi_grid, ls_x, ls_z, seed, select="min"):
    """Direct inverses, loops over the grids: the paper's formulas verbatim; ``select="1se"``
    then takes the largest xi whose score is within one standard error of the best."""
    i1, i2 = split_indices(len(y), 0.5, np.random.default_rng(seed))
    x1, z1, y1, x2, z2, y2 = x[i1], z[i1], y[i1], x[i2], z[i2], y[i2]
    n, m = len(i1), len(i2)
    kxx, kzz = _gauss(x1, x1, ls_x), _gauss(z1, z1, ls_z)
    kzz2, kxx2 = _gauss(z1, z2, ls_z), _gauss(x1, x2, ls_x)
    best = None
    for lam in lam_grid:
        gamma = np.linalg.inv(kzz + n * lam * np.eye(n)) @ kzz2
        score = np.trace(gamma.T @ kxx @ gamma - 2 * kxx2.T @ gamma) / m
        if best is None or score < best[0]:
            best = (score, lam, gamma)
    _, lam, gamma = best
    w = kxx @ gamma
    fits = []
    for xi in xi_grid:
        alpha = np.linalg.inv(w @ w.T + m * xi * kxx) @ w @ y2
        pred = kzz @ np.linalg.inv(kzz + n * lam * np.eye(n)) @ kxx @ alpha
        loss = (y1 - pred) ** 2
        fits.append((loss.mean(), loss.std(ddof=1) / np.sqrt(n), xi, alpha))
    score, se, xi, alpha = min(fits, key=lambda f: f[0])
    if select == "1se":
        _, _, xi, alpha = max((f for f in fits if f[0] <= score + se), key=lambda f: f[2])
    return lam, xi, alpha, x1


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(7)
    n = 120
    z = rng.normal(size=(n, 2))
    v = rng.normal(size=n)
    x = np.column_stack([z[:, 0] + v, z[:, 1] + 0.5 * rng.normal(size=n)])
    y = np.sin(x[:, 0]) + x[:, 1] + v + 0.1 * rng.normal(size=n)
    return x, z, y


@pytest.mark.parametrize("select", ["min", "1se"])
def test_kiv_matches_brute_force(small, select):
    x, z, y = small
    lam_grid, xi_grid = [1e-1, 1e-2, 1e-3, 1e-4], 10.0 ** np.linspace(-1, -5, 9)
    ls_x, ls_z = np.array([1.3, 0.7]), np.array([0.9, 1.1])
    est = KIV(lambda1=lam_grid, lambda2=xi_grid, lengthscale_x=ls_x, lengthscale_z=ls_z,
              center=False, select=select, seed=3).fit(treatment=x, instrument=z, outcome=y)
    lam, xi, alpha, x1 = _brute_force(x, z, y, lam_grid, xi_grid, ls_x, ls_z, seed=3,
                                      select=select)
    assert est.lambda1_ == lam and est.lambda2_ == xi
    x_new = np.random.default_rng(1).normal(size=(15, 2))
    np.testing.assert_allclose(est.predict(x_new), _gauss(x_new, x1, ls_x) @ alpha,
                               rtol=1e-3, atol=1e-4)  # conditioning of K_XX: ~1e-5


def test_nystrom_with_all_points_equals_exact(small):
    x, z, y = small
    exact = KIV(lambda1=1e-3, lambda2=1e-3, seed=0).fit(treatment=x, instrument=z, outcome=y)
    nys = KIV(lambda1=1e-3, lambda2=1e-3, nystrom=60, seed=0).fit(treatment=x, instrument=z,
                                                                 outcome=y)
    x_new = np.random.default_rng(2).normal(size=(20, 2))
    np.testing.assert_allclose(nys.predict(x_new), exact.predict(x_new), rtol=1e-3, atol=1e-4)


def test_median_heuristic(small):
    x, z, y = small
    est = KIV(lambda1=1e-3, lambda2=1e-3).fit(treatment=x, instrument=z, outcome=y)
    assert est.lengthscale_x_.shape == (2,) and np.all(est.lengthscale_x_ > 0)


def test_one_se_rule_prefers_a_larger_xi(small):
    x, z, y = small
    grid = 10.0 ** np.linspace(-1, -8, 15)
    fits = {s: KIV(lambda2=grid, select=s, seed=0).fit(treatment=x, instrument=z, outcome=y)
            for s in ("min", "1se")}
    assert fits["1se"].lambda2_ >= fits["min"].lambda2_
    scores = fits["min"].history_["stage2_score"]
    assert fits["min"].lambda2_ == grid[int(np.argmin(scores))]
