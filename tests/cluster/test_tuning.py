"""Tuning by held-out clusters: fc.cluster.tune, score(groups=), and GridSearchCV + GroupKFold
with scikit-learn metadata routing of ``groups``."""

from __future__ import annotations

import numpy as np
import pytest
import sklearn
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV, GroupKFold

from flexcausal.cluster import ClusterClassifier, ClusterRegressor, LocalLinear, tune
from flexcausal.cluster.tuning import adapted_predictions

SMALL = dict(hidden=(4,), epochs=2, batch_clusters=5, seed=0)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    C, m = 10, 6
    g = np.repeat(np.arange(C), m)
    X = rng.normal(size=(C * m, 2)) + rng.normal(size=(C, 2))[g]
    y = np.abs(X[:, 0]) + rng.normal(size=C)[g] + 0.2 * rng.normal(size=C * m)
    return X, y, g


@pytest.fixture(scope="module")
def fitted(data):
    X, y, g = data
    return ClusterRegressor(inner_steps=2, **SMALL).fit(X, y, groups=g)


def test_adapted_predictions_adapt_on_first_half_and_score_the_rest(data, fitted):
    X, y, g = data
    pred, y_eval, _, info = adapted_predictions(fitted, X, y, g, return_info=True)
    rows = info["rows"]
    assert len(rows) == 30 and np.array_equal(y_eval, y[rows])
    for c in np.unique(g):  # evaluation rows are the last 3 of each cluster
        assert set(rows[g[rows] == c]) == set(np.flatnonzero(g == c)[3:])
    # the same as adapt() on each cluster's first half, one cluster at a time
    c0 = np.flatnonzero(g == 0)
    one = fitted.adapt(X[c0[:3]], y[c0[:3]]).predict(X[c0[3:]])
    np.testing.assert_allclose(pred[:3], one, rtol=1e-5, atol=1e-6)
    # with no inner steps it is the pooled prediction
    p0, _, _ = adapted_predictions(fitted, X, y, g, steps=0)
    np.testing.assert_allclose(p0, fitted.predict(X[rows]), rtol=1e-5, atol=1e-6)


def test_score_with_groups_is_r2_after_adaptation(data, fitted):
    X, y, g = data
    pred, y_eval, _ = adapted_predictions(fitted, X, y, g)
    assert fitted.score(X, y, groups=g) == pytest.approx(r2_score(y_eval, pred))
    assert fitted.score(X, y) == pytest.approx(r2_score(y, fitted.predict(X)))


def test_tune_picks_the_least_adapted_loss_and_refits(data):
    X, y, g = data
    res = tune(ClusterRegressor(inner_steps=2, **SMALL), X, y, g, {"inner_lr": [0.01, 0.2]},
               cv=2)
    t = res.cv_results_
    assert list(t.inner_lr) == [0.01, 0.2] and len(res.fold_scores_) == 4
    assert res.best_params_["inner_lr"] == t.inner_lr[int(np.argmin(t.adapted_mean))]
    assert res.best_estimator_.inner_lr == res.best_params_["inner_lr"]
    assert res.best_estimator_.n_clusters_ == 10
    assert res.table().adapted_mean.is_monotonic_increasing
    pooled = tune(LocalLinear(n_neighbors=10), X, y, g, {"ridge": [1e-6]}, cv=2, refit=False)
    assert pooled.best_estimator_ is None
    np.testing.assert_allclose(pooled.cv_results_.adapted_mean, pooled.cv_results_.pooled_mean)


def test_gridsearchcv_groupkfold_routes_groups(data):
    X, y, g = data
    with sklearn.config_context(enable_metadata_routing=True):
        est = ClusterRegressor(early_stopping=True, validation_fraction=0.3, **SMALL)
        est = est.set_fit_request(groups=True).set_score_request(groups=True)
        gs = GridSearchCV(est, {"inner_steps": [2]}, cv=GroupKFold(2), refit=False)
        gs.fit(X, y, groups=g)
    # early stopping needs groups in fit: GridSearchCV passed them; the score is the
    # post-adaptation R^2 on the held-out clusters
    assert np.all(np.isfinite(gs.cv_results_["mean_test_score"]))
    tr, te = next(GroupKFold(2).split(X, y, g))
    m = ClusterRegressor(early_stopping=True, validation_fraction=0.3, inner_steps=2,
                         **SMALL).fit(X[tr], y[tr], groups=g[tr])
    assert gs.cv_results_["split0_test_score"][0] == pytest.approx(
        m.score(X[te], y[te], groups=g[te]), rel=1e-5)


def test_classifier_score_after_adaptation(data):
    X, y, g = data
    labels = np.where(y > np.median(y), "hi", "lo")
    m = ClusterClassifier(inner_steps=2, **SMALL).fit(X, labels, groups=g)
    s = m.score(X, labels, groups=g)
    pred, y_eval, _ = adapted_predictions(m, X, labels, g)
    assert set(pred) <= {"hi", "lo"} and s == pytest.approx(np.mean(pred == y_eval))


@pytest.mark.parametrize(
    "kw, err, msg",
    [
        ({"param_grid": {}}, ValueError, "param_grid is empty"),
        ({"param_grid": {"alpha": [1]}}, ValueError, "'alpha', which is not a parameter"),
        ({"param_grid": {"inner_lr": 0.1}}, TypeError, "param_grid must be a dict of lists"),
        ({"cv": 11}, ValueError, "cv=11 folds but only 10 clusters"),
        ({"cv": "five"}, TypeError, "cv must be an integer >= 2 or a splitter"),
        ({"scoring": "r2"}, ValueError, "unknown scoring 'r2'"),
        ({"adapt_fraction": 1.0}, ValueError, r"adapt_fraction must be in \(0, 1\)"),
    ],
)
def test_tune_bad_input(data, kw, err, msg):
    X, y, g = data
    args = dict(param_grid={"inner_lr": [0.01]}, cv=2)
    args.update(kw)
    with pytest.raises(err, match=msg):
        tune(ClusterRegressor(inner_steps=2, **SMALL), X, y, g, **args)


def test_adapted_predictions_bad_groups(data, fitted):
    X, y, g = data
    with pytest.raises(ValueError, match="groups has 5 entries"):
        adapted_predictions(fitted, X, y, g[:5])
