"""GAMRegressor / GAMClassifier: scikit-learn conformance, agreement with fc.gam, column
naming (DataFrame, ``columns=`` list or prefix), model selection and stacking, bad input."""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import special
from sklearn.base import clone
from sklearn.ensemble import StackingClassifier, StackingRegressor
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import parametrize_with_checks

import flexcausal as fc
from flexcausal import GAMClassifier, GAMRegressor

EXPECTED_FAILED_CHECKS = {
    # The formula reads one fixed column (x0); these checks score the fit on data whose
    # signal lies in other columns (make_regression with one informative feature of 10,
    # make_blobs in 2 dimensions), so the score is poor by construction, not by a bug.
    "check_regressors_train": "the formula uses x0 only; the signal is elsewhere",
    "check_classifiers_train": "the formula uses x0 only; the signal is elsewhere",
}


# columns="x" names an array's columns x0, x1, ... whatever its width, so that the checks'
# arrays (1 to 10 columns) can be read by a formula.
@parametrize_with_checks(
    [GAMRegressor("~ x0", columns="x"), GAMClassifier("~ x0", columns="x")],
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS,
)
def test_sklearn_conformance(estimator, check):
    check(estimator)


FORMULA = "~ x3 + krls(x1, x2) + re(g)"


@pytest.fixture(scope="module")
def hier():
    df = fc.datasets.hierarchical(400, n_groups=8, seed=3)
    X = df[["x1", "x2", "x3", "g"]]
    return X, df["y"], df


@pytest.fixture(scope="module")
def fitted(hier):
    X, y, _ = hier
    return GAMRegressor(FORMULA).fit(X, y)


def test_regressor_is_fc_gam(hier, fitted):
    X, y, df = hier
    ref = fc.gam("y " + FORMULA, df)
    np.testing.assert_allclose(fitted.predict(X), ref.predict(df), rtol=1e-12, atol=1e-12)
    mean, se = fitted.predict(X.iloc[:20], return_std=True)
    out = ref.predict(df.iloc[:20], se=True)
    np.testing.assert_allclose(mean, out["fit"], rtol=1e-12)
    np.testing.assert_allclose(se, out["se"], rtol=1e-12)
    assert fitted.model_.sp_.equals(ref.sp_)
    assert fitted.columns_ == ["x1", "x2", "x3", "g"] and fitted.n_features_in_ == 4
    assert list(fitted.feature_names_in_) == ["x1", "x2", "x3", "g"]
    # a frame with other columns in another order: columns are read by name
    shuffled = X[["g", "x3", "x2", "x1"]].assign(extra=1.0)
    np.testing.assert_array_equal(fitted.predict(shuffled), fitted.predict(X))


def test_arrays_with_columns_list_or_prefix(hier, fitted):
    X, y, _ = hier
    arr = X.to_numpy()  # object array: g stays a factor
    est = GAMRegressor(FORMULA, columns=["x1", "x2", "x3", "g"]).fit(arr, y.to_numpy())
    np.testing.assert_allclose(est.predict(arr), fitted.predict(X), rtol=1e-12)
    assert not hasattr(est, "feature_names_in_") and est.columns_ == list(X.columns)
    num = X[["x1", "x2", "x3"]].to_numpy()
    est = GAMRegressor("~ x2 + krls(x0, x1)", columns="x").fit(num, y)
    ref = GAMRegressor("~ x3 + krls(x1, x2)").fit(X, y)
    np.testing.assert_allclose(est.predict(num), ref.predict(X), rtol=1e-10)
    with pytest.raises(ValueError, match="X has 2 features, but GAMRegressor is expecting 3"):
        est.predict(num[:, :2])
    # fitted on a DataFrame, an array of the same width is read as feature_names_in_
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        np.testing.assert_allclose(fitted.predict(arr), fitted.predict(X), rtol=1e-12)


def test_params_clone_and_pipeline(hier, fitted):
    X, y, _ = hier
    est = GAMRegressor("~ x1", family="gamma", link="log", columns="x", sp=[1.0])
    assert est.get_params() == {
        "formula": "~ x1", "family": "gamma", "link": "log", "columns": "x",
        "method": "REML", "sp": [1.0], "block_rows": 50_000, "design_memory_gb": 1.25,
    }
    assert est.set_params(formula="~ x2", columns=None) is est and est.formula == "~ x2"
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params() and not hasattr(copy, "model_")
    with pytest.raises(NotFittedError):
        copy.predict(X)
    num = X[["x1", "x2", "x3"]]
    pipe = Pipeline([("scale", StandardScaler()),
                     ("gam", GAMRegressor("~ x2 + krls(x0, x1)", columns="x"))]).fit(num, y)
    assert pipe.score(num, y) > 0.4
    # with pandas output the scaler keeps the names, and the formula reads them
    pipe = Pipeline([("scale", StandardScaler().set_output(transform="pandas")),
                     ("gam", GAMRegressor("~ x3 + krls(x1, x2)"))]).fit(num, y)
    assert list(pipe[-1].feature_names_in_) == ["x1", "x2", "x3"]


