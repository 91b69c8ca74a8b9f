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
        ("y ~ s(x1, bs='ps')", "unknown s\\(x1\\) bs 'ps'"),
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


# ----------------------------------------------------------------------------------------
# Rank deficiency, unused levels, dtypes (the tester's 261-input sweep and our own fuzzing)
# ----------------------------------------------------------------------------------------
def _rank_case(df, name):
    d = df.copy()
    w = None
    if name == "combination":
        d["x3"] = 2 * d.x1 - d.x2
        formula = "y ~ x1 + x2 + x3"
    elif name == "constant":
        d["c"] = 1.0
        formula = "y ~ x1 + c"
    elif name == "spline_and_linear":
        formula = "y ~ x1 + s(x1, k=5)"
    elif name == "dummy_sum":
        d["is_a"] = (d.g == "a").astype(float)
        formula = "y ~ g + is_a"
    else:  # a factor level whose rows all have weight 0
        w = np.where(d.g == "c", 0.0, 1.0)
        formula = "y ~ x1 + g"
    return d, formula, w


@pytest.mark.parametrize(
    "name, match",
    [
        ("combination", r"x3 = 2\*x1 - 1\*x2\. Drop \['x3'\]"),
        ("constant", r"c = 1\*\(Intercept\)\. Drop \['c'\]"),
        ("spline_and_linear", r"s\(x1\)'s linear part = .*x1\. Drop \['x1'\]"),
        ("dummy_sum", r"is_a = 1\*\(Intercept\) - 1\*g\[T\.b\] - 1\*g\[T\.c\]"),
        ("empty_level", r"g\[T\.c\] = 0\. Drop \['g\[T\.c\]'\]"),
    ],
)
def test_rank_deficient_columns_are_named(df, name, match):
    d, formula, w = _rank_case(df, name)
    with pytest.raises(ValueError, match="linearly dependent") as info:
        fc.gam(formula, d, weights=w)
    assert info.match(match)


def test_rank_check_works_for_glm_families(df):
    df["yb"] = (df.y > 0).astype(float)
    df["c"] = 3.0
    with pytest.raises(ValueError, match=r"c = 3\*\(Intercept\)"):
        fc.gam("yb ~ x1 + c + krls(x2)", df, family="binomial")


def test_unused_categorical_levels_are_dropped_as_in_r(df):
    plain = df.assign(g=pd.Categorical(df.g, categories=["a", "b", "c"]))
    extra = df.assign(g=pd.Categorical(df.g, categories=["z", "a", "b", "c", "q"]))
    for formula in ("y ~ x1 + g", "y ~ krls(x1, g)", "y ~ x1 + re(g)"):
        a, b = fc.gam(formula, plain), fc.gam(formula, extra)
        assert list(a.coef_.index) == list(b.coef_.index)
        np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(a.predict(extra), b.predict(extra), rtol=1e-10, atol=1e-12)
    assert fc.gam("y ~ x1 + g", extra).terms[0].levels == {"g": ["a", "b", "c"]}


def _arrow():
    return pytest.importorskip("pyarrow")


# column -> dtype spec; "arrow:..." entries need pyarrow (skipped when it is absent)
DTYPE_CASES = [
    ("x1", "Float64"),
    ("k", "Int64"),
    ("k", "UInt16"),
    ("b", "boolean"),
    ("g", "string"),
    ("g", "string[python]"),
    ("g", "str"),
    ("g", "category"),
    ("g", "object"),
    ("g", "arrow:string[pyarrow]"),
    ("g", "arrow:ArrowDtype(string)"),
    ("g", "arrow:ArrowDtype(large_string)"),
    ("g", "arrow:ArrowDtype(dictionary)"),
    ("g", "arrow:category(string[pyarrow] categories)"),
    ("x1", "arrow:float64[pyarrow]"),
    ("k", "arrow:int64[pyarrow]"),
    ("b", "arrow:bool[pyarrow]"),
    ("y", "Float64"),
    ("y", "arrow:double[pyarrow]"),
]


