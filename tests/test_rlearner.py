"""fc.rlearner: the R-learner (Nie & Wager 2021) with gKRLS nuisance and effect models."""

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

import flexcausal as fc


def simulate(n, seed=0, continuous=False):
    """Confounded design with a known CATE tau(x) = 1 + x1 (sample ATE = mean(1 + x1))."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n),
                       "g": rng.integers(0, 30, n)})
    if continuous:
        df["d"] = 0.5 * df.x1 - 0.3 * df.x2 + rng.normal(size=n)
    else:
        df["d"] = rng.binomial(1, expit(0.6 * df.x1 - 0.4 * df.x2))
    df["tau"] = 1.0 + df.x1
    df["y"] = np.sin(df.x1) + 0.5 * df.x2**2 + df.d * df.tau + rng.normal(size=n)
    return df


@pytest.fixture(scope="module")
def binary_fit():
    df = simulate(600, seed=0)
    return df, fc.rlearner(df, "y", "d", covariates=["x1", "x2"], n_folds=2, seed=0)


def test_recovers_a_known_cate_surface(binary_fit):
    df, r = binary_fit
    cate = r.cate()
    rmse = float(np.sqrt(np.mean((cate - df.tau) ** 2)))
    baseline = float(df.tau.std())  # RMSE of the best constant effect
    print(f"R-learner CATE RMSE {rmse:.3f} (constant-effect RMSE {baseline:.3f})")
    assert rmse < 0.6 and rmse < 0.6 * baseline
    assert np.corrcoef(cate, df.tau)[0, 1] > 0.8
    avg = r.average()
    assert avg.estimate.iloc[0] == pytest.approx(cate.mean(), abs=1e-10)
    assert abs(avg.estimate.iloc[0] - df.tau.mean()) < 0.25
    assert abs(avg.estimate.iloc[0] - df.tau.mean()) < 3 * avg.std_error.iloc[0]
    table = r.by("x1", bins=4)
    truth = df.groupby(pd.qcut(df.x1, 4), observed=True).tau.mean().to_numpy()
    assert list(table.columns[:4]) == ["moderator", "level", "n", "estimate"]
    assert table.n.sum() == len(df)
    assert np.all(np.diff(table.estimate) > 0)
    assert np.max(np.abs(table.estimate - truth)) < 0.5


def test_fitted_parts_and_predictions(binary_fit):
    df, r = binary_fit
    assert r.treatment_type_ == "binary"
    assert len(r.outcome_models_) == len(r.treatment_models_) == 2
    assert r.treatment_models_[0].family == "binomial"
    assert r.formulas_["effect"] == "pseudo_outcome ~ krls(x1, x2)"
    assert np.all((r.e_hat_ > 0) & (r.e_hat_ < 1))
    assert np.allclose(r.weights_, (df.d - r.e_hat_) ** 2)
    pred = r.cate(df.head(5), se=True)
    assert list(pred.columns) == ["cate", "std_error", "ci_low", "ci_high"]
    assert np.allclose(pred.cate, r.cate()[:5])
    assert np.all(pred.std_error > 0) and np.all(pred.ci_low < pred.cate)
    by_g = r.by("g", bins=None, data=df.head(100))
    assert by_g.n.sum() == 100
    assert "average CATE" in r.average(vcov="HC1").term.iloc[0]


def test_effect_model_minimises_the_r_loss():
    """With an unpenalized effect model tau(x) = a + b x1, the weighted pseudo-outcome
    regression must equal least squares of Y - m on (D - e) and (D - e) x1 (eq. 2)."""
    df = simulate(300, seed=1)
    r = fc.rlearner(df, "y", "d", outcome_formula="~ x1 + x2", treatment_formula="~ x1 + x2",
                    effect_formula="~ x1", n_folds=3, seed=2)
    dres, yres = df.d - r.e_hat_, df.y - r.m_hat_
    X = np.column_stack([dres, dres * df.x1])
    direct = np.linalg.lstsq(X, yres, rcond=None)[0]
    assert np.allclose(r.effect_model_.coef_.to_numpy(), direct, rtol=1e-8, atol=1e-10)


def test_continuous_treatment():
    df = simulate(500, seed=4, continuous=True)
    r = fc.rlearner(df, "y", "d", covariates=["x1", "x2"], moderators="x1", n_folds=3)
    assert r.treatment_type_ == "continuous"
    assert r.treatment_models_[0].family == "gaussian"
    rmse = float(np.sqrt(np.mean((r.cate() - df.tau) ** 2)))
    print(f"R-learner continuous-treatment CATE RMSE {rmse:.3f}")
    assert rmse < 0.3


def test_cluster_folds_and_reproducibility():
    df = simulate(240, seed=5, continuous=True)
    kw = dict(outcome_formula="~ x1 + x2", treatment_formula="~ x1 + x2",
              effect_formula="~ x1", n_folds=4, cluster="g")
    r1 = fc.rlearner(df, "y", "d", seed=7, **kw)
    r2 = fc.rlearner(df, "y", "d", seed=7, **kw)
    r3 = fc.rlearner(df, "y", "d", seed=8, **kw)
    assert (pd.crosstab(df.g, r1.folds_) > 0).sum(axis=1).max() == 1  # no cluster split
    assert np.array_equal(r1.folds_, r2.folds_)
    assert np.array_equal(r1.cate(), r2.cate())
    assert not np.array_equal(r1.folds_, r3.folds_)


@pytest.mark.parametrize(("change", "kwargs", "error", "match"), [
    (None, {"covariates": ["x1", "x9"]}, ValueError, r"no column\(s\) \['x9'\]"),
    (None, {"covariates": ["x1"], "effect_formula": "~ krls(x1, zz)"}, ValueError,
     r"no column\(s\) \['zz'\]"),
    ("constant", {"covariates": ["x1"]}, ValueError, "is constant"),
    ("three", {"covariates": ["x1"], "treatment_type": "binary"}, ValueError,
     "needs a 0/1"),
    ("one_two", {"covariates": ["x1"]}, ValueError, "code it 0/1"),
    ("string", {"covariates": ["x1"]}, TypeError, "numeric or boolean"),
    (None, {"covariates": ["x1"], "n_folds": 20}, ValueError, "at least 10 rows per fold"),
    (None, {"covariates": ["x1", "d"]}, ValueError, "may not contain the outcome"),
    (None, {"outcome_formula": "y ~ x1", "treatment_formula": "~ x1",
            "effect_formula": "~ x1"}, ValueError, "one-sided"),
    (None, {}, ValueError, "give covariates="),
    (None, {"covariates": ["x1"], "cluster": "c2", "n_folds": 3}, ValueError,
     "fewer than n_folds"),
    (None, {"covariates": ["x1"], "outcome_formula": "~ krls(x1, d)"}, ValueError,
     "uses \\['d'\\]"),
])
def test_bad_input(change, kwargs, error, match):
    df = simulate(150, seed=6)
    df["c2"] = np.arange(150) % 2
    if change == "constant":
        df["d"] = 1
    elif change == "three":
        df["d"] = np.arange(150) % 3
    elif change == "one_two":
        df["d"] = df.d + 1
    elif change == "string":
        df["d"] = np.where(df.d == 1, "treated", "control")
    with pytest.raises(error, match=match):
        fc.rlearner(df, "y", "d", **kwargs)
