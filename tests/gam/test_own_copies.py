"""A fitted model owns copies of what it keeps: editing the caller's frame or arrays
after fitting changes no prediction, marginal effect or variance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import flexcausal as fc
from flexcausal.gkrls.sklearn import KRLSRegressor

FORMULA = "y ~ x3 + f + krls(x1, x2) + re(g) + s(z, bs='cr', k=5)"


def make_frame(n=150, seed=11):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "x1": rng.normal(size=n), "x2": rng.normal(size=n), "x3": rng.normal(size=n),
        "z": rng.uniform(size=n),
        "f": pd.Categorical(rng.choice(["lo", "mid", "hi"], size=n)),
        "g": rng.integers(0, 6, size=n),
        "school": rng.integers(0, 12, size=n),  # cluster ids outside the model
        "sid": rng.choice([f"s{i}" for i in range(10)], size=n),
        "fid": rng.integers(0, 8, size=n).astype(float),  # ids read as floats
        "noise": rng.normal(size=n),  # a continuous column the model does not use
    })
    df["y"] = np.sin(df.x1) + 0.4 * df.x3 + (df.f == "hi") + 0.1 * df.g + rng.normal(0, .3, n)
    df["yb"] = (df.y > df.y.median()).astype(float)
    return df


def results(model, new):
    return {
            "predict_train": model.predict(),
        "fitted": np.array(model.fitted_values_),
        "predict_new": model.predict(new, se=True),
        "ame": fc.marginal_effects(model, ["x1", "x3"]),
        "ame_cluster": fc.marginal_effects(model, ["x3"], vcov="cluster", cluster="school"),
        "V_g": model.vcov("cluster", cluster="g"),
        "V_school": model.vcov("cluster", cluster="school"),
        "V_sid": model.vcov("cluster", cluster="sid"),
        "V_fid": model.vcov("cluster", cluster="fid"),
        "V_hc1": model.vcov("HC1"),
    }


def assert_same(before, after):
    for key, value in before.items():
        other = after[key]
        if isinstance(value, pd.DataFrame):
            pd.testing.assert_frame_equal(other, value, check_exact=True, obj=key)
        else:
            np.testing.assert_array_equal(other, value, err_msg=key)


def edit_values(df):
    df["x1"] *= 10.0
    df.loc[df.index[:40], "y"] = 99.0
    df.loc[:, "x3"] = 0.5
    df["g"] = df["g"].to_numpy()[::-1]
    df["school"] = 0
    df["sid"] = "same"
    df["fid"] = df["fid"] + 0.5
    df["f"] = pd.Categorical(["lo"] * len(df), categories=["lo", "mid", "hi"])


def edit_columns(df):
    for col in ("x1", "g", "school", "sid"):
        del df[col]
    df["new"] = 1.0
    df.insert(0, "first", "x")
    df.columns = [c if c != "x3" else "x3_renamed" for c in df.columns]


def edit_rows(df):
    order = np.argsort(df["x2"].to_numpy())
    for col in df.columns:  # the same frame object, rows in another order
        df[col] = df[col].iloc[order].to_numpy()


def edit_dtypes(df):
    df["f"] = df["f"].astype(str) + "_changed"
    df["g"] = df["g"] + 0.25
    df["z"] = df["z"].astype(np.float32)


EDITS = {"values": edit_values, "columns dropped/added/renamed": edit_columns,
         "rows reordered": edit_rows, "dtypes changed": edit_dtypes}


@pytest.mark.parametrize("family, formula", [
    ("gaussian", FORMULA),
    ("binomial", "yb ~ x3 + f + krls(x1, x2) + re(g)"),
])
@pytest.mark.parametrize("edit", sorted(EDITS))
def test_editing_the_frame_after_fit_changes_nothing(family, formula, edit):
    df = make_frame()
    new = df.iloc[::5].copy()
    model = fc.gam(formula, df, family=family)
    before = results(model, new)
    EDITS[edit](df)
    assert_same(before, results(model, new))


def test_arrays_passed_in_are_copied():
    """A frame over a NumPy buffer, weights and offset arrays: all edited in place after."""
    base = make_frame()
    buffer = np.ascontiguousarray(base[["x1", "x2", "x3", "z", "y"]].to_numpy())
    df = pd.DataFrame(buffer, columns=["x1", "x2", "x3", "z", "y"], copy=False)
    df["school"] = base["school"].to_numpy()
    weights = np.random.default_rng(1).uniform(0.5, 2.0, len(df))
    offset = np.linspace(-0.1, 0.1, len(df))
    cluster = base["school"].to_numpy().copy()
    model = fc.gam("y ~ x3 + krls(x1, x2) + s(z, bs='cr', k=5)", df, weights=weights,
                   offset=offset)
    new = base.iloc[::5].copy()

    def results():
        return {
            "predict_train": model.predict(),
            "fitted": np.array(model.fitted_values_),
            "predict_new": model.predict(new),
            "ame": fc.marginal_effects(model, ["x1"]),
            "V_hc0": model.vcov("HC0"),
            "V_cluster": model.vcov("cluster", cluster=cluster),
            "V_school": model.vcov("cluster", cluster="school"),
        }

    before = results()
    if np.shares_memory(buffer, df["x1"].to_numpy()):  # the frame really is a view
        buffer[:] = 0.0
    weights[:] = 7.0
    offset[:] = 3.0
    del df["school"]
    after = results()
    assert_same(before, after)


def test_model_keeps_only_copies_of_the_columns_it_can_use():
    df = make_frame()
    model = fc.gam(FORMULA, df)
    kept = model.training_["data"]
    # yb: a 0/1 float column, kept as a possible id column
    assert set(kept.columns) == {"y", "x1", "x2", "x3", "z", "f", "g", "school", "sid", "fid",
                                 "yb"}
    assert isinstance(kept["sid"].dtype, pd.CategoricalDtype)  # strings stored compactly
    for col in kept.columns:
        if col != "sid":
            assert not np.shares_memory(kept[col].to_numpy(), df[col].to_numpy()), col
    for enc in model.training_["encodings"]:
        for col in ("x1", "x2", "x3", "z", "y"):
            assert not np.shares_memory(enc, df[col].to_numpy())
    assert not np.shares_memory(model.training_["y"], df["y"].to_numpy())
    with pytest.raises(ValueError, match="'noise' is not in the training data"):
        model.vcov("cluster", cluster="noise")  # continuous: not kept (pass the values)
    by_value = model.vcov("cluster", cluster=df["noise"].to_numpy())  # values always work
    assert by_value.shape == (len(model.coef_), len(model.coef_))


def test_weights_column_is_copied():
    df = make_frame()
    df["w"] = np.random.default_rng(2).uniform(0.5, 2.0, len(df))
    model = fc.gam("y ~ x3 + krls(x1, x2)", df, weights="w")
    before = model.vcov("HC1").to_numpy()
    df.loc[:, "w"] = 1.0
    del df["w"]
    np.testing.assert_array_equal(model.vcov("HC1").to_numpy(), before)


def test_krls_regressor_owns_its_training_data():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(120, 2))
    y = np.sin(X[:, 0]) + rng.normal(0, 0.2, 120)
    sw = rng.uniform(0.5, 2.0, 120)
    X_test = rng.normal(size=(30, 2))
    reg = KRLSRegressor().fit(X, y, sample_weight=sw)
    mean, std = reg.predict(X_test, return_std=True)
    coef = reg.coef_.copy()
    X[:] = 0.0
    y[:] = 1.0
    sw[:] = 3.0
    mean2, std2 = reg.predict(X_test, return_std=True)
    np.testing.assert_array_equal(mean2, mean)
    np.testing.assert_array_equal(std2, std)
    np.testing.assert_array_equal(reg.coef_, coef)
    np.testing.assert_array_equal(reg.model_.predict(), reg.model_.predict())  # still usable


def test_local_linear_owns_its_training_data():
    from flexcausal.cluster import LocalLinear

    rng = np.random.default_rng(6)
    X = rng.normal(size=(80, 2))
    y = X[:, 0] ** 2 + rng.normal(0, 0.1, 80)
    X_test = rng.normal(size=(10, 2))
    est = LocalLinear(n_neighbors=20).fit(X, y)
    before = est.predict(X_test)
    X[:] = 0.0
    y[:] = 5.0
    np.testing.assert_array_equal(est.predict(X_test), before)


@pytest.mark.parametrize("name", ["KIV", "Sieve2SLS", "Linear2SLS"])
def test_npiv_estimators_own_their_training_data(name):
    from flexcausal import iv

    rng = np.random.default_rng(8)
    n = 200
    z = rng.normal(size=(n, 1))
    x = z + 0.5 * rng.normal(size=(n, 1))
    y = np.sin(x[:, 0]) + 0.1 * rng.normal(size=n)
    grid = np.linspace(-1, 1, 7)[:, None]
    est = getattr(iv, name)().fit(x, z, y)
    before = est.predict(grid)
    x[:] = 0.0
    z[:] = 0.0
    y[:] = 0.0
    np.testing.assert_array_equal(est.predict(grid), before)
