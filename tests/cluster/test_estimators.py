"""ClusterRegressor / ClusterClassifier: closed-form minimiser, determinism, invariances, adapt."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from flexcausal.cluster import ClusterClassifier, ClusterRegressor

SIZES = [6, 9, 4, 8, 7, 5]


def _data(seed=0, sizes=SIZES, d=2):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(len(sizes)), sizes)
    X = rng.normal(size=(len(g), d)) + rng.normal(size=(len(sizes), d))[g]
    y = X @ np.linspace(1.0, -0.5, d) + 0.7 * rng.normal(size=len(sizes))[g]
    return X, y + 0.3 * rng.normal(size=len(g)), g


def rfp_linear_minimizer(X, y, g, a, k, eta):
    """argmin R_k for f = x'w + b, squared loss: theta_c^k = A_c theta + v_c is affine, so
    R_k is quadratic and its minimiser solves sum_c [a G_c + (1-a) A_c' G_c A_c] theta =
    sum_c [a X~'y + (1-a) A_c' X~'(y - X~ v_c)], G_c = X~'X~ (Sec. 4.3, eqs. 18-20)."""
    p = X.shape[1] + 1
    lhs, rhs = np.zeros((p, p)), np.zeros(p)
    for c in np.unique(g):
        Xc = np.column_stack([X[g == c], np.ones((g == c).sum())])
        yc = y[g == c]
        G = Xc.T @ Xc
        M = np.eye(p) - eta * 2.0 / len(yc) * G
        A = np.linalg.matrix_power(M, k)
        v = sum(np.linalg.matrix_power(M, j) @ (eta * 2.0 / len(yc) * Xc.T @ yc) for j in range(k))
        lhs += a * G + (1 - a) * A.T @ G @ A
        rhs += a * Xc.T @ yc + (1 - a) * A.T @ Xc.T @ (yc - Xc @ v)
    return np.linalg.solve(lhs, rhs)


def _coef(m):
    layer = m.model_.layers[0]
    return np.concatenate([np.asarray(layer.weight[0]), np.asarray(layer.bias)])


@pytest.mark.parametrize("a,k", [(0.5, 2), (0.0, 1)])
def test_linear_model_converges_to_closed_form_rfp_minimizer(a, k):
    X, y, g = _data(1)
    eta = 0.05
    m = ClusterRegressor(
        hidden=(),
        pooled_weight=a,
        inner_steps=k,
        inner_lr=eta,
        optimizer="sgd",
        learning_rate=0.1,
        epochs=600,
        batch_clusters=len(SIZES),
        standardize=False,
        seed=0,
    ).fit(X, y, groups=g)
    theta = rfp_linear_minimizer(X, y, g, a, k, eta)
    np.testing.assert_allclose(_coef(m), theta, atol=2e-4)
    # and it is not the pooled OLS solution (the regulariser moved it)
    ols = np.linalg.lstsq(np.column_stack([X, np.ones(len(y))]), y, rcond=None)[0]
    assert np.abs(theta - ols).max() > 1e-2


def test_same_seed_same_numbers_other_seed_other_numbers():
    X, y, g = _data(2)
    kw = dict(
        hidden=(8,),
        epochs=5,
        inner_steps=2,
        batch_clusters=2,
        early_stopping=True,
        validation_fraction=0.34,
    )
    p1 = ClusterRegressor(seed=3, **kw).fit(X, y, groups=g).predict(X)
    p2 = ClusterRegressor(seed=3, **kw).fit(X, y, groups=g).predict(X)
    p3 = ClusterRegressor(seed=4, **kw).fit(X, y, groups=g).predict(X)
    np.testing.assert_array_equal(p1, p2)
    assert np.abs(p1 - p3).max() > 1e-6


def test_row_order_and_cluster_labels_do_not_matter():
    X, y, g = _data(3)
    kw = dict(hidden=(8,), epochs=5, inner_steps=2, batch_clusters=len(SIZES), seed=1)
    p0 = ClusterRegressor(**kw).fit(X, y, groups=g).predict(X)
    # shuffle rows across clusters (keeping each cluster's own row order) and rename clusters
    rng = np.random.default_rng(0)
    perm = np.lexsort((np.arange(len(y)), rng.random(len(SIZES))[g]))
    names = np.array(["f", "a", "d", "b", "e", "c"])
    p1 = ClusterRegressor(**kw).fit(X[perm], y[perm], groups=names[g][perm]).predict(X)
    np.testing.assert_allclose(p1, p0, rtol=1e-5, atol=1e-6)


def test_early_stopping_holds_out_whole_clusters():
    X, y, g = _data(4, sizes=[5] * 10)
    m = ClusterRegressor(
        hidden=(8,), epochs=30, patience=3, early_stopping=True, validation_fraction=0.3, seed=0
    ).fit(X, y, groups=g)
    tr, va = set(m.train_groups_), set(m.validation_groups_)
    assert len(va) == 3 and len(tr) == 7 and not tr & va and tr | va == set(range(10))
    assert 1 <= m.best_epoch_ <= m.n_epochs_ == len(m.validation_loss_curve_)
    best = m.validation_loss_curve_[m.best_epoch_ - 1]
    assert best == pytest.approx(m.validation_loss_curve_.min())


def test_adapt_takes_k_inner_steps_on_the_new_cluster():
    X, y, g = _data(5)
    eta, k = 0.05, 3
    m = ClusterRegressor(
        hidden=(), pooled_weight=0.5, inner_steps=k, inner_lr=eta, epochs=3, standardize=False
    ).fit(X, y, groups=g)
    Xc, yc = X[g == 0], y[g == 0]
    theta = _coef(m).astype(np.float64)
    Xt = np.column_stack([Xc, np.ones(len(yc))])
    for _ in range(k):  # hand-written gradient steps on the mean squared error
        theta = theta + eta * 2.0 / len(yc) * Xt.T @ (yc - Xt @ theta)
    ad = m.adapt(Xc, yc)
    np.testing.assert_allclose(_coef(ad), theta, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        ad.predict(X[:4]), np.column_stack([X[:4], np.ones(4)]) @ theta, rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(m.adapt(Xc, yc, steps=0).predict(X), m.predict(X))
    np.testing.assert_array_equal(_coef(m), _coef(clone(m).set_params().fit(X, y, groups=g)))


def test_adapted_mse_not_worse_than_pooled_on_new_cluster_linear():
    X, y, g = _data(6)
    m = ClusterRegressor(
        hidden=(), pooled_weight=0.0, inner_steps=1, inner_lr=0.05, learning_rate=0.05, epochs=100
    ).fit(X[g > 0], y[g > 0], groups=g[g > 0])
    Xc, yc = X[g == 0], y[g == 0]
    pooled = np.mean((m.predict(Xc) - yc) ** 2)
    adapted = np.mean((m.adapt(Xc, yc).predict(Xc) - yc) ** 2)
    assert adapted < pooled


def test_sklearn_params_and_clone():
    m = ClusterRegressor(hidden=(16,), pooled_weight=0.25, inner_steps=5)
    assert m.get_params()["pooled_weight"] == 0.25
    c = clone(m).set_params(inner_steps=2)
    assert c.inner_steps == 2 and m.inner_steps == 5


def test_classifier_learns_and_keeps_labels():
    rng = np.random.default_rng(7)
    g = np.repeat(np.arange(12), 15)
    X = rng.normal(size=(len(g), 2)) + rng.normal(scale=0.5, size=(12, 2))[g]
    labels = np.where(X[:, 0] + 0.5 * X[:, 1] > 0, "yes", "no")
    m = ClusterClassifier(
        hidden=(16,),
        pooled_weight=0.5,
        inner_steps=1,
        epochs=60,
        learning_rate=1e-2,
        batch_clusters=4,
    ).fit(X, labels, groups=g)
    assert list(m.classes_) == ["no", "yes"]
    assert m.score(X, labels) > 0.9
    proba = m.predict_proba(X)
    assert proba.shape == (len(g), 2) and np.allclose(proba.sum(axis=1), 1.0)
    ad = m.adapt(X[g == 0], labels[g == 0])
    assert set(ad.predict(X[:10])) <= {"no", "yes"}