def _convert(series: pd.Series, spec: str) -> pd.Series:
    if not spec.startswith("arrow:"):
        return series.astype(spec)
    pa = _arrow()
    spec = spec[len("arrow:"):]
    if spec == "ArrowDtype(string)":
        return series.astype(pd.ArrowDtype(pa.string()))
    if spec == "ArrowDtype(large_string)":
        return series.astype(pd.ArrowDtype(pa.large_string()))
    if spec == "ArrowDtype(dictionary)":  # dictionary order = level order (as a category)
        levels = sorted(series.unique())
        codes = pa.array([levels.index(v) for v in series], type=pa.int32())
        array = pa.DictionaryArray.from_arrays(codes, pa.array(levels, type=pa.string()))
        return pd.Series(array, dtype=pd.ArrowDtype(array.type), index=series.index)
    if spec.startswith("category("):
        cats = pd.Index(sorted(series.unique()), dtype="string[pyarrow]")
        return pd.Series(pd.Categorical(series, categories=cats), index=series.index)
    return series.astype(spec)


@pytest.fixture
def typed(df):
    rng = np.random.default_rng(3)
    df["k"] = rng.integers(0, 6, size=len(df))
    df["b"] = rng.random(len(df)) > 0.5
    df["g"] = df["g"].astype(object)
    return df


@pytest.mark.parametrize("column, spec", DTYPE_CASES)
def test_nullable_and_arrow_dtypes_work_as_plain(typed, column, spec):
    formula = "y ~ x1 + k + b + g + krls(x2, x1) + re(k) + s(x2, k=5) + re(g)"
    if column == "g" and spec != "category":
        formula = formula.replace("+ g +", "+ g + krls(x2, k) +")
    reference = fc.gam(formula, typed)
    converted = typed.copy()
    converted[column] = _convert(typed[column], spec)
    assert converted[column].dtype != typed[column].dtype or spec == "object"
    fit = fc.gam(formula, converted)
    assert list(fit.coef_.index) == list(reference.coef_.index)
    np.testing.assert_allclose(fit.coef_, reference.coef_, rtol=1e-9, atol=1e-10)
    # new data with the same exotic dtype predicts as the plain frame does
    np.testing.assert_allclose(fit.predict(converted.iloc[:7]),
                               reference.predict(typed.iloc[:7]), rtol=1e-9, atol=1e-10)
    if column != "y":
        a = fc.marginal_effects(fit, [column], type="minmax")
        b = fc.marginal_effects(reference, [column], type="minmax")
        np.testing.assert_allclose(a.estimate, b.estimate, rtol=1e-8, atol=1e-10)


def test_category_dtype_factor_inside_krls_like_object(typed):
    """Strings (any storage) inside krls() still ask for an explicit category."""
    for spec in ("string", "str", "object"):
        d = typed.assign(g=typed.g.astype(spec))
        with pytest.raises(TypeError, match=r"convert it with data\[col\]\.astype\('category'\)"):
            fc.gam("y ~ krls(x1, g)", d)


def test_bool_response_is_zero_one(typed):
    typed["yb"] = typed.y > 0
    a = fc.gam("yb ~ x1", typed, family="binomial")
    b = fc.gam("yb ~ x1", typed.assign(yb=typed.yb.astype(float)), family="binomial")
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-12)
    c = fc.gam("yb ~ x1", typed.assign(yb=typed.yb.astype("boolean")), family="binomial")
    np.testing.assert_allclose(c.coef_, b.coef_, rtol=1e-12)


def test_object_column_of_numbers_is_numeric(df):
    a = fc.gam("y ~ x1 + x2", df)
    b = fc.gam("y ~ x1 + x2", df.assign(x2=pd.Series(df.x2.tolist(), dtype=object)))
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-12)


@pytest.mark.parametrize("formula", ["y ~ x1 + m", "y ~ x1 + re(m)", "y ~ krls(x1, m)"])
def test_object_column_with_mixed_types(df, formula):
    df["m"] = pd.Series([1, "a", 2.5] * 40, dtype=object)
    with pytest.raises(TypeError, match=r"column 'm' of data mixes value types \['float', "
                                        r"'int', 'str'\]; make it one type"):
        fc.gam(formula, df)


@pytest.mark.parametrize("where", ["fit", "predict"])
def test_duplicate_column_names(df, where):
    dup = pd.concat([df, df[["x1"]]], axis=1)
    match = r"has duplicate column name\(s\) \['x1'\]; rename or drop"
    if where == "fit":
        with pytest.raises(ValueError, match="data " + match):
            fc.gam("y ~ x1 + krls(x2)", dup)
        fc.gam("y ~ x2", dup)  # a duplicated column the model does not use is fine
    else:
        model = fc.gam("y ~ x1 + krls(x2)", df)
        with pytest.raises(ValueError, match="newdata " + match):
            model.predict(dup)