def test_grid_search_over_formulas_and_cross_val(hier):
    X, y, _ = hier
    formulas = ["~ x3", "~ x3 + krls(x1, x2)", FORMULA]
    grid = GridSearchCV(GAMRegressor("~ x3"), {"formula": formulas},
                        cv=KFold(3, shuffle=True, random_state=0)).fit(X, y)
    assert grid.best_params_ == {"formula": FORMULA}  # the design has group effects
    scores = cross_val_score(GAMRegressor(FORMULA), X, y, cv=3)
    assert scores.shape == (3,) and np.all(scores > 0.3)


def test_stacking_regressor_and_classifier():
    df = fc.datasets.three_hills(300, noise_sd=0.2, seed=4)
    X, y = df[["x1", "x2"]], df["y"]
    stack = StackingRegressor([("gam", GAMRegressor("~ krls(x1, x2)")),
                               ("ols", LinearRegression())], cv=3).fit(X, y)
    assert stack.score(X, y) > 0.6
    assert stack.final_estimator_.coef_[0] > stack.final_estimator_.coef_[1]
    yb = np.where(df["y"] > 0, "up", "down")
    stack = StackingClassifier([("gam", GAMClassifier("~ krls(x1, x2)")),
                                ("logit", LogisticRegression())], cv=3).fit(X, yb)
    assert stack.score(X, yb) > 0.7
    np.testing.assert_array_equal(stack.classes_, ["down", "up"])


def _binary(n, seed):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"x1": rng.uniform(-3, 3, n), "x2": rng.uniform(-3, 3, n),
                      "x3": rng.normal(size=n)})
    p = special.expit(2 * np.sin(X.x1) * np.cos(X.x2) + 0.5 * X.x3)
    return X, (rng.uniform(size=n) < p).astype(int)


def test_classifier_is_binomial_gam_with_any_labels():
    X, y = _binary(300, seed=5)
    formula = "~ x3 + krls(x1, x2)"
    labels = np.array(["no", "yes"])
    est = GAMClassifier(formula, link="probit").fit(X, labels[y])
    ref = fc.gam("y " + formula, X.assign(y=y), family="binomial", link="probit")
    p1 = np.asarray(ref.predict(X, type="response"))
    np.testing.assert_allclose(est.predict_proba(X)[:, 1], p1, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(est.decision_function(X), ref.predict(X), rtol=1e-10)
    np.testing.assert_array_equal(est.classes_, labels)
    np.testing.assert_array_equal(est.predict(X), labels[(p1 > 0.5).astype(int)])
    assert get_tags(est).classifier_tags.multi_class is False
    w = np.linspace(0.5, 2.0, len(y))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "whole number of successes" warning
        weighted = GAMClassifier(formula).fit(X, y, sample_weight=w)
    with pytest.warns(UserWarning, match="not a whole number"):
        ref = fc.gam("y " + formula, X.assign(y=y), family="binomial", weights=w)
    np.testing.assert_allclose(weighted.predict_proba(X)[:, 1], ref.predict(X, type="response"),
                               rtol=1e-10, atol=1e-12)


def test_constant_response_is_predicted(hier):
    X, _, _ = hier
    est = GAMRegressor(FORMULA).fit(X, np.full(len(X), 2.5))
    assert est.model_ is None
    mean, se = est.predict(X.iloc[:3], return_std=True)
    np.testing.assert_array_equal(mean, 2.5)
    np.testing.assert_array_equal(se, 0.0)


# ----------------------------------------------------------------------- bad input
def test_array_without_column_names_is_refused(hier):
    X, y, _ = hier
    with pytest.raises(TypeError, match=r"GAMRegressor: X is a NumPy array without column "
                                        r"names.*columns=\[\.\.\.\]"):
        GAMRegressor(FORMULA).fit(X.to_numpy(), y)
    with pytest.raises(ValueError, match="X has 4 feature\\(s\\) but columns= names 2"):
        GAMRegressor(FORMULA, columns=["x1", "x2"]).fit(X.to_numpy(), y)


def test_formula_naming_a_missing_column(hier):
    X, y, _ = hier
    with pytest.raises(ValueError, match=r"names column\(s\) \['lat'\] that X lacks"):
        GAMRegressor("~ x3 + krls(lat, x2)").fit(X, y)


def test_classifier_given_a_continuous_target(hier):
    X, y, _ = hier
    with pytest.raises(ValueError, match="GAMClassifier: y must hold two class labels; "
                                         "Unknown label type: continuous"):
        GAMClassifier("~ x3").fit(X, y)


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"formula": "y ~ x1"}, ValueError, "give only the right-hand side"),
    ({"formula": 3}, TypeError, "formula must be a string"),
    ({"formula": "~ x1", "columns": 5}, TypeError, "columns must be a list"),
    ({"formula": "~ x1", "columns": ["x1", "x1", "x3", "g"]}, ValueError, "more than once"),
    ({"formula": "~ x1", "family": "ocat"}, ValueError, "use GAMClassifier"),
    ({"formula": "~ x1", "family": "tweedie"}, ValueError, "GAMRegressor: .*tweedie"),
    ({"formula": "~ x1 + krls(x2, bogus=1)"}, ValueError, "GAMRegressor: krls\\(\\): unknown"),
])
def test_bad_parameters(hier, kwargs, exc, match):
    X, y, _ = hier
    with pytest.raises(exc, match=match):
        GAMRegressor(**kwargs).fit(X, y)
