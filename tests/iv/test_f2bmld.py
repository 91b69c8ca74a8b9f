"""F2BMLD: the inner loop solves stage 1, the outer gradient is the envelope gradient of
L_lambda, the Langevin noise has the specified scales, and seeds reproduce bit for bit."""

from __future__ import annotations

import dataclasses
import re

import jax
import jax.numpy as jnp
import numpy as np
from scipy.optimize import minimize

from flexcausal.iv import F2BMLD
from flexcausal.iv.f2bmld import (
    F2Config,
    init_particles,
    inner_step,
    mf_forward,
    objectives,
    outer_gradient,
    outer_step,
)

CFG = F2Config(lam=1.0, alpha=0.5, beta=0.25, gamma=0.5, sigma1=0.0, sigma2=0.0, zeta1=1e-3,
               zeta2=1e-3, inner_steps=1, outer_steps=1, batch1=200, batch2=200, adam=False,
               noise=True)


def _problem(seed=0, n=200):
    key = jax.random.PRNGKey(seed)
    k = jax.random.split(key, 7)
    x1 = jax.random.normal(k[0], (n, 1))
    z1 = x1 + 0.3 * jax.random.normal(k[1], (n, 1))
    z2 = jax.random.normal(k[2], (n, 1))
    y2 = jnp.sin(z2[:, 0]) + 0.1 * jax.random.normal(k[3], (n,))
    x_p = init_particles(k[4], 32, 1)
    z_p, zt_p = init_particles(k[5], 48, 1), init_particles(k[6], 48, 1)
    return (x1, z1, z2, y2), x_p, z_p, zt_p


def _run_inner(x_p, z_p, zt_p, batch, cfg, steps, key):
    def body(carry, k):
        return inner_step(carry, k, x_p, batch, cfg), None

    carry, _ = jax.jit(lambda c, ks: jax.lax.scan(body, c, ks))(
        (z_p, zt_p, (None, None)), jax.random.split(key, steps))
    return carry[0], carry[1]


def test_outer_gradient_is_envelope_autodiff():
    """N_x * d/dx L_lambda(x, z~, z) with z, z~ held fixed (Proposition 1)."""
    batch, x_p, z_p, zt_p = _problem()
    cfg = dataclasses.replace(CFG, lam=3.0)
    ours = outer_gradient(x_p, z_p, zt_p, batch, cfg)
    auto = jax.jit(jax.grad(lambda p: objectives(p, z_p, zt_p, batch, cfg)[2]))(x_p)
    auto = auto * x_p.shape[0]
    np.testing.assert_allclose(np.asarray(ours), np.asarray(auto), rtol=2e-4, atol=1e-6)


def test_inner_gradients_are_scaled_autodiff():
    """grad_2 F1 at particle i equals N_z * dF1/dz_i (slides: Wasserstein = N x Euclidean)."""
    batch, x_p, z_p, zt_p = _problem(1)
    from flexcausal.iv.f2bmld import inner_gradients

    g_z, g_zt = inner_gradients(x_p, z_p, zt_p, batch, CFG)
    a_z = jax.grad(lambda p: objectives(x_p, p, zt_p, batch, CFG)[0])(z_p) * z_p.shape[0]
    np.testing.assert_allclose(np.asarray(g_z), np.asarray(a_z), rtol=2e-4, atol=1e-6)

    def lz(p):  # F2(z~) + lambda F1(z~), the z~ objective of INNERLOOP line 5
        f1_p = objectives(x_p, p, p, batch, CFG)[0]
        f2 = 0.5 * jnp.mean((mf_forward(p, batch[2]) - batch[3]) ** 2)
        return f2 + CFG.lam * f1_p

    a_zt = jax.grad(lz)(zt_p) * zt_p.shape[0]
    np.testing.assert_allclose(np.asarray(g_zt), np.asarray(a_zt), rtol=2e-4, atol=1e-6)