def _datetime_frame(df, kind):
    n = len(df)
    if kind == "datetime":
        df["t"] = pd.date_range("2020-01-01", periods=n, freq="D")
    elif kind == "datetime_tz":
        df["t"] = pd.date_range("2020-01-01", periods=n, freq="D", tz="UTC")
    elif kind == "timedelta":
        df["t"] = pd.to_timedelta(np.arange(n), unit="D")
    elif kind == "period":
        df["t"] = pd.period_range("2020-01", periods=n, freq="M")
    else:  # python date objects in an object column
        df["t"] = pd.Series(pd.date_range("2020-01-01", periods=n).date, dtype=object)
    return df


@pytest.mark.parametrize("kind", ["datetime", "datetime_tz", "timedelta", "period", "dates"])
@pytest.mark.parametrize("formula", ["y ~ t", "y ~ krls(t, x1)", "y ~ s(t)", "y ~ x1 + re(t)",
                                     "y ~ x1 + offset(t)", "t ~ x1"])
def test_datetime_columns_ask_for_a_conversion(df, kind, formula):
    d = _datetime_frame(df, kind)
    with pytest.raises(TypeError, match=r"column 't' of data has dtype .*convert it to a number"):
        fc.gam(formula, d)


def test_datetime_in_newdata(df):
    model = fc.gam("y ~ x1 + krls(x2)", df)
    new = df.iloc[:3].assign(x2=pd.date_range("2020", periods=3))
    with pytest.raises(TypeError, match="column 'x2' of newdata has dtype datetime64"):
        model.predict(new)


@pytest.mark.parametrize("column, formula", [("x1", "y ~ x1 + g"), ("x2", "y ~ krls(x2)"),
                                             ("x2", "y ~ s(x2)")])
def test_newdata_numeric_column_given_as_strings(df, column, formula):
    model = fc.gam(formula, df)
    new = df.iloc[:3].assign(**{column: ["1", "2", "a"]})
    with pytest.raises(TypeError, match=f"column '{column}'.*must be numeric|"
                                        f"column '{column}'.*was numeric when fitting"):
        model.predict(new)


# ----------------------------------------------------------------------------- formulas
@pytest.mark.parametrize(
    "formula, where",
    [
        ("y ~ y + x1", "the parametric part"),
        ("y ~ x1 + I(y ** 2)", "the parametric part"),
        ("y ~ krls(y, x1)", r"krls\(y,x1\)"),
        ("y ~ s(y)", r"s\(y\)"),
        ("y ~ x1 + re(y)", r"re\(y\)"),
        ("y ~ x1 + offset(y)", r"offset\(y\)"),
    ],
)
def test_response_on_the_right_hand_side(df, formula, where):
    with pytest.raises(ValueError, match=rf"the response 'y' also appears on the right-hand "
                                         rf"side \({where}\)"):
        fc.gam(formula, df)


@pytest.mark.parametrize(
    "formula, match",
    [
        ("y ~ x1 +", "ends with the operator '\\+'"),
        ("y ~ x1 *", "ends with the operator '\\*'"),
        ("y ~ (x1", "unbalanced parentheses"),
        ("y ~ x1)", "unbalanced parentheses"),
        ("y ~ krls(x1", "unbalanced parentheses"),
        ("~ x1", "the formula has no response"),
        ("y + x2 ~ x1", "the response \\(left of '~'\\) must be a single column name"),
        ("log(y) ~ x1", "transform columns in the data frame first"),
        ("y ~ x1 ~ x2", "exactly one '~'"),
        ("", "exactly one '~'"),
        ("y ~ foo(x1)", "unknown function foo\\(\\) in the formula term 'foo\\(x1\\)'"),
        ("y ~ sqrt(x1)", "unknown function sqrt\\(\\)"),
        ("y ~ t2(x1, x2)", "mgcv's t2\\(\\) is not available; use krls\\(x1, x2\\)"),
        ("y ~ x1:krls(x2)", "krls\\(\\) must be a term of its own, joined by '\\+'"),
        ("y ~ log(s(x1))", "s\\(\\) must be a term of its own"),
        ("y ~ krls(x1, x1)", "krls\\(\\): column\\(s\\) \\['x1'\\] listed more than once"),
        ("y ~ krls(x1) + krls(x1)", "the term\\(s\\) \\['krls\\(x1\\)'\\] more than once"),
        ("y ~ s(x1) + s(x1)", "the term\\(s\\) \\['s\\(x1\\)'\\] more than once"),
        ("y ~ x1 + offset(x2) + offset(x2)", "\\['offset\\(x2\\)'\\] more than once"),
        ("y ~ s(x1, 5)", "give options by keyword \\(e.g. k=5\\)"),
        ("y ~ krls()", "krls\\(\\) takes at least 1 column"),
        ("y ~ s(x1, x2, bs='cr')", "bs='cr' takes at most 1 column"),
        ("y ~ log(x1)", "NaN|null values"),
        ("y ~ offset(x1 + x2)", "offset\\(\\)'s argument must be a single column name"),
        ("y ~ 0", "the model has no coefficients"),
        ("y ~ -1", "the model has no coefficients"),
        ("y ~ x1 | g", "'\\|' is not supported in the formula"),
        ("y ~ (1 | g)", "'\\|' is not supported .* write random intercepts as re\\(g\\)"),
    ],
)
def test_formula_errors(df, formula, match):
    with pytest.raises(ValueError, match=match):
        fc.gam(formula, df)


