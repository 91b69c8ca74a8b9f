"""Issue 14: adaptation that cannot blow up silently, and the options of the authors' practice.

The blow-ups documented in benchmarks/results/rfp_simulations_d1.txt (inner_lr = 0.1, k = 5
on new clusters; inner_lr = 1e6 in training) are reproduced on small data, with and without
the backtracking safeguard; the options (momentum, head-only adaptation, early-stopping
criterion, initialisation, X-only standardization) are checked against hand computations.
"""

from __future__ import annotations

import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flexcausal.cluster import ClusterRegressor, RFPConvergenceWarning
from flexcausal.cluster._data import pad_clusters
from flexcausal.cluster.networks import MLP, init_mlp, split_model
from flexcausal.cluster.objective import RFPConfig, inner_loop, rfp_objective


@pytest.fixture(scope="module")
def panel():
    rng = np.random.default_rng(0)
    C, m = 12, 6
    g = np.repeat(np.arange(C), m)
    X = rng.normal(size=(C * m, 2))
    y = X[:, 0] + rng.normal(size=C)[g] + 0.3 * rng.normal(size=C * m)
    return X, y, g


@pytest.fixture(scope="module")
def linear_fit(panel):
    X, y, g = panel
    return ClusterRegressor(hidden=(), inner_steps=5, inner_lr=0.1, epochs=2, seed=0).fit(
        X, y, groups=g)


def _far_cluster(scale=8.0, n=6, seed=1):
    """A new cluster far from the training data: eta * 2 |x~|^2 >> 2, so plain gradient
    steps of size 0.1 overshoot and diverge (the documented k = 5 blow-up)."""
    rng = np.random.default_rng(seed)
    Xc = scale + rng.normal(size=(n, 2))
    return Xc, Xc[:, 0] + 1.0 + 0.1 * rng.normal(size=n)


def test_adapt_blow_up_without_safeguard_is_reported(linear_fit):
    Xc, yc = _far_cluster()
    m = linear_fit.set_params()  # same object; switch the mode of the fitted config only
    cfg = m.config_
    m.config_ = cfg.replace(inner_safeguard="none")
    try:
        with pytest.raises(FloatingPointError, match="adapt diverged"), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            m.adapt(Xc, yc, steps=60)
        with pytest.warns(RFPConvergenceWarning, match=r"adapt diverged: 5 inner step"):
            ad = m.adapt(Xc, yc)
        assert ad.adapt_info_["loss_after"] > 1e4 * ad.adapt_info_["loss_before"]
    finally:
        m.config_ = cfg


def test_adapt_with_safeguard_never_raises_the_cluster_loss(linear_fit):
    Xc, yc = _far_cluster()
    with pytest.warns(RFPConvergenceWarning, match=r"safeguard rejected \d of 5 inner"):
        ad = linear_fit.adapt(Xc, yc)
    info = ad.adapt_info_
    assert np.isfinite(info["loss_after"]) and info["loss_after"] <= info["loss_before"]
    assert info["rejected"] >= 1 and info["step"] < 0.1
    mse_pooled = np.mean((linear_fit.predict(Xc) - yc) ** 2)
    mse_adapted = np.mean((ad.predict(Xc) - yc) ** 2)
    assert mse_adapted < mse_pooled


@pytest.mark.parametrize("eta", [1e-3, 0.3, 10.0, 1e6])
def test_guarded_steps_are_monotone_for_any_step_size(eta):
    rng = np.random.default_rng(3)
    params, static = split_model(MLP(3, (8,), "tanh", key=jax.random.PRNGKey(0)))
    X = jnp.asarray(rng.normal(size=(9, 3)) * 3, jnp.float32)
    y = jnp.asarray(rng.normal(size=9) * 5, jnp.float32)
    mask = jnp.ones(9, jnp.float32)
    cfg = RFPConfig(0.5, 6, eta, inner_safeguard="backtrack", inner_momentum=0.5)
    _, info = jax.jit(lambda p: inner_loop(p, static, X, y, mask, cfg))(params)
    assert np.isfinite(float(info["lossk"]))
    assert float(info["lossk"]) <= float(info["loss0"])


_VG = eqx.filter_jit(jax.value_and_grad(rfp_objective))


def _linear_objective_inputs(seed=0):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(4), [5, 3, 6, 4])
    X = rng.normal(size=(len(g), 2))
    y = X @ np.array([1.0, -0.5]) + rng.normal(size=len(g))
    data = pad_clusters(X, y, g, dtype=np.float64)
    return [jnp.asarray(a) for a in (data.X, data.y, data.mask)]


