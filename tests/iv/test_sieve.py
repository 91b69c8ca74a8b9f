"""Sieve 2SLS: the closed form and its cross-validated ridge."""

from __future__ import annotations

import numpy as np
import pytest

from flexcausal.iv import Sieve2SLS
from flexcausal.iv.sieve import cv_stage2_loss, sieve_2sls

from .conftest import linear_design


def _brute_stage2_loss(psi, b, y, alpha, parts):
    """Textbook 2SLS on each training fold (explicit Psi_hat), scored on the held-out fold."""
    total = 0.0
    for held in parts:
        train = np.setdiff1d(np.arange(len(y)), held)
        bt, pt = b[train], psi[train]
        s1 = alpha * np.mean(np.diag(bt.T @ bt))
        pi = np.linalg.solve(bt.T @ bt + s1 * np.eye(b.shape[1]), bt.T @ pt)
        psi_hat = bt @ pi
        g = psi_hat.T @ psi_hat
        beta = np.linalg.solve(g + alpha * np.mean(np.diag(g)) * np.eye(len(g)),
                               psi_hat.T @ y[train])
        total += np.sum((y[held] - b[held] @ pi @ beta) ** 2)
    return total / len(y)


def test_cv_loss_matches_brute_force():
    rng = np.random.default_rng(0)
    n = 120
    b = np.column_stack([np.ones(n), rng.normal(size=(n, 5))])
    noise = rng.normal(size=(n, 3))
    psi = np.column_stack([np.ones(n), b[:, 1:3] @ rng.normal(size=(2, 3)) + noise])
    y = psi @ rng.normal(size=4) + rng.normal(size=n)
    alphas = np.array([1e-4, 1e-2, 1.0])
    got = cv_stage2_loss(psi, b, y, alphas, 4, np.random.default_rng(7))
    parts = np.array_split(np.random.default_rng(7).permutation(n), 4)
    want = [_brute_stage2_loss(psi, b, y, a, parts) for a in alphas]
    np.testing.assert_allclose(got, want, rtol=1e-8)


def test_unpenalised_sieve_is_textbook_2sls():
    rng = np.random.default_rng(1)
    n = 200
    b = np.column_stack([np.ones(n), rng.normal(size=(n, 4))])
    psi = np.column_stack([np.ones(n), b[:, 1:3] + rng.normal(size=(n, 2))])
    y = psi @ np.array([1.0, 2.0, -1.0]) + rng.normal(size=n)
    proj = b @ np.linalg.solve(b.T @ b, b.T)
    want = np.linalg.solve(psi.T @ proj @ psi, psi.T @ proj @ y)
    np.testing.assert_allclose(sieve_2sls(psi, b, y, 0.0), want, rtol=1e-8)


def test_cv_picks_the_grid_minimum_and_refits_with_it():
    x, z, y = linear_design(600, seed=2)
    est = Sieve2SLS(alphas=[1e-6, 1e-3, 1e-1, 10.0], seed=3).fit(treatment=x, instrument=z,
                                                                 outcome=y)
    assert est.alpha_ == [1e-6, 1e-3, 1e-1, 10.0][int(np.argmin(est.cv_loss_))]
    fixed = Sieve2SLS(alpha=est.alpha_).fit(treatment=x, instrument=z, outcome=y)
    np.testing.assert_allclose(est.coef_, fixed.coef_)
    assert fixed.cv_loss_ is None
    # an absurd ridge shrinks h towards a constant: CV must not choose it here
    assert est.alpha_ < 10.0
    again = Sieve2SLS(alphas=[1e-6, 1e-3, 1e-1, 10.0], seed=3).fit(treatment=x, instrument=z,
                                                                   outcome=y)
    np.testing.assert_array_equal(again.cv_loss_, est.cv_loss_)


@pytest.mark.parametrize("alpha, err", [(-1.0, ValueError), ("auto", TypeError)])
def test_bad_alpha(alpha, err):
    x, z, y = linear_design(100, seed=0)
    with pytest.raises(err, match="alpha"):
        Sieve2SLS(alpha=alpha).fit(treatment=x, instrument=z, outcome=y)
