"""Sandwich variances against statsmodels on models without smooths (independent)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import flexcausal as fc


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    n = 300
    df = pd.DataFrame({"x1": rng.normal(size=n), "x3": rng.normal(size=n),
                       "g": rng.integers(0, 15, n)})
    df["yb"] = (rng.uniform(size=n) < 1 / (1 + np.exp(-(0.5 * df.x1 - 0.2 * df.x3)))) * 1.0
    df["yg"] = 2 * df.x1 + rng.normal(size=n) * (1 + np.abs(df.x3))
    df["yp"] = rng.poisson(np.exp(0.3 + 0.4 * df.x1)).astype(float)
    return df


def design(df):
    return sm.add_constant(df[["x1", "x3"]]).to_numpy()


def test_gaussian_linear_model_matches_ols_hc_and_cluster(data):
    model = fc.gam("yg ~ x1 + x3", data)
    ols = sm.OLS(data.yg, design(data))
    for kind in ("HC0", "HC1"):
        ref = ols.fit(cov_type=kind).cov_params()
        np.testing.assert_allclose(model.vcov(kind).to_numpy(), ref, rtol=1e-10)
    # sandwich::vcovCL(type="HC0"): G/(G-1) only; statsmodels adds (n-1)/(n-k) by default
    ref = ols.fit(cov_type="cluster", cov_kwds={"groups": data.g, "use_correction": False})
    G = data.g.nunique()
    np.testing.assert_allclose(model.vcov("cluster", cluster="g").to_numpy(),
                               ref.cov_params() * G / (G - 1), rtol=1e-10)
    np.testing.assert_allclose(model.vcov("cluster", cluster=data.g.to_numpy()),
                               model.vcov("cluster", cluster="g"), rtol=1e-14)


@pytest.mark.parametrize("family, column, sm_family", [
    ("binomial", "yb", sm.families.Binomial()),
    ("poisson", "yp", sm.families.Poisson()),
])
def test_glm_without_smooths_matches_statsmodels(data, family, column, sm_family):
    model = fc.gam(f"{column} ~ x1 + x3", data, family=family)
    glm = sm.GLM(data[column], design(data), family=sm_family)
    np.testing.assert_allclose(model.coef_.to_numpy(), glm.fit(tol=1e-13).params, rtol=1e-8)
    np.testing.assert_allclose(model.vcov("bayes").to_numpy(), glm.fit(tol=1e-13).cov_params(),
                               rtol=1e-7)
    hc0 = glm.fit(cov_type="HC0", tol=1e-13).cov_params()
    np.testing.assert_allclose(model.vcov("HC0").to_numpy(), hc0, rtol=1e-7)
    # statsmodels' GLM "HC1" applies no correction; ours is N / (N - edf) as gKRLS
    n = len(data)
    np.testing.assert_allclose(model.vcov("HC1").to_numpy(), hc0 * n / (n - 3), rtol=1e-7)
    ref = glm.fit(cov_type="cluster", tol=1e-13,
                  cov_kwds={"groups": data.g, "use_correction": False})
    G = data.g.nunique()
    np.testing.assert_allclose(model.vcov("cluster", cluster="g").to_numpy(),
                               ref.cov_params() * G / (G - 1), rtol=1e-7)


def test_cluster_bad_input(data):
    model = fc.gam("yg ~ x1", data)
    with pytest.raises(ValueError, match="needs cluster="):
        model.vcov("cluster")
    with pytest.raises(ValueError, match="one value per training row"):
        model.vcov("cluster", cluster=np.zeros(5))
    with pytest.raises(ValueError, match="need at least 2"):
        model.vcov("cluster", cluster=np.zeros(len(data)))
    with pytest.raises(ValueError, match="'nope' is not in the training data"):
        model.vcov("cluster", cluster="nope")
    with pytest.raises(ValueError, match="unknown vcov type"):
        model.vcov("HC3")