def test_formula_not_a_string(df):
    with pytest.raises(TypeError, match="formula must be a string"):
        fc.gam(None, df)
    with pytest.raises(TypeError, match="formula must be a string"):
        fc.GAM([1, 2])
    with pytest.raises(ValueError, match="2 formulas for a family with 1 linear predictor"):
        fc.gam(["y ~ x1", "~ x2"], df)


def test_builtin_functions_and_odd_column_names_work(df):
    df["my x"] = df.x2
    df["é"] = df.x1
    df["log"] = np.random.default_rng(9).normal(size=len(df))  # named like a function
    df["resp onse"] = df.y
    fit = fc.gam("`resp onse` ~ abs(x1) + `my x` + log + krls(`my x`, é) + s(é, k=5)", df)
    assert {"abs(x1)", "my x", "log", "krls(my x,é).1", "s(é).1"} <= set(fit.coef_.index)
    fit.predict(df.iloc[:3])
    fc.marginal_effects(fit, ["my x", "é"])


@pytest.mark.parametrize(
    "option, error, match",
    [
        ("size=1.5", ValueError, "size must be a positive integer, got 1.5"),
        ("size=True", ValueError, "size must be a positive integer, got True"),
        ("size='a'", ValueError, "size must be a positive integer"),
        ("multiplier=0", ValueError, "multiplier must be a positive number"),
        ("multiplier=True", ValueError, "multiplier must be a positive number"),
        ("multiplier='x'", ValueError, "multiplier must be a positive number"),
        ("bandwidth='a'", ValueError, "bandwidth must be positive"),
        ("bandwidth=True", ValueError, "bandwidth must be positive"),
        ("bandwidth=0", ValueError, "bandwidth must be positive"),
        ("seed='x'", TypeError, "seed must be an int >= 0, None or a numpy Generator"),
        ("seed=1.5", TypeError, "seed must be an int >= 0"),
        ("seed=-1", ValueError, "seed must be >= 0, got -1"),
        ("sketch=3", TypeError, "sketch must be a string"),
        ("standardize=None", TypeError, "standardize must be a string"),
        ("indices=[]", ValueError, "indices must be a non-empty 1-D sequence"),
        ("multiplier=0.01", ValueError, "sketch size must be >= 1"),
    ],
)
def test_krls_bad_option_values(df, option, error, match):
    with pytest.raises(error, match=match):
        fc.gam(f"y ~ krls(x1, x2, {option})", df)


def test_krls_constant_column_warns(df):
    df["c"] = 1.0
    with pytest.warns(UserWarning, match=r"column\(s\) \['c'\] in krls\(x1,c\) are constant"):
        fc.gam("y ~ krls(x1, c)", df)


@pytest.mark.parametrize(
    "values, k, match",
    [
        (np.arange(5.0), 10, r"s\(z\): k=10 but column 'z' has only 5 unique value\(s\); "
                             r"use k <= 5"),
        (np.arange(2.0), 3, r"only 2 unique value\(s\); use k <= 2 \(and k >= 3"),
    ],
)
def test_spline_k_larger_than_unique_values(df, values, k, match):
    df["z"] = np.resize(values, len(df))
    with pytest.raises(ValueError, match=match):
        fc.gam(f"y ~ s(z, k={k}, bs='cr')", df)


def test_thin_plate_k_larger_than_unique_values(df):
    df["z"] = np.resize(np.arange(5.0), len(df))
    with pytest.raises(ValueError, match=r"s\(z\): k=10 but the covariates have only 5 "
                                         r"unique combinations; use k <= 5"):
        fc.gam("y ~ s(z)", df)


