"""Derivative effects through a kernel term evaluate the kernel once per block
(contrasts.ContrastMaker: K(s + w, a) = K(s, a)(1 + em_s)(1 + bm_a)): equal to the
analytic average derivative of the fitted kernel smooth, and to the explicit
re-expansion of every counterfactual frame within its finite-difference error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import flexcausal as fc
from flexcausal.gkrls import contrasts
from flexcausal.gkrls.kernel import gaussian_kernel


@pytest.fixture(scope="module")
def fit():
    rng = np.random.default_rng(4)
    n = 2000
    df = pd.DataFrame({"x1": rng.uniform(0, 6, n), "x2": rng.uniform(0, 6, n),
                       "z": rng.normal(size=n)})
    eta = np.sin(df.x1) * np.cos(df.x2) + 0.3 * df.z
    df["y"] = rng.binomial(1, 1 / (1 + np.exp(-eta))).astype(float)
    return fc.gam("y ~ z + krls(x1, x2, z)", df, family="binomial"), df


def test_derivative_equals_the_analytic_average_derivative(fit):
    model, df = fit
    ame = fc.marginal_effects(model, ["x1", "x2", "z"])
    t = model.terms[1]
    S = t.standardizer.transform(df[["x1", "x2", "z"]].to_numpy())
    A, b = t.sketch_.anchors, t.bandwidth
    beta = model.coef_.to_numpy()
    K = gaussian_kernel(S, A, b)
    Wb = t.sketch_.weights @ beta[2:]
    eta = beta[0] + beta[1] * df.z.to_numpy() + K @ Wb
    mu_eta = model.family_.link.mu_eta(eta)
    for j, name in enumerate(["x1", "x2", "z"]):
        w = t.standardizer.whiten[j]
        deta = (K * (-2.0 / b) * ((S @ w)[:, None] - (A @ w)[None, :])) @ Wb
        if name == "z":
            deta = deta + beta[1]
        exact = float(np.mean(mu_eta * deta))
        assert ame.estimate.iloc[j] == pytest.approx(exact, rel=1e-7, abs=1e-12)


def test_shifted_kernel_equals_explicit_frames(fit, monkeypatch):
    model, _ = fit
    fast = fc.marginal_effects(model, ["x1", "z"], type="derivative")
    fast2 = fc.marginal_effects(model, ["x1"], type="second_derivative")
    fast_ind = fc.marginal_effects(model, ["x1"], individual=True)
    original = contrasts.ContrastMaker.__init__

    def explicit(self, model, moved, shifts=None):
        original(self, model, moved, None)

    monkeypatch.setattr(contrasts.ContrastMaker, "__init__", explicit)
    slow = fc.marginal_effects(model, ["x1", "z"], type="derivative")
    slow2 = fc.marginal_effects(model, ["x1"], type="second_derivative")
    slow_ind = fc.marginal_effects(model, ["x1"], individual=True)
    np.testing.assert_allclose(fast.estimate, slow.estimate, rtol=1e-5)
    np.testing.assert_allclose(fast.std_error, slow.std_error, rtol=1e-5)
    np.testing.assert_allclose(fast2.estimate, slow2.estimate, rtol=1e-3)
    np.testing.assert_allclose(fast_ind.estimate, slow_ind.estimate, rtol=1e-4, atol=1e-8)
    np.testing.assert_allclose(fast_ind.std_error, slow_ind.std_error, rtol=1e-4, atol=1e-8)
