"""KRLSClassifier: scikit-learn conformance, agreement with fc.gam(family="binomial"),
labels, weights, degenerate and separated data."""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import special
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import parametrize_with_checks

import flexcausal as fc
from flexcausal import KRLSClassifier

EXPECTED_FAILED_CHECKS = {
    # As for KRLSRegressor: weights are mgcv prior (precision) weights and the kernel basis
    # (standardization, sketch) uses every row whatever its weight, as mgcv/gKRLS do:
    # weight 2 is not a duplicated row and weight 0 is not a dropped row.
    "check_sample_weight_equivalence_on_dense_data": "precision weights, basis on all rows",
}

@parametrize_with_checks(
    [KRLSClassifier()], expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS
)
def test_sklearn_conformance(estimator, check):
    check(estimator)


def _hills(n, seed):
    """P(y = 1 | x) = expit(3 sin(x0) cos(x1)) on [-3, 3]^2."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-3, 3, size=(n, 2))
    p = special.expit(3 * np.sin(X[:, 0]) * np.cos(X[:, 1]))
    return X, p, (rng.uniform(size=n) < p).astype(int)


def _frame(X, y):
    return pd.DataFrame({"x0": X[:, 0], "x1": X[:, 1], "y": y})


@pytest.fixture(scope="module")
def hills():
    X, p, y = _hills(400, seed=1)
    return X, p, y, KRLSClassifier().fit(X, y)


def test_matches_binomial_gam(hills):
    X, _, y, est = hills
    df = _frame(X, y)
    ref = fc.gam("y ~ krls(x0, x1)", df, family="binomial")
    p1 = np.asarray(ref.predict(df, type="response"))
    proba = est.predict_proba(X)
    np.testing.assert_allclose(proba[:, 1], p1, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(proba[:, 0], 1 - p1, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(est.decision_function(X), ref.predict(df), rtol=1e-10,
                               atol=1e-10)
    assert est.intercept_ == ref.coef_["(Intercept)"]
    np.testing.assert_array_equal(est.coef_, ref.coef_.to_numpy()[1:])
    assert est.sp_ == ref.sp_.iloc[0] and est.edf_ == ref.edf_.iloc[0]
    assert est.model_.family_.link.name == "logit"
    np.testing.assert_array_equal(est.classes_, [0, 1])
    np.testing.assert_array_equal(est.predict(X), (p1 > 0.5).astype(int))
    assert est.score(X, y) == np.mean(est.predict(X) == y)
    np.testing.assert_allclose(est.predict_log_proba(X), np.log(proba))


def test_accuracy_against_the_true_probabilities(hills):
    _, _, _, est = hills
    Xt, pt, yt = _hills(1000, seed=2)
    proba = est.predict_proba(Xt)
    assert np.sqrt(np.mean((proba[:, 1] - pt) ** 2)) < 0.1
    bayes = np.mean((pt > 0.5) == yt)  # the Bayes rule: 0.745 on this sample
    assert est.score(Xt, yt) > bayes - 0.05
    assert est.n_features_in_ == 2 and est.coef_.shape == (40,)
    assert 2 < est.edf_ < 40 and 0 < est.sp_ < np.inf


@pytest.mark.parametrize("link", ["probit", "cloglog"])
def test_other_links_and_options_reach_the_engine(hills, link):
    X, _, y, _ = hills
    X, y = X[:150], y[:150]
    df = _frame(X, y)
    est = KRLSClassifier(link=link, standardize="scaled", bandwidth=3.0, seed=3).fit(X, y)
    ref = fc.gam("y ~ krls(x0, x1, standardize='scaled', bandwidth=3.0, seed=3)", df,
                 family="binomial", link=link)
    p1 = np.asarray(ref.predict(df, type="response"))
    np.testing.assert_allclose(est.predict_proba(X)[:, 1], p1, rtol=1e-10, atol=1e-10)
    eta = est.decision_function(X)
    np.testing.assert_allclose(eta, ref.predict(df), rtol=1e-10, atol=1e-10)
    # predict is P > 1/2, which for cloglog is eta > log(log 2), not eta > 0
    np.testing.assert_array_equal(est.predict(X), (p1 > 0.5).astype(int))
    if link == "cloglog":
        np.testing.assert_array_equal(est.predict(X), (eta > np.log(np.log(2))).astype(int))


@pytest.mark.parametrize(
    "labels", [np.array(["no", "yes"]), np.array([False, True]), np.array([-1, 3])]
)
def test_labels_round_trip(hills, labels):
    X, _, y, est = hills
    fitted = KRLSClassifier().fit(X, labels[y])
    np.testing.assert_array_equal(fitted.classes_, labels)
    assert fitted.classes_.dtype == labels.dtype
    np.testing.assert_array_equal(fitted.predict(X), labels[est.predict(X)])
    np.testing.assert_allclose(fitted.predict_proba(X), est.predict_proba(X), rtol=1e-12)
    assert fitted.score(X, labels[y]) == est.score(X, y)


def test_classes_are_sorted_whatever_the_order_of_appearance(hills):
    X, _, y, est = hills
    labels = np.array(["zebra", "aardvark"])  # class 0 of y is "zebra"
    fitted = KRLSClassifier().fit(X, list(labels[y]))
    np.testing.assert_array_equal(fitted.classes_, ["aardvark", "zebra"])
    # P("aardvark") is P(y = 1): the columns swap
    np.testing.assert_allclose(fitted.predict_proba(X), est.predict_proba(X)[:, ::-1],
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(fitted.predict(X), labels[est.predict(X)])


def test_params_clone_and_grid_search(hills):
    X, _, y, est = hills
    params = KRLSClassifier(link="probit", multiplier=3).get_params()
    assert params == {
        "link": "probit", "sketch": "subsampling", "multiplier": 3, "size": None,
        "indices": None, "standardize": "mahalanobis", "bandwidth": None, "seed": 0,
        "block_rows": 50_000,
    }
    copy = clone(est)
    assert copy.get_params() == est.get_params() and not hasattr(copy, "model_")
    with pytest.raises(NotFittedError):
        copy.predict_proba(X)
    grid = GridSearchCV(KRLSClassifier(), {"link": ["logit", "probit"], "multiplier": [1, 5]},
                        cv=3).fit(X[:300], y[:300])
    assert grid.best_params_["multiplier"] == 5  # 6 anchors cannot carry the surface
    assert grid.best_score_ > 0.7
    np.testing.assert_array_equal(grid.classes_, [0, 1])
    assert grid.predict_proba(X[:5]).shape == (5, 2)


def test_binary_only_and_bad_targets(hills):
    X, _, y, _ = hills
    assert get_tags(KRLSClassifier()).classifier_tags.multi_class is False
    with pytest.raises(ValueError, match="Only binary classification is supported.*"
                                         "multiclass"):
        KRLSClassifier().fit(X, np.arange(len(y)) % 3)
    with pytest.raises(ValueError, match="needs two classes; y has one class: 'a'"):
        KRLSClassifier().fit(X, np.full(len(y), "a"))
    with pytest.raises(ValueError, match="one class with positive sample_weight: 1"):
        KRLSClassifier().fit(X, y, sample_weight=y.astype(float))
    with pytest.raises(ValueError, match="Unknown label type"):
        KRLSClassifier().fit(X, y + 0.5 * X[:, 0])
    with pytest.raises(ValueError, match="KRLSClassifier: unknown binomial link 'log'"):
        KRLSClassifier(link="log").fit(X, y)
    with pytest.raises(ValueError, match="KRLSClassifier: unknown krls\\(\\) sketch"):
        KRLSClassifier(sketch="bad").fit(X, y)


def test_sample_weight_is_passed_as_prior_weights(hills):
    X, _, y, _ = hills
    X, y = X[:120], y[:120]
    w = np.linspace(0.5, 2.0, 120)  # fractional: no "whole number of successes" warning
    df = _frame(X, y)
    with pytest.warns(UserWarning, match="not a whole number of successes"):
        ref = fc.gam("y ~ krls(x0, x1)", df, family="binomial", weights=w)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est = KRLSClassifier().fit(X, y, sample_weight=w)
    np.testing.assert_allclose(est.predict_proba(X)[:, 1], ref.predict(df, type="response"),
                               rtol=1e-10, atol=1e-10)
    ones = KRLSClassifier().fit(X, y, sample_weight=np.ones(120)).predict_proba(X)
    np.testing.assert_allclose(ones, KRLSClassifier().fit(X, y).predict_proba(X), rtol=1e-10)
    with pytest.raises(ValueError, match="Negative values"):
        KRLSClassifier().fit(X, y, sample_weight=-w)


def test_constant_features_fall_back_to_intercept_only():
    y = np.array([0, 1, 1, 0, 1, 1, 1, 0])
    w = np.arange(1.0, 9.0)
    est = KRLSClassifier().fit(np.ones((8, 2)), y, sample_weight=w)
    assert est.model_.formula == "y ~ 1"
    assert est.coef_.shape == (0,) and est.sp_ == np.inf and est.edf_ == 0
    share = np.sum(w * y) / np.sum(w)  # the weighted share of class 1
    proba = est.predict_proba(np.random.default_rng(0).normal(size=(3, 2)))
    np.testing.assert_allclose(proba, [[1 - share, share]] * 3, rtol=1e-8)
    np.testing.assert_array_equal(est.predict(np.zeros((2, 2))), [1, 1])


def test_small_data_falls_back_to_all_rows():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(14, 2))
    y = (X[:, 0] + rng.normal(size=14) > 0).astype(int)
    est = KRLSClassifier().fit(X, y)  # default size floor(ceil(14^(1/3)) * 5) = 15 >= 14
    assert est.sketch_ == "none" and est.sketch == "subsampling"


def test_perfect_separation_does_not_crash():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(30, 2))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = KRLSClassifier().fit(X, y)
    # the engine's RuntimeWarnings (7 here, one text) come back once each, as
    # ConvergenceWarning
    assert caught and all(w.category is ConvergenceWarning for w in caught)
    assert len({str(w.message) for w in caught}) == len(caught)
    proba = est.predict_proba(X)
    assert np.all(np.isfinite(proba)) and np.all(np.isfinite(est.decision_function(X)))
    assert est.score(X, y) == 1.0
    assert np.all(proba[np.arange(30), y] > 0.99)


def test_dataframe_input_records_feature_names(hills):
    X, _, y, est = hills
    frame = pd.DataFrame(X, columns=["age", "income"])
    fitted = KRLSClassifier().fit(frame, pd.Series(y))
    assert list(fitted.feature_names_in_) == ["age", "income"]
    np.testing.assert_allclose(fitted.predict_proba(frame), est.predict_proba(X), rtol=1e-12)