@pytest.mark.parametrize("k", ["5.0", "True", "'5'"])
def test_spline_bad_k(df, k):
    with pytest.raises(ValueError, match="k must be an integer >= 3"):
        fc.gam(f"y ~ s(x1, k={k})", df)


# ------------------------------------------------------------------------ data shapes
@pytest.mark.parametrize(
    "rows, formula, match",
    [
        (2, "y ~ x1", r"too few rows: 2 \(with positive weight\) for 2 unpenalized"),
        (4, "y ~ x1 + x2 + g + word", r"too few rows: 4 .* for 6 unpenalized"),
        (3, "y ~ x1 + s(x2, k=3)", r"3 unpenalized coefficient\(s\) \(2 parametric column\(s\) "
                                   r"\+ the unpenalized part of 1 smooth term"),
        (1, "y ~ x1", "the response 'y' is constant"),
    ],
)
def test_more_coefficients_than_rows(df, rows, formula, match):
    with pytest.raises(ValueError, match=match):
        fc.gam(formula, df.iloc[:rows])


def test_more_levels_than_rows(df):
    df["id"] = [f"i{i}" for i in range(len(df))]
    with pytest.raises(ValueError, match="too few rows: 10 .* for 11 unpenalized"):
        fc.gam("y ~ x1 + id", df.iloc[:10])


def test_all_nan_column_and_frame_without_columns(df):
    df["z"] = np.nan
    with pytest.raises(ValueError, match="column 'z' has 120 NaN"):
        fc.gam("y ~ x1 + z", df)
    with pytest.raises(ValueError, match="empty"):
        fc.gam("y ~ x1", pd.DataFrame())


@pytest.mark.parametrize(
    "weights, error, match",
    [
        (np.zeros(120), ValueError, "weights are all zero"),
        (-np.ones(120), ValueError, "weights must be non-negative; 120 are negative"),
        (np.r_[np.nan, np.ones(119)], ValueError, "weights contains NaN or infinite values"),
        (np.r_[np.inf, np.ones(119)], ValueError, "weights contains NaN or infinite values"),
        (np.ones(5), ValueError, r"weights must have one value per row \(120\)"),
        (np.ones((120, 2)), ValueError, r"weights must have one value per row"),
        (2.0, ValueError, r"weights must have one value per row"),
        (np.array(["a"] * 120), TypeError, "weights must be numeric"),
        (pd.Series(["a"] * 120), TypeError, "weights must be numeric"),
        ("nope", ValueError, r"no column\(s\) \['nope'\]"),
        ("g", TypeError, "column 'g' used in weights must be numeric"),
    ],
)
@pytest.mark.parametrize("family", ["gaussian", "binomial"])
def test_bad_weights(df, weights, error, match, family):
    df["y"] = (df.y > 0).astype(float)
    with pytest.raises(error, match=match):
        fc.gam("y ~ x1 + krls(x2)", df, family=family, weights=weights)


def test_nullable_weights_work(df):
    a = fc.gam("y ~ x1", df, weights=np.linspace(1, 2, 120))
    b = fc.gam("y ~ x1", df, weights=pd.array(np.linspace(1, 2, 120), dtype="Float64"))
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-12)
    with pytest.raises(ValueError, match="weights contains NaN"):
        fc.gam("y ~ x1", df, weights=pd.array([1.0, None] * 60, dtype="Float64"))


@pytest.mark.parametrize(
    "offset, error, match",
    [
        (np.ones(5), ValueError, r"offset must have one value per row \(120\)"),
        (1.0, ValueError, r"offset must have one value per row"),
        (np.array(["a"] * 120), TypeError, "offset must be numeric"),
        ("g", TypeError, "column 'g' used in offset must be numeric"),
        (np.r_[np.inf, np.zeros(119)], ValueError, "offset contains NaN or infinite"),
    ],
)
def test_bad_offset(df, offset, error, match):
    with pytest.raises(error, match=match):
        fc.gam("y ~ x1", df, offset=offset)


