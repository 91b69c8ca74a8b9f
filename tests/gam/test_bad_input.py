"""Bad input gets a clear ValueError/TypeError naming the column or argument."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import flexcausal as fc


@pytest.fixture
def df():
    rng = np.random.default_rng(0)
    n = 120
    return pd.DataFrame(
        {
            "y": rng.normal(size=n),
            "x1": rng.normal(size=n),
            "x2": rng.normal(size=n),
            "g": rng.choice(["a", "b", "c"], size=n),
            "word": rng.choice(["u", "v"], size=n),
        }
    )


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_in_a_used_column(df, bad):
    df.loc[5, "x2"] = bad
    with pytest.raises(ValueError, match="column 'x2' has 1"):
        fc.gam("y ~ krls(x1, x2)", df)


def test_nan_in_response_and_factor(df):
    d = df.copy()
    d.loc[3, "y"] = np.nan
    with pytest.raises(ValueError, match="column 'y'"):
        fc.gam("y ~ krls(x1)", d)
    d = df.copy()
    d.loc[3, "g"] = None
    with pytest.raises(ValueError, match="column 'g'"):
        fc.gam("y ~ x1 + re(g)", d)


def test_nan_in_unused_column_is_fine(df):
    df["unused"] = np.nan
    fc.gam("y ~ x1", df)


def test_formula_naming_missing_column(df):
    with pytest.raises(ValueError, match=r"no column\(s\) \['x9'\]"):
        fc.gam("y ~ krls(x1, x9)", df)
    with pytest.raises(ValueError, match=r"\['x7'\]"):
        fc.gam("y ~ x7 + krls(x1)", df)


def test_empty_data(df):
    with pytest.raises(ValueError, match="empty"):
        fc.gam("y ~ krls(x1)", df.iloc[:0])


def test_not_a_dataframe():
    with pytest.raises(TypeError, match="DataFrame"):
        fc.gam("y ~ x1", [[1, 2]])


def test_constant_outcome(df):
    df["y"] = 2.0
    with pytest.raises(ValueError, match="response 'y' is constant"):
        fc.gam("y ~ krls(x1)", df)


def test_non_numeric_column_inside_krls(df):
    with pytest.raises(TypeError, match="column 'word' in krls"):
        fc.gam("y ~ krls(x1, word)", df)


def test_non_numeric_response(df):
    with pytest.raises(TypeError, match="column 'word'"):
        fc.gam("word ~ x1", df)


def test_sketch_larger_than_n(df):
    with pytest.raises(ValueError, match="sketch size 500 exceeds the number of rows 120"):
        fc.gam("y ~ krls(x1, size=500)", df)


def test_duplicate_or_out_of_range_indices(df):
    with pytest.raises(ValueError, match="duplicates"):
        fc.gam("y ~ krls(x1, indices=[1, 2, 2])", df)
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 119\]"):
        fc.gam("y ~ krls(x1, indices=[0, 120])", df)
    with pytest.raises(ValueError, match=r"indices must lie"):
        fc.gam("y ~ krls(x1, indices=[-1, 3])", df)
    with pytest.raises(TypeError, match="indices must be integers"):
        fc.gam("y ~ krls(x1, indices=[0.5, 3])", df)


def test_re_on_a_factor_with_one_level(df):
    df["one"] = "only"
    with pytest.raises(ValueError, match="re\\(one\\).*1 level"):
        fc.gam("y ~ x1 + re(one)", df)


def test_re_on_a_float_column(df):
    with pytest.raises(TypeError, match="re\\(x1\\)"):
        fc.gam("y ~ re(x1)", df)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"family": "banana"}, "unknown family 'banana'"),
        ({"method": "GCV"}, "unknown method 'GCV'"),
    ],
)
def test_unknown_family_or_method(df, kwargs, match):
    with pytest.raises(ValueError, match=match):
        fc.gam("y ~ krls(x1)", df, **kwargs)


@pytest.mark.parametrize(
    "formula, match",
    [
        ("y ~ krls(x1, sketch='banana')", "unknown krls\\(\\) sketch 'banana'"),
        ("y ~ krls(x1, standardize='zscore')", "unknown krls\\(\\) standardize"),
        ("y ~ krls(x1, colour=3)", "unknown option\\(s\\) \\['colour'\\]"),
        ("y ~ s(x1, bs='tp')", "unknown s\\(\\) bs 'tp'"),
        ("y ~ s(x1, k=2)", "k must be an integer >= 3"),
        ("y ~ krls(x1, bandwidth=-1)", "bandwidth must be positive"),
        ("y ~ krls(x1, size=0)", "size must be a positive integer"),
        ("y ~ krls(x1, indices=idx_missing)", "cannot evaluate indices=idx_missing"),
        ("y ~ krls(x1 + 1)", "arguments must be column names"),
        ("y krls(x1)", "exactly one '~'"),
        ("y ~ ", "no right-hand side"),
    ],
)
def test_unknown_options_and_malformed_formulas(df, formula, match):
    with pytest.raises(ValueError, match=match):
        fc.gam(formula, df)


def test_bad_sp(df):
    with pytest.raises(ValueError, match="sp must be 1 positive"):
        fc.gam("y ~ krls(x1)", df, sp=[1.0, 2.0])
    with pytest.raises(ValueError, match="sp must be"):
        fc.gam("y ~ krls(x1)", df, sp=[-1.0])


def test_unseen_re_level_predicts_with_effect_zero_and_warns(df):
    model = fc.gam("y ~ x1 + re(g)", df)
    new = pd.DataFrame({"x1": [0.3, 0.3], "g": ["zzz", "a"]})
    with pytest.warns(UserWarning, match="unseen levels \\['zzz'\\]"):
        pred = model.predict(new)
    b = model.coef_
    assert pred[0] == pytest.approx(b["(Intercept)"] + 0.3 * b["x1"], rel=1e-12)
    assert pred[1] == pytest.approx(pred[0] + b["re(g).1"], rel=1e-12)


def test_unseen_fixed_effect_level_is_an_error(df):
    model = fc.gam("y ~ x1 + g", df)
    with pytest.raises(ValueError, match="column 'g' has levels \\['q'\\] not seen"):
        model.predict(pd.DataFrame({"x1": [0.0], "g": ["q"]}))


def test_predict_with_missing_column_or_nan(df):
    model = fc.gam("y ~ krls(x1, x2)", df)
    with pytest.raises(ValueError, match="newdata has no column\\(s\\) \\['x2'\\]"):
        model.predict(pd.DataFrame({"x1": [0.0]}))
    with pytest.raises(ValueError, match="column 'x1' has 1 NaN"):
        model.predict(pd.DataFrame({"x1": [np.nan], "x2": [0.0]}))
    with pytest.raises(ValueError, match="unknown predict type"):
        model.predict(df, type="terms")


def test_callers_dataframe_is_never_modified(df):
    df["g"] = df["g"].astype("category")
    before = df.copy(deep=True)
    model = fc.gam("y ~ x1 + g + krls(x1, x2, g) + re(word)", df)
    model.predict(df, se=True)
    pd.testing.assert_frame_equal(df, before)


@pytest.mark.parametrize(
    "family, values, match",
    [
        ("binomial", [0.0, 1.5], "binomial response 'y' must lie in \\[0, 1\\]"),
        ("poisson", [0.0, -1.0], "poisson response 'y' must be non-negative integer"),
        ("poisson", [0.0, 1.5], "poisson response 'y' must be non-negative integer"),
        ("gamma", [1.0, 0.0], "gamma response 'y' must be strictly positive"),
    ],
)
def test_family_response_checks(df, family, values, match):
    df["y"] = np.resize(values, len(df))
    with pytest.raises(ValueError, match=match):
        fc.gam("y ~ x1", df, family=family)


def test_unknown_link_and_bad_weights_offset(df):
    df["y"] = (df.y > 0).astype(float)
    with pytest.raises(ValueError, match="unknown binomial link 'log'"):
        fc.gam("y ~ x1", df, family="binomial", link="log")
    with pytest.raises(ValueError, match="weights must be non-negative"):
        fc.gam("y ~ x1", df, family="binomial", weights=-np.ones(len(df)))
    with pytest.raises(ValueError, match="weights must have one value per row"):
        fc.gam("y ~ x1", df, weights=np.ones(3))
    with pytest.raises(ValueError, match="offset contains NaN"):
        fc.gam("y ~ x1", df, offset=np.full(len(df), np.nan))


def test_irls_non_convergence_warns_with_iteration_count(df):
    df["y"] = (df.x1 > 0).astype(float)  # perfectly separated: no finite MLE
    with pytest.warns(RuntimeWarning, match=r"did not converge after \d+ iterations"):
        fc.gam("y ~ x1", df, family="binomial")
