"""flexcausal.dml: DoubleML (the doubleml package) with gKRLS formula learners.

(a) a formula learner without a kernel is least squares, so DML with it equals DML with
LinearRegression on the same folds; (b) with a kernel it removes nonlinear confounding a
linear learner cannot; (c) cluster-robust SEs; (d) bad input."""

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from sklearn.linear_model import LinearRegression

import flexcausal as fc

doubleml = pytest.importorskip("doubleml")


def _linear(n=300, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n),
                       "g": rng.integers(0, 30, n)})
    df["d"] = 0.5 * df.x1 + rng.normal(size=n)
    df["y"] = 0.7 * df.d + df.x1 - df.x2 + rng.normal(size=n)
    return df


@pytest.mark.parametrize("cluster", [None, "g"])
def test_no_kernel_reproduces_linear_regression_exactly(cluster):
    df = _linear()
    ours = fc.dml.plr(df, "y", "d", "~ x1 + x2", cluster=cluster, n_rep=2, seed=3)
    data = fc.dml.make_data(df, "y", "d", ["x1", "x2"], cluster=cluster)
    ref = doubleml.DoubleMLPLR(data, LinearRegression(), LinearRegression(), n_rep=2,
                               draw_sample_splitting=False)
    ref.set_sample_splitting(ours.smpls, ours.smpls_cluster).fit()
    np.testing.assert_allclose(ours.coef, ref.coef, rtol=0, atol=1e-10)
    np.testing.assert_allclose(ours.se, ref.se, rtol=0, atol=1e-10)
    assert ours.n_rep == 2 and ours.n_folds == 5


def test_plain_doubleml_recipe_with_columns():
    """The recipe of the docstrings: doubleml draws its own folds, columns=x_cols."""
    df = _linear()
    data = doubleml.DoubleMLData(df, "y", "d", x_cols=["x1", "x2"])
    gam = fc.GAMRegressor("~ x1 + x2", columns=data.x_cols)
    ours = doubleml.DoubleMLPLR(data, gam, gam).fit()
    ref = doubleml.DoubleMLPLR(data, LinearRegression(), LinearRegression(),
                               draw_sample_splitting=False)
    ref.set_sample_splitting(ours.smpls).fit()
    np.testing.assert_allclose(ours.coef, ref.coef, rtol=0, atol=1e-10)
    np.testing.assert_allclose(ours.se, ref.se, rtol=0, atol=1e-10)


def _nonlinear(n, seed, binary=False, noise=1.0):
    rng = np.random.default_rng(seed)
    x1, x2 = rng.uniform(-2, 2, n), rng.uniform(-2, 2, n)
    g = np.sin(2 * x1) + 0.5 * x2 ** 2  # confounds d and y nonlinearly
    d = (rng.uniform(size=n) < expit(g - 1)).astype(int) if binary else g + rng.normal(size=n)
    y = 0.5 * d + 2 * g + x1 * x2 + noise * rng.normal(size=n)
    return pd.DataFrame({"x1": x1, "x2": x2, "d": d, "y": y})


def test_plr_with_krls_learner_recovers_the_effect():
    df = _nonlinear(600, seed=101)  # true theta = 0.5
    krls = fc.dml.tidy(fc.dml.plr(df, "y", "d", "~ krls(x1, x2)", seed=0)).iloc[0]
    assert abs(krls.estimate - 0.5) < 0.15
    assert krls.ci_low < 0.5 < krls.ci_high and krls.se_type == "iid"
    linear = fc.dml.plr(df, "y", "d", x=["x1", "x2"], ml_l=LinearRegression(),
                        ml_m=LinearRegression(), seed=0)
    assert linear.coef[0] > 1.0  # linear nuisances leave the confounding in


def test_irm_ate_with_gam_classifier_propensity():
    df = _nonlinear(400, seed=400, binary=True, noise=0.5)  # true ATE = 0.5
    obj = fc.dml.irm(df, "y", "d", "~ krls(x1, x2)", seed=0)
    assert isinstance(obj.learner["ml_m"], fc.GAMClassifier)
    assert obj.learner["ml_m"].columns == ["x1", "x2"]
    row = fc.dml.tidy(obj).iloc[0]
    assert abs(row.estimate - 0.5) < 3 * row.std_error and 0.02 < row.std_error < 0.2


def _clustered(rho, n=1000, n_clusters=40, seed=0):
    rng = np.random.default_rng(seed)
    g = rng.integers(0, n_clusters, n)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    d = 0.5 * x1 + rho * rng.normal(size=n_clusters)[g] + rng.normal(size=n)
    y = 0.5 * d + x1 - x2 + rho * rng.normal(size=n_clusters)[g] + rng.normal(size=n)
    return pd.DataFrame({"x1": x1, "x2": x2, "d": d, "y": y, "g": g})


@pytest.mark.parametrize("rho, low, high", [(0.0, 0.8, 1.25), (1.5, 2.0, 6.0)])
def test_cluster_robust_se_against_iid_se_on_the_same_folds(rho, low, high):
    df = _clustered(rho)
    clustered = fc.dml.plr(df, "y", "d", "~ x1 + x2", cluster="g", seed=0)
    iid = fc.dml.plr(df, "y", "d", "~ x1 + x2", seed=0, fit=False)
    iid.set_sample_splitting(clustered.smpls).fit()
    np.testing.assert_allclose(clustered.coef, iid.coef, rtol=1e-12)  # same folds, same fit
    # without cluster effects the two SEs agree; with correlated cluster shocks in d and y
    # the cluster-robust SE is several times larger
    assert low < clustered.se[0] / iid.se[0] < high
    table = fc.dml.tidy(clustered)
    assert table.se_type[0] == "cluster" and table.n_clusters[0] == 40
    for train, test in clustered.smpls[0]:  # no cluster on both sides of a split
        assert not set(df.g.iloc[train]) & set(df.g.iloc[test])