@pytest.mark.parametrize(
    "sp, error, match",
    [
        ([1.0, 2.0], ValueError, r"sp must be 1 positive finite number\(s\), one per smooth "
                                 r"term \['krls\(x2\)'\]"),
        ([-1.0], ValueError, r"sp must be positive finite numbers \(mgcv scale\), got "
                             r"\['krls\(x2\)=-1.0'\]"),
        ([0.0], ValueError, "sp must be positive finite"),
        ([np.nan], ValueError, "sp must be positive finite"),
        ([np.inf], ValueError, "sp must be positive finite"),
        (["a"], TypeError, "sp must be numbers"),
        ("a", TypeError, "sp must be numbers"),
        ([[1.0]], ValueError, r"got shape \(1, 1\)"),
        ({"krls(x9)": 1.0}, ValueError, r"unknown \['krls\(x9\)'\], missing \['krls\(x2\)'\]"),
    ],
)
def test_bad_smoothing_parameters(df, sp, error, match):
    with pytest.raises(error, match=match):
        fc.gam("y ~ x1 + krls(x2)", df, sp=sp)


def test_sp_by_name_and_without_smooths(df):
    a = fc.gam("y ~ x1 + krls(x2)", df, sp={"krls(x2)": 2.0})
    b = fc.gam("y ~ x1 + krls(x2)", df, sp=[2.0])
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-12)
    with pytest.raises(ValueError, match="sp= was given but the formula has no smooth terms"):
        fc.gam("y ~ x1", df, sp=[1.0])


# --------------------------------------------------------------------- families, links
@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"family": "gausian"}, ValueError, "unknown family 'gausian'"),
        ({"family": None}, TypeError, "family must be a string"),
        ({"family": ("binomial",)}, ValueError, r"family as a tuple must be \(name, link\)"),
        ({"family": ("binomial", "probit"), "link": "logit"}, ValueError,
         "the link is given twice"),
        ({"family": "binomial", "link": "identity"}, ValueError, "unknown binomial link"),
        ({"family": "binomial", "link": 3}, TypeError, "binomial link must be a string"),
        ({"method": "GCV.Cp"}, ValueError, r"unknown method 'GCV\.Cp'.*\['REML', 'ML'\]"),
    ],
)
def test_family_link_method_typos(df, kwargs, error, match):
    df["y"] = (df.y > 0).astype(float)
    with pytest.raises(error, match=match):
        fc.gam("y ~ x1", df, **kwargs)


def test_link_without_valid_starting_values(df):
    with pytest.raises(ValueError, match=r"cannot find valid starting values for "
                                         r"gaussian\(link='log'\)"):
        fc.gam("y ~ x1", df, family="gaussian", link="log")


def test_binomial_non_integer_successes_warn_as_r(df):
    df["p"] = np.resize([0.2, 0.5, 0.9], len(df))
    with pytest.warns(UserWarning, match="not a whole number of successes for 120 row"):
        fc.gam("p ~ x1", df, family="binomial")
    with warnings_as_errors():
        fc.gam("p ~ x1", df, family="binomial", weights=np.full(len(df), 10.0))


def warnings_as_errors():
    import warnings

    ctx = warnings.catch_warnings()
    ctx.__enter__()
    warnings.simplefilter("error", UserWarning)

    class _Exit:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            ctx.__exit__(*exc)
            return False

    return _Exit()


@pytest.mark.parametrize(
    "family, values, match",
    [
        ("binomial", ["u", "v"], "the response column 'y' must be numeric"),
        ("poisson", [1.0, 2.5], "poisson response 'y' must be non-negative integer"),
    ],
)
def test_response_values_for_family(df, family, values, match):
    df["y"] = np.resize(values, len(df))
    with pytest.raises((TypeError, ValueError), match=match):
        fc.gam("y ~ x1", df, family=family)


# --------------------------------------------------------------------------- predict
@pytest.fixture
def fitted(df):
    return fc.gam("y ~ x1 + g + krls(x2) + re(word)", df)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"type": "reponse"}, ValueError, "unknown predict type 'reponse'"),
        ({"type": None}, TypeError, "predict type must be a string"),
        ({"se": "no"}, TypeError, "se must be True or False, got 'no'"),
        ({"se": 1}, TypeError, "se must be True or False"),
        ({"vcov": "bayse"}, ValueError, "unknown vcov type 'bayse'"),
        ({"vcov": "bayse", "se": True}, ValueError, "unknown vcov type 'bayse'"),
        ({"vcov": np.eye(3), "se": True}, ValueError, r"vcov must be a \d+ x \d+ matrix"),
    ],
)
def test_predict_argument_errors(fitted, df, kwargs, error, match):
    with pytest.raises(error, match=match):
        fitted.predict(df.iloc[:3], **kwargs)