def test_safeguard_is_eq20_exactly_when_every_step_descends():
    with jax.enable_x64(True):
        arrays = _linear_objective_inputs()
        params, static = split_model(MLP(2, (), key=jax.random.PRNGKey(1), dtype=jnp.float64))
        vg = _VG
        plain = RFPConfig(0.5, 3, 0.02)
        v0, g0 = vg(params, static, *arrays, plain)
        v1, g1 = vg(params, static, *arrays, plain.replace(inner_safeguard="backtrack"))
        np.testing.assert_allclose(float(v1), float(v0), rtol=1e-14)
        for a, b in zip(jax.tree_util.tree_leaves(g1), jax.tree_util.tree_leaves(g0),
                        strict=True):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-13)


def test_all_steps_rejected_gives_the_pooled_objective_and_a_finite_gradient():
    """inner_lr = 1e6: every inner try is rejected, so R_k = pooled loss (ERM) and its
    second-order gradient is ERM's, finite (no 0 * inf from the rejected tries)."""
    with jax.enable_x64(True):
        arrays = _linear_objective_inputs(1)
        params, static = split_model(MLP(2, (5,), "relu", key=jax.random.PRNGKey(2),
                                         dtype=jnp.float64))
        vg = _VG
        v, gr = vg(params, static, *arrays, RFPConfig(0.3, 4, 1e6, inner_safeguard="backtrack"))
        ve, ge = vg(params, static, *arrays, RFPConfig(1.0, 0, 1e6))
        np.testing.assert_allclose(float(v), float(ve), rtol=1e-13)
        for a, b in zip(jax.tree_util.tree_leaves(gr), jax.tree_util.tree_leaves(ge),
                        strict=True):
            assert np.all(np.isfinite(np.asarray(a)))
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-11, atol=1e-14)


def test_huge_inner_lr_in_training_is_contained_and_named(panel):
    """The documented inner_lr = 1e6 case (R_k of 3e23 without a word) with the default
    safeguard: the loss stays at the pooled level and the warning names inner_lr."""
    X, y, g = panel
    with pytest.warns(RFPConvergenceWarning, match=r"rejected 100% .* lower inner_lr \(now 1e\+06"):
        m = ClusterRegressor(hidden=(8,), epochs=3, inner_lr=1e6).fit(X, y, groups=g)
    assert m.inner_rejected_share_ == 1.0
    assert np.all(np.isfinite(m.loss_curve_)) and m.loss_curve_[-1] < 10.0


def test_warning_is_a_convergence_and_runtime_warning():
    from sklearn.exceptions import ConvergenceWarning

    assert issubclass(RFPConvergenceWarning, ConvergenceWarning)
    assert issubclass(RFPConvergenceWarning, RuntimeWarning)


# ------------------------------------------------------------------ authors' options
_LOOP = eqx.filter_jit(inner_loop)


def _coef(params):
    layer = params.layers[-1]
    return np.concatenate([np.asarray(layer.weight[0]), np.asarray(layer.bias)])


def test_inner_momentum_is_heavy_ball_like_optax_sgd():
    with jax.enable_x64(True):
        rng = np.random.default_rng(5)
        X = rng.normal(size=(7, 2))
        y = rng.normal(size=7)
        params, static = split_model(MLP(2, (), key=jax.random.PRNGKey(0), dtype=jnp.float64))
        eta, beta, k = 0.05, 0.9, 4
        cfg = RFPConfig(0.5, k, eta, inner_momentum=beta)
        out, _ = _LOOP(params, static, jnp.asarray(X), jnp.asarray(y), jnp.ones(7), cfg)
        theta = _coef(params)
        Xt = np.column_stack([X, np.ones(7)])
        d = np.zeros(3)
        for _ in range(k):  # optax.sgd(eta, momentum=beta): d = g + beta d; theta -= eta d
            grad = -2.0 / 7 * Xt.T @ (y - Xt @ theta)
            d = grad + beta * d
            theta = theta - eta * d
        np.testing.assert_allclose(_coef(out), theta, rtol=1e-12)


