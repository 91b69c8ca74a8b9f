"""Bad input to the RFP estimators gets a clear ValueError / TypeError naming the culprit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from flexcausal.cluster import ClusterClassifier, ClusterRegressor, LocalLinear


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    g = np.repeat(np.arange(4), 5)
    return rng.normal(size=(20, 2)), rng.normal(size=20), g


def test_groups_missing(data):
    X, y, _ = data
    with pytest.raises(ValueError, match="groups is required"):
        ClusterRegressor().fit(X, y)


def test_groups_length_mismatch(data):
    X, y, g = data
    with pytest.raises(ValueError, match="groups has 19 entries but X has 20 rows"):
        ClusterRegressor().fit(X, y, groups=g[:-1])


def test_groups_with_missing_labels(data):
    X, y, g = data
    groups = g.astype(float)
    groups[3] = np.nan
    with pytest.raises(ValueError, match="groups has 1 missing"):
        ClusterRegressor().fit(X, y, groups=groups)


def test_fewer_than_two_clusters(data):
    X, y, _ = data
    with pytest.raises(ValueError, match="1 distinct cluster"):
        ClusterRegressor().fit(X, y, groups=np.zeros(20))


def test_too_few_clusters_for_early_stopping(data):
    X, y, _ = data
    g = np.repeat([0, 1], 10)
    with pytest.raises(ValueError, match="need >= 1 held-out and >= 2 training"):
        ClusterRegressor(early_stopping=True).fit(X, y, groups=g)
    with pytest.raises(ValueError, match="validation_fraction"):
        ClusterRegressor(early_stopping=True, validation_fraction=1.5).fit(X, y, groups=data[2])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_in_X_or_y(data, bad):
    X, y, g = data
    X2 = X.copy()
    X2[3, 1] = bad
    with pytest.raises(ValueError, match="X contains NaN or infinite"):
        ClusterRegressor().fit(X2, y, groups=g)
    y2 = y.copy()
    y2[7] = bad
    with pytest.raises(ValueError, match="y contains 1 NaN or infinite"):
        ClusterRegressor().fit(X, y2, groups=g)


def test_y_length_mismatch(data):
    X, y, g = data
    with pytest.raises(ValueError, match="y has 19 entries"):
        ClusterRegressor().fit(X, y[:-1], groups=g)


@pytest.mark.parametrize("a", [-0.1, 1.5, np.nan])
def test_pooled_weight_outside_unit_interval(data, a):
    with pytest.raises(ValueError, match="pooled_weight must be in"):
        ClusterRegressor(pooled_weight=a).fit(*data[:2], groups=data[2])


def test_pooled_weight_not_a_number(data):
    with pytest.raises(TypeError, match="pooled_weight must be a number"):
        ClusterRegressor(pooled_weight="half").fit(*data[:2], groups=data[2])


def test_negative_or_fractional_inner_steps(data):
    with pytest.raises(ValueError, match="inner_steps must be >= 0, got -1"):
        ClusterRegressor(inner_steps=-1).fit(*data[:2], groups=data[2])
    with pytest.raises(TypeError, match="inner_steps must be an integer"):
        ClusterRegressor(inner_steps=1.5).fit(*data[:2], groups=data[2])


@pytest.mark.parametrize(
    "kw,err,msg",
    [
        ({"inner_lr": 0.0}, ValueError, "inner_lr must be a finite number > 0"),
        ({"hidden": (8, 0)}, ValueError, r"hidden \(layer widths\) must be a tuple of integers"),
        ({"activation": "cosine"}, ValueError, "unknown activation"),
        ({"optimizer": "lbfgsx"}, ValueError, "unknown optimizer"),
        ({"epochs": 0}, ValueError, "epochs must be >= 1"),
        ({"batch_clusters": 0}, ValueError, "batch_clusters must be >= 1"),
        ({"seed": 1.5}, TypeError, "seed must be an integer"),
    ],
)
def test_other_hyperparameters(data, kw, err, msg):
    with pytest.raises(err, match=msg):
        ClusterRegressor(**kw).fit(*data[:2], groups=data[2])


def test_classifier_labels_not_binary(data):
    X, _, g = data
    with pytest.raises(ValueError, match="binary labels .* has 3"):
        ClusterClassifier().fit(X, np.arange(20) % 3, groups=g)
    with pytest.raises(ValueError, match="has 1"):
        ClusterClassifier().fit(X, np.ones(20), groups=g)
    with pytest.raises(ValueError, match=r"y has 1 missing \(NaN/None\) labels"):
        ClusterClassifier().fit(X, np.r_[np.nan, np.arange(19) % 2], groups=g)


def test_non_numeric_X_and_1d_X(data):
    X, y, g = data
    with pytest.raises(TypeError, match="X must be numeric"):
        ClusterRegressor().fit(X.astype(str).astype(object), y, groups=g)
    with pytest.raises(ValueError, match="must be 2-D"):
        ClusterRegressor().fit(X[:, 0], y, groups=g)


def test_predict_before_fit_and_wrong_width(data):
    X, y, g = data
    with pytest.raises(RuntimeError, match="not fitted"):
        ClusterRegressor().predict(X)
    m = ClusterRegressor(hidden=(), epochs=1, inner_steps=0).fit(X, y, groups=g)
    with pytest.raises(ValueError, match="X has 3 columns but the model was fitted on 2"):
        m.predict(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="y_c has 2 entries"):
        m.adapt(X[:3], y[:2])


def test_local_linear_bad_input(data):
    X, y, g = data
    with pytest.raises(ValueError, match="groups has 5 entries"):
        LocalLinear().fit(X, y, groups=g[:5])
    with pytest.raises(ValueError, match="y contains 1 NaN"):
        LocalLinear().fit(X, np.r_[np.nan, y[1:]])


# ------------------------------------------------------------------ divergence
@pytest.fixture
def panel():
    rng = np.random.default_rng(0)
    C, m = 12, 6
    g = np.repeat(np.arange(C), m)
    X = rng.normal(size=(C * m, 3))
    y = X[:, 0] + rng.normal(size=C)[g] + 0.3 * rng.normal(size=C * m)
    return X, y, g


def test_huge_inner_lr_warns_naming_inner_lr(panel):
    """The tester's case: inner_lr=1e6 trained to R_k ~ 1e23 without a word (here without
    the safeguard, which tests/cluster/test_safeguard.py covers)."""
    X, y, g = panel
    match = r"RFP training diverged.*lower inner_lr \(now 1e\+06\)"
    with pytest.warns(RuntimeWarning, match=match):
        m = ClusterRegressor(hidden=(8,), epochs=3, inner_lr=1e6,
                             inner_safeguard="none").fit(X, y, groups=g)
    assert m.loss_curve_[-1] > 1e3


def test_non_finite_training_loss_raises_naming_learning_rate(panel):
    X, y, g = panel
    with pytest.raises(FloatingPointError, match=r"diverged.*lower learning_rate \(now 100\)"):
        ClusterRegressor(hidden=(8,), epochs=30, optimizer="sgd", learning_rate=100.0,
                         inner_steps=0).fit(X, y, groups=g)


def test_sane_fit_does_not_warn(panel, recwarn):
    X, y, g = panel
    m = ClusterRegressor(hidden=(8,), epochs=3).fit(X, y, groups=g)
    m.adapt(X[:6], y[:6]).predict(X[:2])
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_adapt_overshoot_warns_and_non_finite_raises(panel):
    X, y, g = panel
    with pytest.warns(RuntimeWarning, match="training diverged"):
        m = ClusterRegressor(hidden=(8,), epochs=2, inner_lr=3.0,
                             inner_safeguard="none").fit(X, y, groups=g)
    with pytest.warns(RuntimeWarning, match=r"adapt diverged: 1 inner step\(s\) raised the loss"):
        m.adapt(X[:6], y[:6], steps=1)
    with pytest.raises(FloatingPointError, match=r"adapt diverged.*lower inner_lr \(now 3\)"):
        m.adapt(X[:6], y[:6], steps=40)


# ------------------------------------------------------------------ data types
@pytest.mark.parametrize("kind", ["Float64", "Int64", "boolean", "numpy_bool"])
def test_nullable_and_bool_inputs_work_as_plain(data, kind):
    X, y, g = data
    if kind == "numpy_bool":
        Xn, Xp = X > 0, (X > 0).astype(float)
    elif kind == "boolean":
        Xn = pd.DataFrame({"a": pd.array(X[:, 0] > 0, dtype="boolean"), "b": X[:, 1]})
        Xp = np.column_stack([X[:, 0] > 0, X[:, 1]]).astype(float)
    else:
        Xp = np.round(X * 3)
        Xn = pd.DataFrame(Xp).astype(kind)
    kw = dict(hidden=(), epochs=2, inner_steps=0)
    a = ClusterRegressor(**kw).fit(Xn, pd.Series(y, dtype="Float64"),
                                   groups=pd.Series(g, dtype="Int64"))
    b = ClusterRegressor(**kw).fit(Xp, y, groups=g)
    np.testing.assert_allclose(a.predict(Xn), b.predict(Xp), rtol=1e-6)


def test_classifier_nullable_boolean_labels(data):
    X, y, g = data
    m = ClusterClassifier(hidden=(), epochs=1, inner_steps=0).fit(
        X, pd.Series(y > 0, dtype="boolean"), groups=g)
    assert set(m.classes_.tolist()) == {False, True}


@pytest.mark.parametrize(
    "make_args, err, match",
    [
        (lambda X, y, g: (X.astype(complex), y, g), TypeError, "X must be real-valued"),
        (lambda X, y, g: (pd.DataFrame({"a": X[:, 0], "city": ["x", "y"] * 10}), y, g),
         TypeError, "X column 'city' must be numeric"),
        (lambda X, y, g: (X, y.astype(str), g), TypeError, "y must be numeric"),
        (lambda X, y, g: (X, y, np.array([1, "a"] * 10, dtype=object)), TypeError,
         r"groups mixes label types \['int', 'str'\]"),
        (lambda X, y, g: (X, y, pd.Series(g, dtype="Int64").where(g != 0, pd.NA)), ValueError,
         "groups has 5 missing"),
        (lambda X, y, g: (X, y, g[:, None]), ValueError, "groups must be 1-D"),
        (lambda X, y, g: (X[:0], y[:0], g[:0]), ValueError, "X is empty"),
        (lambda X, y, g: (X[:1], y[:1], g[:1]), ValueError, "1 distinct cluster"),
        (lambda X, y, g: (X[:, :, None], y, g), ValueError, "X must be 2-D"),
        (lambda X, y, g: (X, pd.Series(y, dtype="Float64").where(g != 1, pd.NA), g),
         ValueError, "y contains 5 NaN"),
    ],
)
def test_bad_data(data, make_args, err, match):
    X, y, g = make_args(*data)
    with pytest.raises(err, match=match):
        ClusterRegressor(hidden=(), epochs=1).fit(X, y, groups=g)


def test_classifier_mixed_label_types(data):
    X, _, g = data
    with pytest.raises(TypeError, match=r"y mixes label types"):
        ClusterClassifier().fit(X, np.array([1, "1"] * 10, dtype=object), groups=g)


def test_cluster_of_size_one_is_fine(data):
    X, y, _ = data
    g = np.r_[0, np.ones(19)]
    ClusterRegressor(hidden=(4,), epochs=1).fit(X, y, groups=g).predict(X[:2])


def test_adapt_argument_names(data):
    X, y, g = data
    m = ClusterRegressor(hidden=(), epochs=1, inner_steps=1).fit(X, y, groups=g)
    with pytest.raises(ValueError, match="X_c has 1 columns but the model was fitted on 2"):
        m.adapt(X[:3, :1], y[:3])
    with pytest.raises(ValueError, match="X_c is empty"):
        m.adapt(X[:0], y[:0])
    with pytest.raises(ValueError, match="y_c contains 1 NaN"):
        m.adapt(X[:3], np.r_[np.nan, y[1:3]])
    with pytest.raises(ValueError, match="steps must be >= 0"):
        m.adapt(X[:3], y[:3], steps=-1)
    with pytest.raises(RuntimeError, match="not fitted"):
        ClusterRegressor().adapt(X[:3], y[:3])


# ------------------------------------------------------------------ hyperparameters
@pytest.mark.parametrize(
    "kw, err, msg",
    [
        ({"hidden": None}, TypeError, r"hidden \(layer widths\) must be a tuple of integers"),
        ({"hidden": 1.5}, TypeError, r"hidden \(layer widths\)"),
        ({"hidden": True}, TypeError, r"hidden \(layer widths\)"),
        ({"hidden": "64"}, TypeError, r"hidden \(layer widths\)"),
        ({"first_order": "yes"}, TypeError, "first_order must be True or False"),
        ({"early_stopping": 1.0}, TypeError, "early_stopping must be True or False"),
        ({"standardize": None}, TypeError, "standardize must be True, False or .X."),
        ({"verbose": "loud"}, TypeError, "verbose"),
        ({"tol": np.nan}, ValueError, "tol must be a finite number >= 0"),
        ({"tol": -1.0}, ValueError, "tol must be a finite number >= 0"),
        ({"tol": "a"}, TypeError, "tol must be a non-negative number"),
        ({"seed": -1}, ValueError, "seed must be >= 0"),
        ({"inner_lr": np.inf}, ValueError, "inner_lr must be a finite number > 0"),
        ({"inner_lr": -1e-3}, ValueError, "inner_lr must be a finite number > 0"),
        ({"learning_rate": np.nan}, ValueError, "learning_rate must be a finite number > 0"),
        ({"learning_rate": "fast"}, TypeError, "learning_rate must be a positive number"),
        ({"early_stopping": True, "validation_fraction": "a"}, TypeError,
         "validation_fraction must be a number"),
    ],
)
def test_more_bad_hyperparameters(data, kw, err, msg):
    with pytest.raises(err, match=msg):
        ClusterRegressor(**kw).fit(*data[:2], groups=data[2])


@pytest.mark.parametrize(
    "kw, fit_kw, err, msg",
    [
        ({"neighbors_grid": []}, {}, ValueError, "neighbors_grid must hold at least one value"),
        ({"neighbors_grid": [0, 5]}, {}, ValueError, "neighbors_grid must be a tuple of int"),
        ({"neighbors_grid": 2.5}, {}, TypeError, "neighbors_grid must be a tuple of int"),
        ({"ridge": np.nan}, {}, ValueError, "ridge must be a finite number >= 0"),
        ({"ridge": -1.0}, {}, ValueError, "ridge must be a finite number >= 0"),
        ({"standardize": "yes"}, {}, TypeError, "standardize must be True or False"),
        ({"cv": 50}, {}, ValueError, "cv=50 folds but only 20 rows"),
    ],
)
def test_local_linear_bad_hyperparameters(data, kw, fit_kw, err, msg):
    X, y, _ = data
    with pytest.raises(err, match=msg):
        LocalLinear(**kw).fit(X, y, **fit_kw)


def test_local_linear_constant_X(data):
    _, y, _ = data
    with pytest.raises(ValueError, match="X has no variation"):
        LocalLinear().fit(np.ones((20, 2)), y)


def test_diagnostics_bad_queries(data):
    from flexcausal.cluster.diagnostics import other_cluster_neighbor_fraction

    X, _, g = data
    with pytest.raises(ValueError, match="queries have 1 columns but X has 2"):
        other_cluster_neighbor_fraction(X, g, 3, queries=X[:2, :1], query_groups=[0, 1])
    with pytest.raises(ValueError, match="n_neighbors=30 exceeds the 20 rows of X"):
        other_cluster_neighbor_fraction(X, g, 30, queries=X[:2], query_groups=[0, 1])
    with pytest.raises(ValueError, match="query_groups is required with queries"):
        other_cluster_neighbor_fraction(X, g, 3, queries=X[:2])
