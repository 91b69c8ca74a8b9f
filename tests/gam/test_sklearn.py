"""KRLSRegressor: scikit-learn conformance, agreement with fc.gam, accuracy, edge cases."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.utils.estimator_checks import parametrize_with_checks

import flexcausal as fc
from flexcausal import KRLSRegressor

EXPECTED_FAILED_CHECKS = {
    # Weights are mgcv prior (precision) weights and the kernel basis (standardization,
    # sketch) uses every row whatever its weight, as mgcv/gKRLS do: weight 2 is not a
    # duplicated row and weight 0 is not a dropped row.
    "check_sample_weight_equivalence_on_dense_data": "precision weights, basis on all rows",
}


@parametrize_with_checks(
    [KRLSRegressor()], expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS
)
def test_sklearn_conformance(estimator, check):
    check(estimator)


def _three_hills(n, seed, noise=0.25):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-3, 3, size=(n, 2))
    f = np.sin(X[:, 0]) * np.cos(X[:, 1])
    return X, f, f + noise * rng.normal(size=n)


@pytest.fixture(scope="module")
def hills():
    X, f, y = _three_hills(500, seed=1)
    return X, f, y, KRLSRegressor().fit(X, y)


def test_params_roundtrip_and_clone(hills):
    est = KRLSRegressor(multiplier=3, standardize="scaled", seed=7)
    params = est.get_params()
    assert params == {
        "sketch": "subsampling", "multiplier": 3, "size": None, "indices": None,
        "standardize": "scaled", "bandwidth": None, "seed": 7, "block_rows": 50_000,
    }
    assert est.set_params(bandwidth=2.5, sketch="gaussian") is est
    assert est.bandwidth == 2.5 and est.sketch == "gaussian"
    fitted = hills[3]
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params()
    assert not hasattr(copy, "model_")
    with pytest.raises(NotFittedError):
        copy.predict(hills[0])


def test_three_hills_accuracy(hills):
    _, _, _, est = hills
    Xt, ft, _ = _three_hills(1000, seed=2)
    rmse = np.sqrt(np.mean((est.predict(Xt) - ft) ** 2))
    assert rmse < 0.15
    assert est.n_features_in_ == 2
    assert est.coef_.shape == (40,)  # floor(ceil(500^(1/3)) * 5) anchors, none truncated
    assert 2 < est.edf_ < 40 and 0 < est.sp_ < np.inf
    assert est.sketch_ == "subsampling"
    mean, se = est.predict(Xt[:50], return_std=True)
    np.testing.assert_array_equal(mean, est.predict(Xt[:50]))
    assert se.shape == (50,) and np.all(se > 0)
    # pointwise 95% bands of the mean cover the true surface most of the time
    assert np.mean(np.abs(mean - ft[:50]) < 1.96 * se) > 0.8


def test_matches_formula_interface(hills):
    X, _, y, est = hills
    df = pd.DataFrame({"x0": X[:, 0], "x1": X[:, 1], "y": y})
    ref = fc.gam("y ~ krls(x0, x1)", df)
    np.testing.assert_allclose(est.predict(X), ref.predict(df), rtol=1e-12, atol=1e-12)
    _, se = est.predict(X[:20], return_std=True)
    np.testing.assert_allclose(se, ref.predict(df.iloc[:20], se=True)["se"], rtol=1e-12)
    assert est.intercept_ == ref.coef_["(Intercept)"]
    np.testing.assert_array_equal(est.coef_, ref.coef_.to_numpy()[1:])
    assert est.sp_ == ref.sp_.iloc[0] and est.edf_ == ref.edf_.iloc[0]


def test_options_reach_the_kernel_term(hills):
    X, _, y, _ = hills
    X, y = X[:120], y[:120]
    df = pd.DataFrame({"x0": X[:, 0], "x1": X[:, 1], "y": y})
    est = KRLSRegressor(sketch="gaussian", size=25, standardize="scaled", bandwidth=3.0,
                        seed=3, block_rows=17).fit(X, y)
    ref = fc.gam("y ~ krls(x0, x1, sketch='gaussian', size=25, standardize='scaled', "
                 "bandwidth=3.0, seed=3)", df)
    np.testing.assert_allclose(est.predict(X), ref.predict(df), rtol=1e-10, atol=1e-12)
    idx = np.arange(0, 120, 4)
    est = KRLSRegressor(indices=idx).fit(X, y)
    np.testing.assert_array_equal(est.model_.terms[1].sketch_.indices, idx)


def test_grid_search_over_multiplier(hills):
    X, _, y, _ = hills
    grid = GridSearchCV(KRLSRegressor(), {"multiplier": [1, 5]}, cv=3).fit(X[:300], y[:300])
    # 6 anchors (multiplier 1) cannot carry the surface; 30 (the default 5) can
    assert grid.best_params_ == {"multiplier": 5}
    assert grid.best_score_ > 0.7
    assert grid.predict(X[:5]).shape == (5,)


def test_small_data_falls_back_to_all_rows():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 3))  # default size floor(ceil(12^(1/3)) * 5) = 15 >= 12
    y = X[:, 0] + 0.1 * rng.normal(size=12)
    est = KRLSRegressor().fit(X, y)
    assert est.sketch_ == "none" and est.sketch == "subsampling"
    assert est.model_.terms[1].sketch_.anchors.shape[0] == 12
    with pytest.raises(ValueError, match="exceeds the number of rows"):
        KRLSRegressor(size=20).fit(X, y)


def test_constant_target_and_constant_features():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(10, 2))
    est = KRLSRegressor().fit(X, np.full(10, 3.5))
    assert est.model_ is None and est.sp_ == np.inf and est.edf_ == 0
    mean, se = est.predict(X[:4], return_std=True)
    np.testing.assert_array_equal(mean, 3.5)
    np.testing.assert_array_equal(se, 0.0)
    y = rng.normal(size=10)
    est = KRLSRegressor().fit(np.ones((10, 2)), y)  # nothing for the kernel: intercept only
    np.testing.assert_allclose(est.predict(X), y.mean())
    assert est.coef_.shape == (0,) and est.edf_ == 0
    est = KRLSRegressor().fit(np.ones((1, 2)), [2.0])  # a single row
    np.testing.assert_array_equal(est.predict(X), 2.0)


def test_sample_weight_is_passed_as_prior_weights(hills):
    X, _, y, _ = hills
    X, y = X[:100], y[:100]
    w = np.linspace(0.5, 2.0, 100)
    df = pd.DataFrame({"x0": X[:, 0], "x1": X[:, 1], "y": y})
    ref = fc.gam("y ~ krls(x0, x1)", df, weights=w)
    est = KRLSRegressor().fit(X, y, sample_weight=w)
    np.testing.assert_allclose(est.predict(X), ref.predict(df), rtol=1e-12, atol=1e-12)
    ones = KRLSRegressor().fit(X, y, sample_weight=np.ones(100)).predict(X)
    np.testing.assert_allclose(ones, KRLSRegressor().fit(X, y).predict(X), rtol=1e-10)
    with pytest.raises(ValueError, match="Negative values"):
        KRLSRegressor().fit(X, y, sample_weight=-w)


def test_dataframe_input_records_feature_names(hills):
    X, _, y, est = hills
    frame = pd.DataFrame(X, columns=["age", "income"])
    fitted = KRLSRegressor().fit(frame, y)
    assert list(fitted.feature_names_in_) == ["age", "income"]
    np.testing.assert_allclose(fitted.predict(frame), est.predict(X), rtol=1e-12)