def test_inner_loop_solves_stage1_with_zero_noise_and_large_lambda():
    """sigma1 = 0: z minimises F1 (compare with a direct L-BFGS fit in float64); with large
    lambda, z~ (which minimises F2 + lambda F1) gives the same stage-1 fit."""
    batch, x_p, z_p, zt_p = _problem(2)
    lam = 1e3
    cfg = dataclasses.replace(CFG, lam=lam, alpha=1.0, beta=1.0 / lam)
    z_fit, zt_fit = _run_inner(x_p, z_p, zt_p, batch, cfg, 1500, jax.random.PRNGKey(0))
    x1, z1 = np.asarray(batch[0], float), np.asarray(batch[1], float)
    target = np.asarray(mf_forward(x_p, batch[0]), float)

    def f1(flat):
        p = flat.reshape(z_p.shape)
        g = np.tanh(z1 @ p[:, 1:-1].T + p[:, -1]) @ p[:, 0] / len(p)
        return 0.5 * np.mean((g - target) ** 2) + 0.5 * cfg.zeta1 * np.mean(np.sum(p**2, 1))

    direct = minimize(f1, np.asarray(z_p, float).ravel(), method="L-BFGS-B",
                      options={"maxiter": 5000, "gtol": 1e-10})
    f1_direct = direct.fun
    f1_inner = f1(np.asarray(z_fit, float).ravel())
    assert f1_inner <= f1_direct * 1.05 + 1e-5
    g_direct = np.tanh(z1 @ direct.x.reshape(z_p.shape)[:, 1:-1].T
                       + direct.x.reshape(z_p.shape)[:, -1]) @ direct.x.reshape(z_p.shape)[:, 0]
    g_direct /= z_p.shape[0]
    g_inner = np.asarray(mf_forward(z_fit, batch[1]))
    g_tilde = np.asarray(mf_forward(zt_fit, batch[1]))
    scale = np.std(target)
    assert np.sqrt(np.mean((g_inner - g_direct) ** 2)) < 0.05 * scale
    assert np.sqrt(np.mean((g_tilde - g_inner) ** 2)) < 0.05 * scale
    del x1


def test_noise_scales_as_specified():
    """Difference of one step with and without noise (same key) is sqrt(2 step T) xi."""
    batch, x_p, z_p, zt_p = _problem(3)
    n = 4000
    z_p = init_particles(jax.random.PRNGKey(9), n, 1)
    zt_p = init_particles(jax.random.PRNGKey(10), n, 1)
    x_big = init_particles(jax.random.PRNGKey(11), n, 1)
    s1, s2, lam = 0.3, 0.7, 5.0
    cfg = dataclasses.replace(CFG, lam=lam, alpha=0.1, beta=0.02, gamma=0.05, sigma1=s1)
    quiet = dataclasses.replace(cfg, noise=False)
    key = jax.random.PRNGKey(4)
    noisy = inner_step((z_p, zt_p, (None, None)), key, x_p, batch, cfg)
    clean = inner_step((z_p, zt_p, (None, None)), key, x_p, batch, quiet)
    sd_z = np.std(np.asarray(noisy[0] - clean[0]))
    sd_zt = np.std(np.asarray(noisy[1] - clean[1]))
    np.testing.assert_allclose(sd_z, np.sqrt(2 * cfg.alpha * s1), rtol=0.03)
    np.testing.assert_allclose(sd_zt, np.sqrt(2 * cfg.beta * lam * s1), rtol=0.03)
    # outer: sigma1 = 0 keeps the inner loop identical, so x differs by the x noise only
    cfg_x = dataclasses.replace(cfg, sigma1=0.0, sigma2=s2)
    state = (x_big, z_p, zt_p, (None, None, None))
    a = outer_step(state, key, batch, cfg_x)[0][0]
    b = outer_step(state, key, batch, dataclasses.replace(cfg_x, noise=False))[0][0]
    np.testing.assert_allclose(np.std(np.asarray(a - b)), np.sqrt(2 * cfg.gamma * s2), rtol=0.03)