def test_head_only_adaptation_moves_only_the_output_layer():
    with jax.enable_x64(True):
        rng = np.random.default_rng(6)
        X = jnp.asarray(rng.normal(size=(8, 3)))
        y = jnp.asarray(rng.normal(size=8))
        model = MLP(3, (5,), "tanh", key=jax.random.PRNGKey(0), dtype=jnp.float64)
        params, static = split_model(model)
        cfg = RFPConfig(0.5, 3, 0.1, adapt_params="head")
        out, _ = _LOOP(params, static, X, y, jnp.ones(8), cfg)
        np.testing.assert_array_equal(np.asarray(out.layers[0].weight),
                                      np.asarray(params.layers[0].weight))
        phi = np.asarray(model.features(X))  # gradient steps of linear regression on phi
        Pt = np.column_stack([phi, np.ones(8)])
        theta = _coef(params)
        for _ in range(3):
            theta = theta + 0.1 * 2.0 / 8 * Pt.T @ (np.asarray(y) - Pt @ theta)
        np.testing.assert_allclose(_coef(out), theta, rtol=1e-12)


def test_rfp_init_scheme():
    m = MLP(4, (64, 64), key=jax.random.PRNGKey(0), init="rfp")
    assert np.all(np.asarray(m.layers[0].bias) == 0) and np.all(np.asarray(m.layers[1].bias) == 0)
    w0 = np.asarray(m.layers[0].weight)
    assert np.abs(w0).max() <= 2.0 / 0.87962566103423978 * np.sqrt(1 / 4) + 1e-6  # truncated
    assert abs(w0.std() - 0.5) < 0.1 and abs(np.asarray(m.layers[1].weight).std() - 0.125) < 0.02
    assert abs(np.asarray(m.layers[2].weight).std() - np.sqrt(2 / 64)) < 0.06
    u = init_mlp(jax.random.PRNGKey(0), 4, (3,), "relu", "uniform")
    assert np.abs(np.asarray(u.layers[0].bias)).max() > 0


def test_early_stopping_on_the_pooled_loss(panel):
    X, y, g = panel
    m = ClusterRegressor(hidden=(8,), epochs=6, patience=10, early_stopping=True,
                         validation_fraction=0.25, validation_score="pooled", seed=1,
                         init="rfp").fit(X, y, groups=g)
    val = np.isin(g, m.validation_groups_)
    pooled = np.mean((m.predict(X[val]) - y[val]) ** 2) / m.y_scale_**2
    best = m.validation_loss_curve_[m.best_epoch_ - 1]
    np.testing.assert_allclose(best, pooled, rtol=1e-4)
    assert best == pytest.approx(m.validation_loss_curve_.min())


def test_standardize_x_only_and_momentum_optimizer(panel):
    X, y, g = panel
    m = ClusterRegressor(hidden=(4,), epochs=2, standardize="X", optimizer="sgd_momentum",
                         learning_rate=1e-3, adapt_params="head", inner_momentum=0.9).fit(
        X, y + 50.0, groups=g)
    assert m.y_mean_ == 0.0 and m.y_scale_ == 1.0
    np.testing.assert_allclose(m.x_mean_, X.mean(axis=0))
    Xc, yc = X[g == 0], y[g == 0] + 50.0
    ad = m.adapt(Xc, yc)
    np.testing.assert_array_equal(np.asarray(eqx.filter(ad.params_.layers[0], eqx.is_array)
                                             .weight),
                                  np.asarray(m.params_.layers[0].weight))


@pytest.mark.parametrize(
    "kw, err, msg",
    [
        ({"adapt_params": "body"}, ValueError, "unknown adapt_params 'body'"),
        ({"adapt_params": 1}, TypeError, "adapt_params must be a string"),
        ({"inner_momentum": 1.0}, ValueError, r"inner_momentum must be in \[0, 1\)"),
        ({"inner_momentum": -0.1}, ValueError, "inner_momentum must be in"),
        ({"inner_momentum": "0.9"}, TypeError, "inner_momentum must be a number"),
        ({"inner_safeguard": "clip"}, ValueError, "unknown inner_safeguard 'clip'"),
        ({"validation_score": "train"}, ValueError, "unknown validation_score 'train'"),
        ({"init": "he"}, ValueError, "unknown init 'he'"),
        ({"standardize": "y"}, TypeError, r"standardize must be True, False or 'X'"),
    ],
)
def test_bad_options(panel, kw, err, msg):
    X, y, g = panel
    with pytest.raises(err, match=msg):
        ClusterRegressor(**kw).fit(X, y, groups=g)
