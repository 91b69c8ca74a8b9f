"""Cluster-level treatment effects (fc.cluster.cluster_ate) and the designs of issue 14:
fc.datasets.cluster_trial (stratified cluster-randomized, cluster-level confounding, known
effect), rfp_exp1 (the authors' exp1) and the multi-dimensional little-overlap design."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyRegressor
from sklearn.linear_model import LinearRegression

from flexcausal.cluster import cluster_ate
from flexcausal.datasets import cluster_trial, rfp_clusters, rfp_exp1, rfp_exp1_truth

CTRL = ["w", "x1", "x2"]


@pytest.fixture(scope="module")
def trial():
    return cluster_trial(40, 10, seed=2)


# ------------------------------------------------------------------ designs
def test_cluster_trial_design(trial):
    df = trial
    assert df.shape == (400, 10) and df.equals(cluster_trial(40, 10, seed=2))
    assert (df.groupby("g").d.nunique() == 1).all() and (df.groupby("g").w.nunique() == 1).all()
    cl = df.groupby("g").first()
    np.testing.assert_allclose(cl.groupby("stratum").d.mean(), [0.2, 0.4, 0.6, 0.8])
    assert np.all(np.diff(cl.groupby("stratum").w.max()) > 0)  # strata are w quantiles
    np.testing.assert_allclose(df.mu1 - df.mu0, df.tau)
    np.testing.assert_allclose(df.tau, 1.0 + 0.5 * np.tanh(df.x1))
    assert df.attrs["ate"] == pytest.approx(df.tau.mean())
    resid = df.y - np.where(df.d == 1, df.mu1, df.mu0)
    assert 0.2 < resid.std() < 0.4  # noise_sd = 0.3
    assert np.corrcoef(cl.w, cl.d)[0, 1] > 0.3  # cluster-level confounding through w


def test_cluster_trial_bad_input():
    with pytest.raises(ValueError, match="fewer than 2 clusters per stratum"):
        cluster_trial(6, 5, n_strata=4)
    with pytest.raises(ValueError, match="noise_sd must be a finite number >= 0"):
        cluster_trial(noise_sd=-1.0)
    with pytest.raises(TypeError, match="effect must be a number"):
        cluster_trial(effect="big")
    with pytest.raises(ValueError, match="n_clusters must be >= 4"):
        cluster_trial(2)


def test_exp1_design():
    df = rfp_exp1(30, 100, seed=1)
    assert df.shape == (3000, 5) and np.all(df.y == df.cluster_truth)  # no noise, as theirs
    x = df.x1.to_numpy()
    p = (df.y - np.log(x**2 + 1 + np.sin(3 * x)) - 1.5) / (np.sin(np.abs(x)) + 0.3 * np.abs(x))
    per = p.groupby(df.g).agg(["min", "max"])
    np.testing.assert_allclose(per["min"], per["max"], rtol=1e-8)  # one p per cluster
    assert per["min"].between(0.5, 5.0).all()
    sd = df.groupby("g").x1.std()
    assert (sd > 0.05).all() and (sd < 1.2).all()  # variance ~ U(0.01, 1)
    np.testing.assert_allclose(df.truth, rfp_exp1_truth(x))
    assert rfp_exp1(5, 4, dim=3, seed=0).shape == (20, 7)
    with pytest.raises(ValueError, match="noise_sd"):
        rfp_exp1(noise_sd=-1)


def test_multidimensional_little_overlap_design():
    one = rfp_clusters(8, 5, dim=1, seed=4)
    cone = rfp_clusters(8, 5, dim=1, cef="norm", seed=4)
    pd.testing.assert_frame_equal(one, cone)  # d = 1: the cone is the 'v'
    df = rfp_clusters(8, 5, dim=8, cef="norm", seed=4)
    X = df.filter(regex=r"^x\d+$").to_numpy()
    np.testing.assert_allclose(df.truth, np.linalg.norm(X, axis=1) / np.sqrt(8))
    with pytest.raises(ValueError, match="unknown cef"):
        rfp_clusters(cef="sum")


# ------------------------------------------------------------------ estimators
def test_regression_with_a_constant_model_is_the_difference_in_means(trial):
    r = cluster_ate(trial, DummyRegressor(), controls=CTRL, method="regression")
    diff = trial.y[trial.d == 1].mean() - trial.y[trial.d == 0].mean()
    assert r.estimate == pytest.approx(diff, rel=1e-12)
    assert np.isnan(r.se)


def test_aipw_with_a_zero_model_is_horvitz_thompson_with_clustered_se(trial):
    r = cluster_ate(trial, DummyRegressor(strategy="constant", constant=0.0), controls=CTRL,
                    strata="stratum")
    e = trial.stratum.map(trial.groupby("g").first().groupby("stratum").d.mean())
    psi = trial.d * trial.y / e - (1 - trial.d) * trial.y / (1 - e)
    assert r.estimate == pytest.approx(psi.mean(), rel=1e-12)
    tot = (psi - psi.mean()).groupby(trial.g).sum()
    C, N = 40, 400
    assert r.se == pytest.approx(np.sqrt((tot**2).sum() * C / (C - 1)) / N, rel=1e-12)
    assert r.ci_low < r.estimate < r.ci_high
    t = r.tidy()
    assert list(t.columns[:5]) == ["term", "estimate", "std.error", "conf.low", "conf.high"]


def test_aipw_linear_model_covers_the_effect_and_bootstrap_is_seeded(trial):
    a = cluster_ate(trial, LinearRegression(), controls=CTRL, strata="stratum", n_boot=50,
                    seed=3)
    b = cluster_ate(trial, LinearRegression(), controls=CTRL, strata="stratum", n_boot=50,
                    seed=3)
    assert a.estimate == b.estimate and np.array_equal(a.boot, b.boot)
    assert abs(a.estimate - trial.attrs["ate"]) < 3 * a.se
    r = cluster_ate(trial, LinearRegression(), controls=CTRL, strata="stratum",
                    method="regression", n_boot=3, seed=0)
    assert np.isfinite(r.se) and r.se > 0 and len(r.boot) == 3


def test_gkrls_formula_with_random_effect_as_outcome_model(trial):
    r = cluster_ate(trial, "y ~ w + s(x1, k=5) + re(g)", strata="stratum")
    assert np.isfinite(r.estimate) and r.se > 0


@pytest.mark.parametrize(
    "change, kw, err, msg",
    [
        (lambda d: d.assign(d=np.arange(len(d)) % 2), {}, ValueError, "varies within"),
        (lambda d: d.assign(d=d.d * 2), {}, ValueError, "must be 0/1"),
        (lambda d: d.drop(columns="w"), {}, ValueError, r"columns \['w'\] are not in data"),
        (lambda d: d, {"controls": None}, ValueError, "controls .* is required"),
        (lambda d: d, {"strata": None}, ValueError, "propensity='strata' needs strata="),
        (lambda d: d, {"n_folds": 21}, ValueError, "n_folds=21 exceeds"),
        (lambda d: d, {"model": object()}, TypeError, "model must be an estimator"),
        (lambda d: d.to_numpy(), {}, TypeError, "data must be a pandas DataFrame"),
        (lambda d: d, {"level": 1.0}, ValueError, r"level must be in \(0, 1\)"),
        (lambda d: d, {"method": "ipw"}, ValueError, "unknown method 'ipw'"),
        (lambda d: d.assign(e=1.0), {"propensity": "e"}, ValueError, "strictly between 0"),
    ],
)
def test_cluster_ate_bad_input(trial, change, kw, err, msg):
    args = dict(model=LinearRegression(), controls=CTRL, strata="stratum")
    args.update(kw)
    with pytest.raises(err, match=msg):
        cluster_ate(change(trial), **args)