def _small_fit(est):
    rng = np.random.default_rng(0)
    z = rng.normal(size=300)
    v = rng.normal(size=300)
    x = z + v
    y = x + v
    return est.fit(treatment=x, instrument=z, outcome=y).predict(np.linspace(-1, 1, 9))


def test_seeds_reproduce_bit_for_bit():
    kw = dict(n_particles_x=32, n_particles_z=32, outer_steps=50, inner_steps=2)
    a = _small_fit(F2BMLD(seed=1, **kw))
    b = _small_fit(F2BMLD(seed=1, **kw))
    c = _small_fit(F2BMLD(seed=2, **kw))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_history_and_adam_variant():
    est = F2BMLD(n_particles_x=32, n_particles_z=32, outer_steps=40, inner_steps=2,
                 optimizer="adam", alpha=0.01, beta=0.01, gamma=0.01, batch_size=64)
    _small_fit(est)
    assert set(est.history_) == {"F1", "F2", "L_lambda"}
    assert est.history_["F2"].shape == (40,)
    assert est.config_.noise is False and est.config_.batch1 == 64


# ------------------------------------------------ issue 13: sampling, outcome, split, network
def test_minibatches_are_index_draws_not_permutations():
    """jax.random.choice(replace=False) permutes all n rows (a sort: 1.5 s per call at
    n = 800k); the batch is now drawn by index with replacement, O(batch)."""
    from flexcausal.iv.f2bmld import _batch

    n = 800_000
    data = (jnp.zeros((n, 1)), jnp.zeros((n, 1)), jnp.zeros((n, 1)), jnp.zeros(n))
    cfg = dataclasses.replace(CFG, batch1=32, batch2=32)
    text = str(jax.make_jaxpr(lambda k: _batch(k, data, cfg))(jax.random.PRNGKey(0)))
    assert not re.search(r"\bsort\[", text)
    x1, _, _, y2 = _batch(jax.random.PRNGKey(0), data, cfg)
    assert x1.shape == (32, 1) and y2.shape == (32,)


def test_constant_outcome_is_not_centred_away():
    """y = 1 everywhere: the network is trained on y / RMS(y) = 1, not on a centred 0 (the
    Bellman form of the same code needs the uncentred outcome), and h is about 1."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=400)
    x = z + rng.normal(size=400)
    est = F2BMLD(n_particles_x=32, n_particles_z=32, outer_steps=300, inner_steps=2,
                 optimizer="adam", alpha=0.01, beta=0.01, gamma=0.01,
                 batch_size=128).fit(treatment=x, instrument=z, outcome=np.ones(400))
    assert est.y_scale_ == (0.0, 1.0)
    np.testing.assert_allclose(est.predict(np.linspace(-1, 1, 5)), 1.0, atol=0.2)


def test_both_stages_use_all_rows_unless_split():
    kw = dict(n_particles_x=8, n_particles_z=8, outer_steps=2, inner_steps=1)
    assert _fit_config(F2BMLD(**kw)) == (300, 300)
    assert _fit_config(F2BMLD(split=0.5, **kw)) == (150, 150)


def _fit_config(est):
    _small_fit(est)
    return est.config_.batch1, est.config_.batch2


def test_network_form_recovers_linear_h():
    """The official network form through the shared core (reproducibility of that core is
    tested in tests/ope/test_estimators.py)."""
    from .conftest import linear_design

    x, z, y = linear_design()
    est = F2BMLD(form="network", outer_steps=1500, batch_size=256, alpha=3e-3, beta=3e-3,
                 gamma=3e-3, inner_steps=5).fit(treatment=x, instrument=z, outcome=y)
    grid = np.linspace(-1.5, 1.5, 31)
    assert np.sqrt(np.mean((est.predict(grid) - (1 + 2 * grid)) ** 2)) < 0.25
    assert set(est.history_) == {"F1", "F2", "L_lambda"}
    assert est.config_.adam and est.get_params()["form"] == "network"
