"""The exact LAML Hessian (pirls.GLMProblem.hessian) against central differences of the
exact gradient, for canonical and non-canonical links, an estimated scale (profiled),
random effects and overlapping (te) penalties; and the Newton search it drives reaches
the optimum of the difference-Hessian search."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import flexcausal as fc
from flexcausal.gkrls import fitting, pirls


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(1)
    n = 250
    df = pd.DataFrame({"x1": rng.uniform(0, 6, n), "x2": rng.uniform(0, 6, n),
                       "z": rng.normal(size=n), "g": rng.choice(list("abcdef"), n)})
    eta = 0.5 * np.sin(df.x1) * np.cos(df.x2) + 0.3 * df.z + 0.3 * (df.g == "b")
    df["yb"] = rng.binomial(1, 1 / (1 + np.exp(-eta))).astype(float)
    df["yc"] = rng.poisson(np.exp(eta)).astype(float)
    df["yg"] = rng.gamma(3.0, np.exp(eta) / 3.0)
    return df


def _problem(monkeypatch, formula, data, family):
    captured = {}
    original = pirls.fit_laml

    def capture(problem, sp=None):
        captured["problem"] = problem
        return original(problem, sp)

    monkeypatch.setattr(fitting, "fit_laml", capture)
    fit = fc.gam(formula, data, family=family)
    return fit, captured["problem"]


@pytest.mark.parametrize("formula, family", [
    ("yb ~ z + krls(x1, x2)", "binomial"),
    ("yb ~ z + krls(x1, x2) + re(g)", ("binomial", "probit")),
    ("yc ~ krls(x1, x2) + re(g) + s(z, k=5)", "poisson"),
    ("yg ~ z + krls(x1, x2) + re(g)", "gamma"),
    ("yc ~ te(x1, x2, k=4) + re(g)", "poisson"),
])
def test_exact_hessian_matches_differences_of_the_gradient(monkeypatch, data, formula,
                                                            family):
    fit, prob = _problem(monkeypatch, formula, data, family)
    rho = np.log(fit.sp_.to_numpy()) + 0.3
    value, grad, hess, _ = prob.hessian(rho)
    assert value == pytest.approx(prob.laml(rho, gradient=False)[0], rel=1e-12)
    np.testing.assert_allclose(grad, prob.laml(rho)[1], rtol=1e-10, atol=1e-12)
    k, step = len(rho), 1e-2
    central = np.empty((k, k))
    for j in range(k):
        e = np.zeros(k)
        e[j] = step
        central[j] = (prob.laml(rho + e)[1] - prob.laml(rho - e)[1]) / (2 * step)
    central = 0.5 * (central + central.T)
    np.testing.assert_allclose(hess, central, rtol=0, atol=2e-4 * np.abs(central).max())


def test_exact_hessian_search_reaches_the_difference_search_optimum(monkeypatch, data):
    formula = "yc ~ z + krls(x1, x2) + re(g)"
    exact = fc.gam(formula, data, family="poisson")
    monkeypatch.setattr(pirls.GLMProblem, "derivatives", pirls.GLMProblem.fd_derivatives)
    differenced = fc.gam(formula, data, family="poisson")
    assert exact.reml_ == pytest.approx(differenced.reml_, rel=1e-10)
    np.testing.assert_allclose(exact.sp_, differenced.sp_, rtol=1e-5)
    np.testing.assert_allclose(exact.coef_, differenced.coef_, rtol=1e-5, atol=1e-7)