def test_cluster_path_with_krls_learner_on_gulzar_like_data():
    df = fc.datasets.gulzar_like(600, 30, seed=2)
    formula = "~ literacy + st_share + krls(lat, lon)"
    obj = fc.dml.plr(df, "y", "treat", formula, cluster="cluster", seed=0)
    row = fc.dml.tidy(obj).iloc[0]
    assert np.isfinite(row.estimate) and row.std_error > 0 and row.n_clusters == 30
    assert abs(row.estimate - df.attrs["effect"]) < 4 * row.std_error
    assert obj.learner["ml_l"].columns == ["lat", "literacy", "lon", "st_share"]


def test_seed_reproduces_and_changes_the_folds():
    df = _linear(200)
    a = fc.dml.plr(df, "y", "d", "~ x1 + x2", cluster="g", seed=5)
    b = fc.dml.plr(df, "y", "d", "~ x1 + x2", cluster="g", seed=5)
    c = fc.dml.plr(df, "y", "d", "~ x1 + x2", cluster="g", seed=6)
    assert a.coef[0] == b.coef[0] and a.se[0] == b.se[0]
    assert not all(np.array_equal(s[1], t[1]) for s, t in zip(a.smpls[0], c.smpls[0],
                                                              strict=True))


# ----------------------------------------------------------------------- bad input
def test_formula_naming_a_missing_column():
    with pytest.raises(ValueError, match=r"no column\(s\) \['lat'\]"):
        fc.dml.plr(_linear(), "y", "d", "~ x1 + krls(lat, x2)")


def test_formula_learner_given_an_unnamed_array_inside_doubleml():
    df = _linear()
    data = doubleml.DoubleMLData(df, "y", "d", x_cols=["x1", "x2"])
    gam = fc.GAMRegressor("~ x1 + x2")  # no columns=: doubleml's x has no names
    with pytest.raises(TypeError, match="X is a NumPy array without column names.*x_cols"):
        doubleml.DoubleMLPLR(data, gam, gam).fit()


def test_classifier_given_a_continuous_treatment():
    df = _linear()
    with pytest.raises(ValueError, match="GAMClassifier: y must hold two class labels"):
        fc.GAMClassifier("~ x1 + x2").fit(df[["x1", "x2"]], df["d"])


def test_cluster_variable_with_one_level():
    df = _linear().assign(state=1)
    with pytest.raises(ValueError, match="cluster column 'state' has 1 level"):
        fc.dml.plr(df, "y", "d", "~ x1 + x2", cluster="state")


def test_other_bad_arguments():
    df = _linear()
    with pytest.raises(ValueError, match="names the outcome/treatment \\['d'\\]"):
        fc.dml.plr(df, "y", "d", "~ x1 + d")
    with pytest.raises(ValueError, match="data has no column 'treat'"):
        fc.dml.plr(df, "y", "treat", "~ x1")
    with pytest.raises(ValueError, match="give formula= or the covariates x="):
        fc.dml.plr(df, "y", "d", ml_l=LinearRegression(), ml_m=LinearRegression())
    with pytest.raises(TypeError, match="covariate column 'x1' has dtype"):
        fc.dml.plr(df.assign(x1=df.x1.astype(str)), "y", "d", x=["x1"],
                   ml_l=LinearRegression(), ml_m=LinearRegression())
    with pytest.raises(ValueError, match="differ from the covariates"):
        fc.dml.plr(df, "y", "d", "~ x1 + x2",
                   ml_l=fc.GAMRegressor("~ x1 + x2", columns=["x2", "x1"]))
    with pytest.raises(ValueError, match="n_folds must be >= 2"):
        fc.dml.plr(df, "y", "d", "~ x1 + x2", n_folds=1)
    with pytest.raises(ValueError, match="not fitted yet"):
        fc.dml.tidy(fc.dml.plr(df, "y", "d", "~ x1 + x2", fit=False))


def test_gulzar_like_design():
    df = fc.datasets.gulzar_like(2000, 80, effect=0.3, seed=4)
    assert len(df) == 2000 and df.cluster.nunique() == 80 and df.attrs["effect"] == 0.3
    assert {"y", "treat", "lat", "lon", "cluster", "truth", *fc.datasets.GULZAR_CONTROLS} \
        <= set(df.columns)
    pd.testing.assert_frame_equal(df, fc.datasets.gulzar_like(2000, 80, effect=0.3, seed=4))
    # the boundary decides the treatment; the controls are imbalanced across it
    assert df.treat[df.propensity > 0.9].mean() > 0.8 > 0.2 > df.treat[df.propensity < 0.1].mean()
    means = df.groupby("treat")[["st_share", "literacy"]].mean()
    assert means.st_share[1] > means.st_share[0] + 0.1
    assert means.literacy[1] < means.literacy[0] - 0.05
    noise = df.y - df.truth
    assert abs(noise.std() - 0.6) < 0.05
    with pytest.raises(ValueError, match="n_clusters \\(10\\) must be <= n \\(5\\)"):
        fc.datasets.gulzar_like(5, 10)
    with pytest.raises(ValueError, match="boundary_width must be a finite number > 0"):
        fc.datasets.gulzar_like(100, 10, boundary_width=0)
