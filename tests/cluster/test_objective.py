"""R_k (eq. 18) and its gradients against independent maths, in float64.

For the linear model f(theta, x) = x~'theta (x~ = [x, 1]) with the squared loss, one inner
step is affine: theta' = (I - eta H_c) theta + eta b_c with H_c = (2/n_c) X~'X~ and
b_c = (2/n_c) X~'y, so MAML/RFP values and gradients have closed forms in NumPy.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flexcausal.cluster._data import pad_clusters
from flexcausal.cluster.networks import MLP, split_model
from flexcausal.cluster.objective import RFPConfig, loop_value_and_grad, rfp_objective

SIZES = [3, 7, 5, 1, 6]  # unequal clusters, one singleton
D = 2


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def _data(seed=0):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(len(SIZES)), SIZES)
    X = rng.normal(size=(len(g), D))
    y = X @ np.array([1.0, -0.5]) + rng.normal(size=len(g))[g] * 0 + rng.normal(size=len(g))
    return X, y, g


def _linear(seed=1):
    model = MLP(D, (), key=jax.random.PRNGKey(seed), dtype=jnp.float64)
    params, static = split_model(model)
    return params, static


def _theta(params) -> np.ndarray:
    layer = params.layers[0]
    return np.concatenate([np.asarray(layer.weight[0]), np.asarray(layer.bias)])


def _grad_vec(g) -> np.ndarray:
    return _theta(g)


_VG = eqx.filter_jit(jax.value_and_grad(rfp_objective))
_V = eqx.filter_jit(rfp_objective)


def _objective(params, static, X, y, g, cfg, pad_to=None):
    data = pad_clusters(X, y, g, pad_to=pad_to, dtype=np.float64)
    f = _VG
    return f(params, static, jnp.asarray(data.X), jnp.asarray(data.y), jnp.asarray(data.mask), cfg)


def _hand(theta, X, y, g, a, k, eta):
    """Closed-form R_k, its exact gradient, and the first-order (FOMAML) gradient."""
    N = len(y)
    value, grad, grad_fo = 0.0, np.zeros_like(theta), np.zeros_like(theta)
    for c in np.unique(g):
        Xc = np.column_stack([X[g == c], np.ones((g == c).sum())])
        yc = y[g == c]
        n = len(yc)
        H, b = 2.0 / n * Xc.T @ Xc, 2.0 / n * Xc.T @ yc
        M = np.eye(len(theta)) - eta * H
        A = np.linalg.matrix_power(M, k)
        v = sum(np.linalg.matrix_power(M, j) @ (eta * b) for j in range(k))
        tk = A @ theta + v
        r0, rk = yc - Xc @ theta, yc - Xc @ tk
        value += a * r0 @ r0 + (1 - a) * rk @ rk
        g0, gk = -2 * Xc.T @ r0, -2 * Xc.T @ rk  # gradients of the cluster sums
        grad += a * g0 + (1 - a) * A.T @ gk
        grad_fo += a * g0 + (1 - a) * gk
    return value / N, grad / N, grad_fo / N


def test_pooled_weight_one_is_pooled_erm_gradient():
    X, y, g = _data()
    params, static = _linear()
    cfg = RFPConfig(pooled_weight=1.0, inner_steps=3, inner_lr=0.1)
    v, gr = _objective(params, static, X, y, g, cfg)

    def erm(p):  # plain mean squared error over all rows, no clusters at all
        return jnp.mean((jnp.asarray(y) - eqx.combine(p, static)(jnp.asarray(X))) ** 2)

    v_erm, g_erm = jax.value_and_grad(erm)(params)
    np.testing.assert_allclose(float(v), float(v_erm), rtol=1e-13)
    np.testing.assert_allclose(_grad_vec(gr), _grad_vec(g_erm), rtol=1e-12, atol=1e-14)


def test_maml_gradient_matches_hand_derivation():
    X, y, g = _data()
    params, static = _linear()
    eta = 0.05
    cfg = RFPConfig(pooled_weight=0.0, inner_steps=1, inner_lr=eta)
    v, gr = _objective(params, static, X, y, g, cfg)
    hv, hg, _ = _hand(_theta(params), X, y, g, 0.0, 1, eta)
    np.testing.assert_allclose(float(v), hv, rtol=1e-12)
    np.testing.assert_allclose(_grad_vec(gr), hg, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("a,k", [(0.25, 1), (0.5, 3), (0.75, 5)])
def test_rfp_value_and_both_gradients_match_closed_form(a, k):
    X, y, g = _data(3)
    params, static = _linear(4)
    eta = 0.04
    hv, hg, hg_fo = _hand(_theta(params), X, y, g, a, k, eta)
    v, gr = _objective(params, static, X, y, g, RFPConfig(a, k, eta))
    np.testing.assert_allclose(float(v), hv, rtol=1e-12)
    np.testing.assert_allclose(_grad_vec(gr), hg, rtol=1e-10, atol=1e-12)
    v1, g1 = _objective(params, static, X, y, g, RFPConfig(a, k, eta, first_order=True))
    np.testing.assert_allclose(float(v1), hv, rtol=1e-12)
    np.testing.assert_allclose(_grad_vec(g1), hg_fo, rtol=1e-10, atol=1e-12)
    assert np.abs(hg - hg_fo).max() > 1e-4  # the Hessian term matters here


@pytest.mark.parametrize("a,k", [(1.0, 2), (0.3, 0)])
def test_first_and_second_order_agree_when_hessian_term_vanishes(a, k):
    # a = 1 (no adapted term) or k = 0 (theta_c^0 = theta): d theta_c^k / d theta = I exactly.
    X, y, g = _data(5)
    params, static = split_model(MLP(D, (8,), "tanh", key=jax.random.PRNGKey(2), dtype=jnp.float64))
    _, g2 = _objective(params, static, X, y, g, RFPConfig(a, k, 0.1))
    _, g1 = _objective(params, static, X, y, g, RFPConfig(a, k, 0.1, first_order=True))
    for l2, l1 in zip(jax.tree_util.tree_leaves(g2), jax.tree_util.tree_leaves(g1), strict=True):
        np.testing.assert_allclose(np.asarray(l2), np.asarray(l1), rtol=1e-12, atol=1e-14)


def test_second_order_gradient_of_mlp_matches_finite_differences():
    X, y, g = _data(6)
    params, static = split_model(MLP(D, (6,), "tanh", key=jax.random.PRNGKey(7), dtype=jnp.float64))
    cfg = RFPConfig(0.4, 2, 0.2)
    _, gr = _objective(params, static, X, y, g, cfg)
    leaves, treedef = jax.tree_util.tree_flatten(params)
    flat_g = np.concatenate([np.ravel(x) for x in jax.tree_util.tree_leaves(gr)])
    sizes = [x.size for x in leaves]
    flat = np.concatenate([np.ravel(x) for x in leaves])

    data = pad_clusters(X, y, g, dtype=np.float64)
    arrays = [jnp.asarray(a) for a in (data.X, data.y, data.mask)]

    def value(vec):
        parts = np.split(vec, np.cumsum(sizes)[:-1])
        p = treedef.unflatten(
            [jnp.asarray(q.reshape(x.shape)) for q, x in zip(parts, leaves, strict=True)]
        )
        return float(_V(p, static, *arrays, cfg))

    rng = np.random.default_rng(0)
    for j in rng.choice(len(flat), 6, replace=False):
        e = np.zeros_like(flat)
        e[j] = 1e-6
        fd = (value(flat + e) - value(flat - e)) / 2e-6
        np.testing.assert_allclose(flat_g[j], fd, rtol=1e-5, atol=1e-8)


def test_padding_length_and_cluster_order_do_not_matter():
    X, y, g = _data(8)
    params, static = split_model(MLP(D, (5,), "relu", key=jax.random.PRNGKey(3), dtype=jnp.float64))
    cfg = RFPConfig(0.5, 3, 0.1)
    v0, g0 = _objective(params, static, X, y, g, cfg)
    v1, g1 = _objective(params, static, X, y, g, cfg, pad_to=19)  # longer padding
    relabel = np.array([4, 0, 3, 1, 2])[g]  # same clusters, another order
    perm = np.random.default_rng(0).permutation(len(y))
    v2, g2 = _objective(params, static, X[perm], y[perm], relabel[perm], cfg)
    for v, gr in [(v1, g1), (v2, g2)]:
        np.testing.assert_allclose(float(v), float(v0), rtol=1e-12)
        for a, b in zip(jax.tree_util.tree_leaves(gr), jax.tree_util.tree_leaves(g0), strict=True):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-10, atol=1e-13)


def test_empty_filler_cluster_changes_nothing():
    X, y, g = _data(9)
    params, static = _linear()
    cfg = RFPConfig(0.5, 2, 0.1)
    data = pad_clusters(X, y, g, dtype=np.float64)
    full = data.with_empty(3)
    f = _VG
    v0, g0 = f(params, static, *(jnp.asarray(a) for a in (data.X, data.y, data.mask)), cfg)
    v1, g1 = f(params, static, *(jnp.asarray(a) for a in (full.X, full.y, full.mask)), cfg)
    np.testing.assert_allclose(float(v1), float(v0), rtol=1e-13)
    np.testing.assert_allclose(_grad_vec(g1), _grad_vec(g0), rtol=1e-12)


def test_vmapped_objective_equals_python_loop_over_unpadded_clusters():
    rng = np.random.default_rng(11)
    g = np.repeat(np.arange(5), [4, 6, 4, 6, 6])
    X, y = rng.normal(size=(len(g), D)), rng.normal(size=len(g))
    params, static = split_model(MLP(D, (5,), "relu", key=jax.random.PRNGKey(3), dtype=jnp.float64))
    cfg = RFPConfig(0.5, 3, 0.1)
    v0, g0 = _objective(params, static, X, y, g, cfg)
    clusters = [(jnp.asarray(X[g == c]), jnp.asarray(y[g == c])) for c in np.unique(g)]
    v1, g1 = loop_value_and_grad(params, static, clusters, cfg)
    np.testing.assert_allclose(float(v1), float(v0), rtol=1e-12)
    for a, b in zip(jax.tree_util.tree_leaves(g1), jax.tree_util.tree_leaves(g0), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-10, atol=1e-13)


def test_config_numbers_are_traced_so_a_grid_reuses_one_compiled_program():
    """a, eta and the momentum are pytree leaves of RFPConfig: two configs that differ only
    in them share the static part (one compiled program), and the traced values give the
    objective of the same config evaluated with Python constants, bit for bit."""
    a = RFPConfig(pooled_weight=0.5, inner_steps=3, inner_lr=0.1, inner_momentum=0.0)
    b = a.replace(pooled_weight=0.25, inner_lr=0.02, inner_momentum=0.5)
    la, ta = jax.tree_util.tree_flatten(a)
    lb, tb = jax.tree_util.tree_flatten(b)
    assert ta == tb and len(la) == 3
    assert jax.tree_util.tree_flatten(a.replace(inner_steps=4))[1] != ta  # k is static
    assert jax.tree_util.tree_flatten(a.replace(pooled_weight=1.0))[1] != ta  # ERM: no inner
    X, y, g = _data()
    params, static = _linear()
    data = pad_clusters(X, y, g, dtype=np.float64)
    arrays = (jnp.asarray(data.X), jnp.asarray(data.y), jnp.asarray(data.mask))
    for cfg in (a, b):
        traced = _V(params, static, *arrays, cfg)

        def constants(p, cfg=cfg):  # the config closed over: its numbers are constants
            return rfp_objective(p, static, *arrays, cfg)

        assert float(traced) == float(constants(params))