def test_predict_unseen_level_of_a_transformed_factor(df):
    model = fc.gam("y ~ x1 + C(g)", df)
    with pytest.raises(ValueError, match=r"meets categories not seen when fitting: \{'q'\}"):
        model.predict(df.iloc[:2].assign(g=["a", "q"]))


def test_predict_with_a_covariance_matrix(fitted, df):
    V = fitted.vcov("HC0")
    a = fitted.predict(df.iloc[:5], se=True, vcov=V.to_numpy())
    b = fitted.predict(df.iloc[:5], se=True, vcov="HC0")
    np.testing.assert_allclose(a["se"], b["se"], rtol=1e-12)


def test_unfitted_model(df):
    model = fc.GAM("y ~ x1")
    with pytest.raises(ValueError, match="not fitted yet"):
        model.predict(df)
    with pytest.raises(ValueError, match="not fitted yet"):
        model.vcov()
    with pytest.raises(ValueError, match="not fitted yet"):
        fc.marginal_effects(model, ["x1"])
    with pytest.raises(ValueError, match="not fitted yet"):
        model.summary()
    with pytest.raises(ValueError, match="not fitted yet"):
        model.tidy()


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"type": "HC3"}, ValueError, "unknown vcov type 'HC3'"),
        ({"type": "cluster"}, ValueError, "needs cluster="),
        ({"type": "cluster", "cluster": np.arange(5)}, ValueError, "one value per training row"),
        ({"type": "cluster", "cluster": np.r_[np.nan, np.arange(119) % 4]}, ValueError,
         "missing values"),
        ({"type": "cluster", "cluster": np.zeros(120)}, ValueError, "need at least 2"),
    ],
)
def test_vcov_argument_errors(fitted, kwargs, error, match):
    with pytest.raises(error, match=match):
        fitted.vcov(**kwargs)


def test_predict_nullable_string_factor_newdata(fitted, df):
    new = df.iloc[:4].astype({"g": "string", "word": "string"})
    np.testing.assert_allclose(fitted.predict(new), fitted.predict(df.iloc[:4]), rtol=1e-12)


# ------------------------------------------------------------------ effects
@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"variables": []}, ValueError, "variables is empty"),
        ({"variables": 3}, TypeError, "variables must be a column name or a list"),
        ({"variables": ["x1", "x1"]}, ValueError, r"variables lists \['x1'\] more than once"),
        ({"variables": ["zz"]}, ValueError, "variable 'zz' is not in the model"),
        ({"variables": ["y"]}, ValueError, "'y' is the model's response"),
        ({"variables": ["x1"], "type": "deriv"}, ValueError, "unknown effect type 'deriv'"),
        ({"variables": ["x1"], "individual": "yes"}, TypeError, "individual must be True"),
        ({"variables": ["x1"], "vcov": "HC9"}, ValueError, "unknown vcov type 'HC9'"),
        ({"variables": ["x1"], "vcov": np.eye(2)}, ValueError, "vcov must be a vcov type name"),
        ({"variables": ["x1"], "epsilon": 0}, ValueError, "epsilon must be a small positive"),
        ({"variables": ["x1"], "conditional": pd.DataFrame({"zz": [1]})}, ValueError,
         "variable 'zz' is not in the model"),
        ({"variables": ["x1"], "conditional": pd.DataFrame({"x2": [np.nan]})}, ValueError,
         "column 'x2' has 1 NaN"),
        ({"variables": ["x1"], "data": pd.DataFrame({"x1": [0.0]})}, ValueError,
         r"data has no column\(s\)"),
    ],
)
def test_marginal_effects_argument_errors(fitted, kwargs, error, match):
    with pytest.raises(error, match=match):
        fc.marginal_effects(fitted, **kwargs)


def test_marginal_effects_nan_vcov_and_not_a_model(fitted):
    p = len(fitted.coef_)
    with pytest.raises(ValueError, match="vcov contains NaN"):
        fc.marginal_effects(fitted, ["x1"], vcov=np.full((p, p), np.nan))
    with pytest.raises(TypeError, match="model must be a fitted GAM"):
        fc.marginal_effects("fit", ["x1"])


def test_zero_by_construction_contrasts(df):
    df["z"] = np.where(np.arange(len(df)) < 100, 0.5, np.arange(len(df)) * 1.0)
    model = fc.gam("y ~ krls(x1, z)", df)
    with pytest.raises(ValueError, match="equal 25% and 75% quantiles"):
        fc.marginal_effects(model, ["z"], type="IQR")
    fc.marginal_effects(model, ["z"], type="minmax")
    with pytest.raises(ValueError, match="constant in data, so its onesd contrast is zero"):
        fc.marginal_effects(model, ["x1"], type="onesd", data=df.assign(x1=0.3))
    with pytest.raises(ValueError, match="single level in data"):
        model2 = fc.gam("y ~ x1 + g", df)
        fc.marginal_effects(model2, ["g"], data=df.assign(g="a"))


