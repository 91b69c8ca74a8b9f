"""Bad input to the RFP estimators gets a clear ValueError / TypeError naming the culprit."""

from __future__ import annotations

import numpy as np
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
        ({"hidden": (8, 0)}, ValueError, "hidden must be a tuple of positive"),
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
