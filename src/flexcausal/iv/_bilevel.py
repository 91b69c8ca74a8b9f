"""F^2BMLD for any conditional moment E[Y | Z] = E[T_h | Z] with T linear in h.

NPIV has ``T_h = h(X)``; offline policy evaluation (the slides' Bellman form) has
``T_Q = Q(s, a) - gamma (1 - d) E_{a' ~ pi} Q(s', a')``. The algorithm only needs T as a
function of h's parameters on a batch (``treat``), so both share this core.

One outer step (slides, INNERLOOP/OUTERLOOP; official ``F2BMLDLearner.step``):

1. draw a stage-1 batch B1 and a stage-2 batch B2 (indices with replacement);
   T1 = T_h on B1, held fixed (no gradient);
2. ``inner_g`` steps on g:   c mean((T1 - g(z1))^2) + reg_g R(g);
3. ``inner_gt`` steps on g~: c [lam mean((T1 - g~(z1))^2) + mean((y2 - g~(z2))^2)]
   + lam reg_g R(g~);
4. one step on h on a fresh stage-1 batch B3 (gradient through T):
   lam c [mean((T3 - g~(z3))^2) - mean((T3 - g(z3))^2)] + reg_h R(h)
   (the envelope gradient of L_lambda, slides Proposition 1).

g, g~ and h (and the optimiser states) carry over between outer steps (warm starts).

Two forms:

* ``form="network"`` (the official practical form): ReLU MLPs, c = 1, R = sum of squared
  parameters, Adam with betas (0.5, 0.9) (github hudsonchen/F2BMLD ``methods/f2bmld``);
* ``form="mean_field"`` (the slides): mean-field networks of N particles, c = 1/2,
  R = (1/2) mean_j |theta_j|^2 (the zeta/2 E_mu|x|^2 term), and noisy gradient descent
  theta <- theta - step N grad + sqrt(2 step temperature) xi: the Wasserstein gradient is
  N times the Euclidean one (slides, "Mean-field perspective"); temperatures sigma1 (g),
  lam sigma1 (g~, INNERLOOP line 5) and sigma2 (h, OUTERLOOP line 5).

``run_chunk`` jits ``n_steps`` outer steps as one ``lax.scan``; callers loop over chunks to
read out a training trajectory.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

from ._nets import mf_apply, mlp_apply, sum_squares

__all__ = ["BilevelConfig", "apply_fn", "init_state", "run_chunk", "sample_batch"]


@dataclass(frozen=True)
class BilevelConfig:
    """Static settings (hashable: a change recompiles)."""

    form: str  # "network" | "mean_field"
    lam: float
    lr_h: float
    lr_g: float
    lr_gt: float
    reg_h: float
    reg_g: float
    inner_g: int
    inner_gt: int
    batch1: int
    batch2: int
    optimizer: str = "adam"  # "adam" | "langevin"
    noise: bool = False
    sigma1: float = 0.0
    sigma2: float = 0.0
    act_h: str = "relu"
    act_g: str = "relu"
    final_relu: bool = False
    discount: float = 0.0  # used by Bellman treat functions
    next_action: str = "expected"  # Bellman: "expected" over pi, or "sample" a' ~ pi

    @property
    def c(self) -> float:
        return 0.5 if self.form == "mean_field" else 1.0


def apply_fn(cfg: BilevelConfig, net: str):
    """f(params, inputs) -> (B,) for h (``net="h"``) or g / g~ (``"g"``)."""
    act = cfg.act_h if net == "h" else cfg.act_g
    if cfg.form == "mean_field":
        return functools.partial(mf_apply, activation=act)

    def apply(params, x):
        return mlp_apply(params, x, act, cfg.final_relu)[:, 0]

    return apply


def _penalty(cfg: BilevelConfig, params):
    if cfg.form == "mean_field":
        return 0.5 * jnp.mean(jnp.sum(params**2, axis=1))
    return sum_squares(params)


def _grad_scale(cfg: BilevelConfig, params) -> float:
    return params.shape[0] if cfg.form == "mean_field" else 1.0


@functools.lru_cache(maxsize=64)
def optimizers(cfg: BilevelConfig):
    """(h, g, g~) optax optimisers (Adam, betas 0.5/0.9 as the official learner), or None
    for Langevin. Cached so that equal configs give identical objects."""
    if cfg.optimizer != "adam":
        return None, None, None
    return tuple(optax.adam(lr, b1=0.5, b2=0.9) for lr in (cfg.lr_h, cfg.lr_g, cfg.lr_gt))


def init_state(cfg: BilevelConfig, params):
    """(h, g, g~, opt_h, opt_g, opt_gt) from initial (h, g, g~) parameters."""
    opts = optimizers(cfg)
    states = tuple(None if o is None else o.init(p) for o, p in zip(opts, params, strict=True))
    return (*params, *states)


def _move(cfg, params, grads, opt, opt_state, lr, temperature, key):
    """One update: Adam on the gradient, or the (noisy) gradient step of Langevin."""
    if opt is not None:
        updates, opt_state = opt.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
    else:
        scale = _grad_scale(cfg, params)
        params = jax.tree_util.tree_map(lambda p, g: p - lr * scale * g, params, grads)
    if cfg.noise and temperature > 0:
        leaves, tree = jax.tree_util.tree_flatten(params)
        keys = jax.random.split(key, len(leaves))
        sd = jnp.sqrt(2.0 * lr * temperature)
        leaves = [p + sd * jax.random.normal(k, p.shape, p.dtype)
                  for p, k in zip(leaves, keys, strict=True)]
        params = jax.tree_util.tree_unflatten(tree, leaves)
    return params, opt_state


def sample_batch(key, data: dict, size: int) -> dict:
    """Rows drawn uniformly with replacement (O(size), whatever the data size)."""
    n = next(iter(data.values())).shape[0]
    idx = jax.random.randint(key, (size,), 0, n)
    return {k: v[idx] for k, v in data.items()}


def outer_step(state, key, data1, data2, cfg: BilevelConfig, treat):
    """One outer step (module docstring); returns the new state and 4 losses: stage 1
    mean((T - g)^2), mean((T - g~)^2), stage 2 mean((y - g~)^2), and the outer objective."""
    h, g, gt, s_h, s_g, s_gt = state
    opt_h, opt_g, opt_gt = optimizers(cfg)
    k1, k2, k3, ka1, ka3, kg, kgt, kh = jax.random.split(key, 8)
    b1 = sample_batch(k1, data1, cfg.batch1)
    b2 = sample_batch(k2, data2, cfg.batch2)
    b3 = sample_batch(k3, data1, cfg.batch1)
    f_h, f_g = apply_fn(cfg, "h"), apply_fn(cfg, "g")
    c, lam = cfg.c, cfg.lam
    t1 = jax.lax.stop_gradient(treat(f_h, h, b1, ka1, cfg))

    def loss_g(p):
        return c * jnp.mean((t1 - f_g(p, b1["z"])) ** 2) + cfg.reg_g * _penalty(cfg, p)

    def loss_gt(p):
        fit1 = jnp.mean((t1 - f_g(p, b1["z"])) ** 2)
        fit2 = jnp.mean((b2["y"] - f_g(p, b2["z"])) ** 2)
        return c * (lam * fit1 + fit2) + lam * cfg.reg_g * _penalty(cfg, p)

    def inner(loss, opt, lr, temperature, n_steps):
        def body(carry, k):
            p, s = carry
            grads = jax.grad(loss)(p)
            return _move(cfg, p, grads, opt, s, lr, temperature, k), None

        return body, n_steps

    body_g, n_g = inner(loss_g, opt_g, cfg.lr_g, cfg.sigma1, cfg.inner_g)
    (g, s_g), _ = jax.lax.scan(body_g, (g, s_g), jax.random.split(kg, n_g))
    body_gt, n_gt = inner(loss_gt, opt_gt, cfg.lr_gt, lam * cfg.sigma1, cfg.inner_gt)
    (gt, s_gt), _ = jax.lax.scan(body_gt, (gt, s_gt), jax.random.split(kgt, n_gt))

    g3, gt3 = f_g(g, b3["z"]), f_g(gt, b3["z"])

    def loss_h(p):
        t3 = treat(f_h, p, b3, ka3, cfg)
        outer = lam * c * (jnp.mean((t3 - gt3) ** 2) - jnp.mean((t3 - g3) ** 2))
        return outer + cfg.reg_h * _penalty(cfg, p), outer

    (_, outer), grads = jax.value_and_grad(loss_h, has_aux=True)(h)
    kh_noise = kh
    h, s_h = _move(cfg, h, grads, opt_h, s_h, cfg.lr_h, cfg.sigma2, kh_noise)
    losses = jnp.stack([jnp.mean((t1 - f_g(g, b1["z"])) ** 2),
                        jnp.mean((t1 - f_g(gt, b1["z"])) ** 2),
                        jnp.mean((b2["y"] - f_g(gt, b2["z"])) ** 2), outer])
    return (h, g, gt, s_h, s_g, s_gt), losses


@eqx.filter_jit
def run_chunk(state, key, data1, data2, cfg: BilevelConfig, treat, n_steps: int):
    """``n_steps`` outer steps as one scan: (new state, losses (n_steps, 4))."""

    def body(st, k):
        return outer_step(st, k, data1, data2, cfg, treat)

    return jax.lax.scan(body, state, jax.random.split(key, n_steps))


def npiv_treat(f_h, params, batch, key, cfg):
    """NPIV: T_h = h(X)."""
    del key, cfg
    return f_h(params, batch["x"])
