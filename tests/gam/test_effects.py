"""Marginal effects and interactions: closed forms and brute-force delta method."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

import flexcausal as fc


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(4)
    n = 400
    df = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n),
                       "x3": rng.normal(size=n), "d": rng.integers(0, 2, n),
                       "f": pd.Categorical(rng.choice(["a", "b", "c"], n))})
    df["yg"] = 2 * df.x3 + df.x1 - 0.5 * df.d + (df.f == "c") + rng.normal(size=n)
    eta = 0.5 * df.x3 + np.sin(df.x1) + 0.5 * df.x2 * df.x1 - 0.3
    df["yb"] = rng.binomial(1, expit(eta)).astype(float)
    return df


def test_linear_model_effects_equal_coefficients(data):
    model = fc.gam("yg ~ x3 + x1 + d + f", data)
    b, V = model.coef_, model.vcov()
    out = fc.marginal_effects(model, ["x3", "x1", "d", "f"]).set_index("term")
    for term, coef in [("x3", "x3"), ("x1", "x1"), ("d", "d"), ("fb", "f[T.b]"),
                       ("fc", "f[T.c]")]:
        assert out.loc[term, "estimate"] == pytest.approx(b[coef], rel=1e-6)
        assert out.loc[term, "std_error"] == pytest.approx(np.sqrt(V.loc[coef, coef]), rel=1e-6)
    assert out.loc["d", "type"] == "binary" and out.loc["fb", "type"] == "factor"
    iqr = fc.marginal_effects(model, "x3", type="IQR").estimate.iloc[0]
    q25, q75 = np.quantile(data.x3, [0.25, 0.75])
    assert iqr == pytest.approx(b["x3"] * (q75 - q25), rel=1e-10)
    minmax = fc.marginal_effects(model, "x3", type="minmax").estimate.iloc[0]
    assert minmax == pytest.approx(b["x3"] * np.ptp(data.x3), rel=1e-10)
    onesd = fc.marginal_effects(model, "x3", type="onesd").estimate.iloc[0]
    assert onesd == pytest.approx(b["x3"] * 2 * data.x3.std(ddof=1), rel=1e-10)
    second = fc.marginal_effects(model, "x3", type="second_derivative").estimate.iloc[0]
    assert abs(second) < 1e-4
    pred = fc.marginal_effects(model, type="predict").estimate.iloc[0]
    assert pred == pytest.approx(model.fitted_values_.mean(), rel=1e-12)


def test_logit_ame_and_se_match_brute_force_delta_method(data):
    model = fc.gam("yb ~ x1 + x3", data, family="binomial")
    X = np.column_stack([np.ones(len(data)), data.x1, data.x3])

    def ame(beta):
        p = expit(X @ beta)
        return np.mean(p * (1 - p)) * beta[1]

    beta = model.coef_.to_numpy()
    h = 1e-6
    grad = np.array([(ame(beta + h * e) - ame(beta - h * e)) / (2 * h) for e in np.eye(3)])
    for vcov in ("bayes", "HC1"):
        V = model.vcov(vcov).to_numpy()
        out = fc.marginal_effects(model, "x1", vcov=vcov).iloc[0]
        assert out.estimate == pytest.approx(ame(beta), rel=1e-6)
        assert out.std_error == pytest.approx(np.sqrt(grad @ V @ grad), rel=1e-5)


def test_individual_effects_average_to_the_ame(data):
    model = fc.gam("yb ~ x3 + krls(x1, x2, size=40)", data, family="binomial")
    ind = fc.marginal_effects(model, "x1", individual=True)
    avg = fc.marginal_effects(model, "x1")
    assert len(ind) == len(data)
    assert ind.estimate.mean() == pytest.approx(avg.estimate.iloc[0], rel=1e-10)
    assert np.all(ind.std_error > 0)


def test_conditional_sets_other_variables(data):
    model = fc.gam("yb ~ x3 + krls(x1, x2, size=40)", data, family="binomial")
    cond = pd.DataFrame({"x3": [-1.0, 1.0]})
    out = fc.marginal_effects(model, "x1", conditional=cond)
    assert list(out.x3) == [-1.0, 1.0]
    manual = fc.marginal_effects(model, "x1", data=data.assign(x3=1.0))
    assert out.estimate.iloc[1] == pytest.approx(manual.estimate.iloc[0], rel=1e-10)


def test_interactions_vanish_in_an_additive_linear_model(data):
    model = fc.gam("yg ~ x3 + x1", data)
    out = fc.interactions(model, ["x1", "x3"]).set_index("qoi")
    assert out.loc["AMIE", "estimate"] == pytest.approx(0.0, abs=1e-10)
    assert out.loc["AIE", "estimate"] == pytest.approx(0.0, abs=1e-10)
    ames = out.loc["AME", "estimate"].sum()
    assert out.loc["ACE", "estimate"] == pytest.approx(ames, rel=1e-10)


def test_effect_bad_input(data):
    model = fc.gam("yg ~ x3 + x1", data)
    with pytest.raises(ValueError, match="variable 'zz' is not in the model"):
        fc.marginal_effects(model, "zz")
    with pytest.raises(ValueError, match="unknown effect type"):
        fc.marginal_effects(model, "x1", type="slope")
    with pytest.raises(ValueError, match="2 x 2|3 x 3"):
        fc.marginal_effects(model, "x1", vcov=np.eye(2))
    with pytest.raises(ValueError, match="pairs of two distinct"):
        fc.interactions(model, ["x1", "x1"])


def test_plot_effects_band_matches_conditional_predictions(data):
    model = fc.gam("yb ~ x3 + krls(x1, x2, size=40)", data, family="binomial")
    fig = fc.plot_effects(model, "x1", n_points=7)
    ax = fig.axes[0]
    line = ax.lines[0]
    grid = np.linspace(data.x1.min(), data.x1.max(), 7)
    np.testing.assert_allclose(line.get_xdata(), grid)
    expected = [model.predict(data.assign(x1=v), type="response").mean() for v in grid]
    np.testing.assert_allclose(line.get_ydata(), expected, rtol=1e-10)
