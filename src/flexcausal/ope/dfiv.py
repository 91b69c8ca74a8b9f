"""Deep Feature IV for offline policy evaluation (Chen, Xu, Gulcehre, Le Paine, Gretton,
de Freitas & Doucet 2022, "On Instrumental Variable Regression for Deep Offline Policy
Evaluation"), the baseline of the F^2BMLD experiment.

Q(s, a) = [phi(s, a), 1]'u with learned features phi; instrument features psi(s, a).
Per step, on a stage-1 batch B1 and a stage-2 batch B2 (indices with replacement):

1. T1 = [phi(z1), 1] - gamma (1 - d) sum_a' pi(a'|s') [phi(s', a'), 1] (features of the
   Bellman difference; the stage-1 target of the official port, github hudsonchen/F2BMLD
   ``methods/dfiv/learner.py``);
2. ``instrument_iter`` Adam steps on psi minimising the ridge fit of T1 on [psi(z1), 1]:
   mean ||T1 - Psi1 V(psi)||^2 with V(psi) = (Psi1'Psi1 + ridge1 I)^-1 Psi1'T1 (DFIV's
   stage 1, the gradient through the closed form, as github liyuan9988/IVOPEwithACME);
3. one Adam step on phi minimising the stage-2 ridge loss of r2 on Psi2 V(phi): the gradient
   flows through both closed forms (DFIV Algorithm 1);
4. u = ridge fit of r2 on Psi2 V (the readout weight).

Defaults are the official port's (``main/run_dfiv.py``): phi and psi 6-50-50 ReLU (final ReLU)
plus a constant column, ridge 1e-5 on the unscaled Gram, l2 1e-5 on both networks, batch
1024, value lr 1e-4 and instrument lr 1e-3 (Adam betas 0.5/0.9), 10 instrument iterations,
30,000 steps; raw rewards.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .._checks import check_int, check_int_sequence, check_nonnegative, check_positive
from ..iv._nets import init_mlp, mlp_apply, sum_squares
from ._base import OPEEstimator, jax_all_actions, scan_steps

__all__ = ["DFIV"]


def _feat(params, x):
    f = mlp_apply(params, x, "relu", final_relu=True)
    return jnp.concatenate([f, jnp.ones((f.shape[0], 1), f.dtype)], axis=1)


def _ridge(target, feats, reg):
    gram = feats.T @ feats + reg * jnp.eye(feats.shape[1], dtype=feats.dtype)
    return jnp.linalg.solve(gram, feats.T @ target)


def _bellman_features(phi, batch, gamma, n_actions):
    cur = _feat(phi, batch["z"])
    nxt = _feat(phi, jax_all_actions(batch["s2"], n_actions)).reshape(
        cur.shape[0], n_actions, -1)
    nxt = jnp.einsum("ba,bak->bk", batch["p2"], nxt)
    return cur - gamma * (1.0 - batch["d"])[:, None] * nxt


@dataclass(frozen=True)
class _DFIVConfig:
    gamma: float
    batch: int
    instrument_iter: int
    ridge1: float
    ridge2: float
    value_reg: float
    instrument_reg: float
    value_lr: float
    instrument_lr: float
    n_actions: int


@functools.lru_cache(maxsize=16)
def _optimizers(value_lr: float, instrument_lr: float):
    """Adam with the official betas (0.5, 0.9); cached so that equal settings share one
    compiled chunk."""
    return (optax.adam(value_lr, b1=0.5, b2=0.9), optax.adam(instrument_lr, b1=0.5, b2=0.9))


def _stage2(phi, psi, b1, b2, cfg: _DFIVConfig):
    """(u, stage-2 ridge loss) with V = ridge(T1; Psi1) and u = ridge(r2; Psi2 V)."""
    t1 = _bellman_features(phi, b1, cfg.gamma, cfg.n_actions)
    v = _ridge(t1, _feat(psi, b1["z"]), cfg.ridge1)
    pred = _feat(psi, b2["z"]) @ v
    u = _ridge(b2["y"], pred, cfg.ridge2)
    return u, jnp.mean((b2["y"] - pred @ u) ** 2) + cfg.ridge2 * jnp.sum(u**2) / cfg.batch


def _dfiv_step(state, key, arrays, cfg: _DFIVConfig):
    """One DFIV step (module docstring, items 1-4)."""
    phi, psi, s_v, s_i, _ = state
    opt_v, opt_i = _optimizers(cfg.value_lr, cfg.instrument_lr)
    n = arrays["y"].shape[0]
    k1, k2 = jax.random.split(key)
    b1 = {k: v[jax.random.randint(k1, (cfg.batch,), 0, n)] for k, v in arrays.items()}
    b2 = {k: v[jax.random.randint(k2, (cfg.batch,), 0, n)] for k, v in arrays.items()}
    t1 = jax.lax.stop_gradient(_bellman_features(phi, b1, cfg.gamma, cfg.n_actions))

    def loss_i(p):
        f = _feat(p, b1["z"])
        v = _ridge(t1, f, cfg.ridge1)
        fit = jnp.mean(jnp.sum((t1 - f @ v) ** 2, axis=1))
        return fit + cfg.ridge1 * jnp.sum(v**2) / cfg.batch + cfg.instrument_reg * \
            sum_squares(p)

    def inner(carry, _):
        p, s = carry
        value, grads = jax.value_and_grad(loss_i)(p)
        upd, s = opt_i.update(grads, s, p)
        return (optax.apply_updates(p, upd), s), value

    (psi, s_i), l1 = jax.lax.scan(inner, (psi, s_i), None, length=cfg.instrument_iter)

    def loss_v(p):
        return _stage2(p, psi, b1, b2, cfg)[1] + cfg.value_reg * sum_squares(p)

    l2, grads = jax.value_and_grad(loss_v)(phi)
    upd, s_v = opt_v.update(grads, s_v, phi)
    phi = optax.apply_updates(phi, upd)
    u, _ = _stage2(phi, psi, b1, b2, cfg)
    return (phi, psi, s_v, s_i, u), jnp.stack([l1[-1], l2])


class DFIV(OPEEstimator):
    """DFIV for OPE (module docstring).

    Parameters
    ----------
    gamma : discount factor in (0, 1).
    n_steps : training steps (official 30,000).
    batch_size : rows of each stage's batch (1024).
    hidden : widths of both feature networks ((50, 50)).
    value_lr, instrument_lr : Adam learning rates of phi and psi (1e-4, 1e-3).
    instrument_iter : psi steps per step (10).
    ridge1, ridge2 : stage-1/2 ridge on the unscaled Gram (1e-5).
    value_reg, instrument_reg : l2 on the network weights (1e-5).
    reward_scale, value_offset : Q = value_offset + reward_scale Q~ with Q~ learned from
        the exactly transformed reward (``OPEEstimator._value_transform``); "auto" or
        numbers (defaults 1 and 0: raw rewards, as the official code).
    eval_every, seed : readout interval, seed.
    """

    _params = ("gamma", "n_steps", "batch_size", "hidden", "value_lr", "instrument_lr",
               "instrument_iter", "ridge1", "ridge2", "value_reg", "instrument_reg",
               "reward_scale", "value_offset", "eval_every", "seed")

    def __init__(self, gamma=0.99, n_steps=30_000, batch_size=1024, hidden=(50, 50),
                 value_lr=1e-4, instrument_lr=1e-3, instrument_iter=10, ridge1=1e-5,
                 ridge2=1e-5, value_reg=1e-5, instrument_reg=1e-5, reward_scale=1.0,
                 value_offset=0.0, eval_every=100, seed=0):
        self.gamma = gamma
        self.n_steps = n_steps
        self.batch_size = batch_size
        self.hidden = hidden
        self.value_lr = value_lr
        self.instrument_lr = instrument_lr
        self.instrument_iter = instrument_iter
        self.ridge1 = ridge1
        self.ridge2 = ridge2
        self.value_reg = value_reg
        self.instrument_reg = instrument_reg
        self.reward_scale = reward_scale
        self.value_offset = value_offset
        self.eval_every = eval_every
        self.seed = seed

    def _validate(self) -> None:
        check_int(self.n_steps, "n_steps", minimum=1)
        check_int(self.batch_size, "batch_size", minimum=2)
        check_int_sequence(self.hidden, "hidden (layer widths)", allow_empty=False)
        check_positive(self.value_lr, "value_lr")
        check_positive(self.instrument_lr, "instrument_lr")
        check_int(self.instrument_iter, "instrument_iter", minimum=1)
        for name in ("ridge1", "ridge2"):
            check_positive(getattr(self, name), name)
        for name in ("value_reg", "instrument_reg"):
            check_nonnegative(getattr(self, name), name)
        self._check_transform_and_readout()

    def _fit(self, prep) -> None:
        data = prep["data"]
        scale, offset = self._value_transform(data.rewards, self.reward_scale,
                                              self.value_offset)
        self.reward_scale_, self.value_offset_ = scale, offset
        arrays = self._jax_data(prep, scale, offset)
        dim, n_actions = arrays["z"].shape[1], data.n_actions
        sizes = (dim, *check_int_sequence(self.hidden, "hidden"))
        kphi, kpsi, krun = jax.random.split(jax.random.PRNGKey(self.seed), 3)
        phi, psi = init_mlp(kphi, sizes), init_mlp(kpsi, sizes)
        cfg = _DFIVConfig(self.gamma_, int(self.batch_size), int(self.instrument_iter),
                          float(self.ridge1), float(self.ridge2), float(self.value_reg),
                          float(self.instrument_reg), float(self.value_lr),
                          float(self.instrument_lr), n_actions)
        opt_v, opt_i = _optimizers(cfg.value_lr, cfg.instrument_lr)
        inputs0, probs0 = self._init_readout(prep)

        def q0_fn(state):  # eager: no compilation per fit
            q = (_feat(state[0], inputs0) @ state[4]).reshape(-1, n_actions)
            return offset + scale * jnp.mean(jnp.sum(probs0 * q, axis=1))

        def chunk_fn(state, key, size):
            return scan_steps(_dfiv_step, state, key, arrays, cfg, size)

        u0 = jnp.zeros(sizes[-1] + 1, jnp.float32)
        state = (phi, psi, opt_v.init(phi), opt_i.init(psi), u0)
        state = self._train_loop(state, krun, self.n_steps, self.eval_every, chunk_fn, q0_fn,
                                 ("stage1_loss", "stage2_loss"))
        self.params_ = (state[0], state[1])
        self.stage2_weight_ = state[4]

    def _q(self, inputs):
        feats = _feat(self.params_[0], jnp.asarray(inputs, jnp.float32))
        return self.value_offset_ + self.reward_scale_ * np.asarray(
            feats @ self.stage2_weight_, np.float64)