def test_factor_with_derivative_type_is_a_level_contrast(fitted):
    out = fc.marginal_effects(fitted, ["g"], type="derivative")
    assert list(out.term) == ["gb", "gc"] and set(out.type) == {"factor"}


@pytest.mark.parametrize(
    "variables, error, match",
    [
        ([], ValueError, "variables is empty"),
        ("x1", ValueError, "interactions need two variables"),
        (["x1"], ValueError, "pairs of two distinct variables"),
        (["x1", "x1"], ValueError, "pairs of two distinct variables"),
        (["x1", "x2", "g"], ValueError, "pairs of two distinct variables"),
        (None, TypeError, "variables must be a pair of column names"),
        (3, TypeError, "variables must be a pair of column names"),
        ([("x1", "x2"), "g"], TypeError, "each interaction must be a pair"),
        (["x1", "zz"], ValueError, "variable 'zz' is not in the model"),
    ],
)
def test_interactions_argument_errors(fitted, variables, error, match):
    with pytest.raises(error, match=match):
        fc.interactions(fitted, variables)


def test_interactions_empty_qoi(fitted):
    with pytest.raises(ValueError, match="qoi is empty"):
        fc.interactions(fitted, ["x1", "x2"], qoi=[])


# ------------------------------------------------------------------ KRLSRegressor
@pytest.mark.parametrize(
    "params, error, match",
    [
        ({"sketch": "bad"}, ValueError, "KRLSRegressor: unknown krls\\(\\) sketch 'bad'"),
        ({"multiplier": True}, ValueError, "KRLSRegressor: krls\\(\\) multiplier"),
        ({"size": 0}, ValueError, "KRLSRegressor: krls\\(\\) size must be a positive integer"),
        ({"size": 2.5}, ValueError, "size must be a positive integer"),
        ({"bandwidth": "a"}, ValueError, "bandwidth must be positive"),
        ({"seed": -1}, ValueError, "seed must be >= 0"),
        ({"seed": "a"}, TypeError, "seed must be an int"),
        ({"standardize": "z"}, ValueError, "unknown krls\\(\\) standardize 'z'"),
        ({"block_rows": 0}, ValueError, "KRLSRegressor: block_rows must be >= 1, got 0"),
        ({"block_rows": 2.5}, TypeError, "block_rows must be an integer"),
    ],
)
@pytest.mark.parametrize("constant_x", [False, True])
def test_krls_regressor_bad_params(params, error, match, constant_x):
    rng = np.random.default_rng(0)
    X = np.ones((40, 2)) if constant_x else rng.normal(size=(40, 2))
    y = rng.normal(size=40)
    with pytest.raises(error, match=match):
        fc.KRLSRegressor(**params).fit(X, y)


def test_krls_regressor_return_std_must_be_bool():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 2)), rng.normal(size=40)
    model = fc.KRLSRegressor().fit(X, y)
    with pytest.raises(TypeError, match="return_std must be True or False"):
        model.predict(X, return_std="no")


def test_cluster_argument_without_cluster_vcov_is_an_error():
    rng = np.random.default_rng(0)
    d = pd.DataFrame({"x": rng.normal(size=80), "g": rng.integers(0, 8, 80)})
    d["y"] = d.x + rng.normal(size=80)
    fit = fc.gam("y ~ x", d)
    with pytest.raises(ValueError, match="cluster= is only used with vcov type 'cluster'"):
        fit.vcov("HC1", cluster="g")
    with pytest.raises(ValueError, match="cluster= is only used"):
        fc.marginal_effects(fit, ["x"], vcov="bayes", cluster="g")


def test_kernel_column_on_a_tiny_scale_warns_that_it_is_dropped():
    rng = np.random.default_rng(3)
    d = pd.DataFrame({"u": rng.uniform(size=200), "v": rng.normal(size=200) * 1e-6})
    d["y"] = np.sin(6 * d.u) + rng.normal(0, 0.1, 200)
    with pytest.warns(UserWarning, match=r"krls\(\): 1 direction\(s\) .* are dropped"):
        fc.gam("y ~ krls(u, v)", d)
