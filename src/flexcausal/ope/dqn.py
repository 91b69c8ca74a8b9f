"""DQN for the target policies, in JAX/optax (the official recipe, our own code).

The recipe of the official ``DQN.ipynb`` (github hudsonchen/F2BMLD, itself the PyTorch DQN
tutorial): Q network 4-128-128-2 (ReLU), AdamW (lr 3e-4, amsgrad) with gradients clipped at
100 (by value), batch 128 from a 10,000-transition replay memory, gamma 0.99, epsilon-greedy
exploration ``0.01 + 0.89 exp(-steps / 2500)``, soft target update ``tau = 0.005`` every step,
Huber (smooth L1) loss; ``terminated`` ends the bootstrap, the 500-step truncation does not.
Episodes per noise level: 500 + 1000 * noise (500 ... 900), on the noisy-action environment.

One addition of ours (the official notebook keeps the last network): every ``eval_every``
episodes the greedy network is evaluated on ``eval_episodes`` fresh episodes of the same
noisy environment, and the best one is kept (``train_dqn`` returns it with the curve).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .._checks import check_int, check_unit_interval
from ..iv._nets import init_mlp, mlp_apply
from .env import N_ACTIONS, STATE_DIM, make_cartpole, rollout
from .policy import QNetworkPolicy

__all__ = ["DQNResult", "train_dqn"]


def _huber(x):
    ax = jnp.abs(x)
    return jnp.where(ax < 1.0, 0.5 * x**2, ax - 0.5)


@functools.lru_cache(maxsize=8)
def _make_update(lr: float, gamma: float, tau: float):
    """(optimizer, jitted update); cached so that equal settings compile once."""
    opt = optax.chain(optax.clip(100.0), optax.scale_by_amsgrad(),
                      optax.add_decayed_weights(0.01), optax.scale(-lr))  # torch AdamW(amsgrad)

    def loss_fn(params, target, batch):
        s, a, r, term, s2 = batch
        q = jnp.take_along_axis(mlp_apply(params, s), a[:, None], axis=1)[:, 0]
        q_next = jnp.max(mlp_apply(target, s2), axis=1)
        y = r + gamma * (1.0 - term) * jax.lax.stop_gradient(q_next)
        return jnp.mean(_huber(q - y))

    @jax.jit
    def update(params, target, opt_state, batch):
        loss, grads = jax.value_and_grad(loss_fn)(params, target, batch)
        updates, opt_state = opt.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        target = jax.tree_util.tree_map(lambda t, p: (1 - tau) * t + tau * p, target, params)
        return params, target, opt_state, loss

    return opt, update


@dataclass
class DQNResult:
    """``layers``: the kept greedy network (numpy float32); ``episode_lengths``: training
    episode lengths; ``eval_episodes``/``eval_returns``: checkpoint evaluations (mean
    undiscounted return of the greedy policy); ``best_episode``: the kept checkpoint."""

    layers: list
    episode_lengths: np.ndarray
    eval_at: np.ndarray = field(default_factory=lambda: np.empty(0))
    eval_returns: np.ndarray = field(default_factory=lambda: np.empty(0))
    best_episode: int = -1

    def policy(self, epsilon: float = 0.0) -> QNetworkPolicy:
        return QNetworkPolicy(self.layers, epsilon)


def _to_numpy(params):
    return [(np.asarray(w), np.asarray(b)) for w, b in params]


def train_dqn(noise: float, n_episodes: int | None = None, seed: int = 0, *,
              hidden=(128, 128), lr: float = 3e-4, batch_size: int = 128,
              gamma: float = 0.99, eps_start: float = 0.9, eps_end: float = 0.01,
              eps_decay: float = 2500.0, tau: float = 0.005, memory: int = 10_000,
              eval_every: int = 25, eval_episodes: int = 20, verbose: bool = False) -> DQNResult:
    """Train a DQN on the noisy CartPole (module docstring); returns the best checkpoint."""
    noise = check_unit_interval(noise, "noise")
    n_episodes = int(round(500 + 1000 * noise)) if n_episodes is None else check_int(
        n_episodes, "n_episodes", minimum=1)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 17]))
    env = make_cartpole(noise, seed=seed)
    params = init_mlp(jax.random.PRNGKey(seed), (STATE_DIM, *hidden, N_ACTIONS))
    target = jax.tree_util.tree_map(lambda x: x, params)
    opt, update = _make_update(lr, gamma, tau)
    opt_state = opt.init(params)
    buf_s = np.zeros((memory, STATE_DIM), np.float32)
    buf_s2 = np.zeros((memory, STATE_DIM), np.float32)
    buf_a = np.zeros(memory, np.int32)
    buf_r = np.zeros(memory, np.float32)
    buf_t = np.zeros(memory, np.float32)
    size = pos = steps = 0
    layers = _to_numpy(params)
    lengths, eval_at, eval_ret = [], [], []
    best, best_layers, best_ep = -np.inf, layers, -1
    for episode in range(n_episodes):
        obs, _ = env.reset(seed=int(rng.integers(2**31)))
        length = 0
        while True:
            eps = eps_end + (eps_start - eps_end) * math.exp(-steps / eps_decay)
            steps += 1
            if rng.random() > eps:
                action = int(np.argmax(QNetworkPolicy(layers).q_values(obs[None])[0]))
            else:
                action = int(rng.integers(N_ACTIONS))
            obs2, reward, terminated, truncated, _ = env.step(action)
            buf_s[pos], buf_a[pos], buf_r[pos] = obs, action, reward
            buf_t[pos], buf_s2[pos] = float(terminated), obs2
            pos, size = (pos + 1) % memory, min(size + 1, memory)
            if size >= batch_size:
                idx = rng.integers(0, size, batch_size)
                batch = (buf_s[idx], buf_a[idx], buf_r[idx], buf_t[idx], buf_s2[idx])
                params, target, opt_state, _ = update(params, target, opt_state, batch)
                layers = _to_numpy(params)
            obs = obs2
            length += 1
            if terminated or truncated:
                break
        lengths.append(length)
        if (episode + 1) % eval_every == 0 or episode == n_episodes - 1:
            pol = QNetworkPolicy(layers)
            ret = rollout(pol, eval_episodes, noise=noise, seed=seed * 100_003 + episode,
                          gamma=1.0).returns.mean()
            eval_at.append(episode + 1)
            eval_ret.append(ret)
            if ret >= best:
                best, best_layers, best_ep = ret, [(w.copy(), b.copy()) for w, b in layers], \
                    episode + 1
            if verbose:
                print(f"noise {noise}: episode {episode + 1}, last length {length}, "
                      f"greedy eval {ret:.1f} (best {best:.1f} at {best_ep})", flush=True)
    return DQNResult(layers=best_layers, episode_lengths=np.asarray(lengths),
                     eval_at=np.asarray(eval_at), eval_returns=np.asarray(eval_ret),
                     best_episode=best_ep)
