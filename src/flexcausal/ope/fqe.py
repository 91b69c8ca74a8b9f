"""Fitted Q Evaluation (Le, Voloshin & Yue 2019) and LSTD-Q (Lagoudakis & Parr 2003).

FQE iterates the regression Q_{k+1} = argmin_Q E[(r + gamma (1 - d) E_{a'~pi} Q_k(s', a')
- Q(s, a))^2]. Two forms:

* neural (``features=None``): an MLP Q trained by Adam on minibatches (indices drawn with
  replacement) against a target network Q_k copied from Q every ``target_period`` steps;
* linear (``features=phi``, phi(states, actions) -> (n, k)): each iteration is a ridge
  regression, w_{k+1} = (Phi'Phi + ridge n I)^{-1} Phi'(r + gamma (1 - d) Phi'_pi w_k) with
  Phi'_pi = sum_a' pi(a'|s') phi(s', a'). Its fixed point solves
  Phi'(Phi - gamma (1 - d) Phi'_pi) w = Phi'r (+ ridge), which is LSTD: ``LSTD`` computes it
  in one solve, and the tests check that the iteration converges to it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax
from scipy import linalg

from .._checks import check_int, check_int_sequence, check_nonnegative, check_positive
from ..iv._nets import init_mlp, mlp_apply, sum_squares
from ._base import OPEEstimator, all_action_inputs, jax_all_actions, scan_steps

__all__ = ["FQE", "LSTD"]


def _decode(inputs, n_actions: int):
    inputs = np.asarray(inputs)
    return inputs[:, :-n_actions], np.argmax(inputs[:, -n_actions:], axis=1)


def _feature_matrix(features, states, actions, argname="features") -> np.ndarray:
    phi = np.asarray(features(states, actions), dtype=np.float64)
    if phi.ndim != 2 or phi.shape[0] != len(states):
        raise ValueError(f"{argname}(states, actions) must return an (n, k) array, got "
                         f"shape {phi.shape}")
    if not np.all(np.isfinite(phi)):
        raise ValueError(f"{argname}(states, actions) returned NaN or infinite values")
    return phi


def _linear_design(features, prep):
    """Phi (n, k), Phi'_pi (n, k) discounted by gamma (1 - d) is left to the caller."""
    data = prep["data"]
    phi = _feature_matrix(features, data.states, data.actions)
    nxt = np.zeros_like(phi)
    for a in range(data.n_actions):
        p = prep["next_probs"][:, a]
        if np.any(p > 0):
            nxt += p[:, None] * _feature_matrix(
                features, data.next_states, np.full(len(data), a, np.int64))
    return phi, nxt


@dataclass(frozen=True)
class _FQEConfig:
    gamma: float
    batch: int
    period: int
    reg: float
    lr: float
    n_actions: int


@functools.lru_cache(maxsize=16)
def _adam(lr: float):
    return optax.adam(lr)


def _fqe_step(state, key, arrays, cfg: _FQEConfig):
    """One Adam step on mean (Q(s, a) - r - gamma (1 - d) E_pi Q_target(s', .))^2 (+ l2);
    the target network is a copy of Q every ``cfg.period`` steps."""
    p, target, opt_state, t = state
    idx = jax.random.randint(key, (cfg.batch,), 0, arrays["y"].shape[0])
    z, s2, p2, d, y = (arrays[k][idx] for k in ("z", "s2", "p2", "d", "y"))
    q2 = mlp_apply(target, jax_all_actions(s2, cfg.n_actions))[:, 0].reshape(
        -1, cfg.n_actions)
    y_t = y + cfg.gamma * (1.0 - d) * jnp.sum(p2 * q2, axis=1)

    def loss(p_):
        return jnp.mean((mlp_apply(p_, z)[:, 0] - y_t) ** 2) + cfg.reg * sum_squares(p_)

    value, grads = jax.value_and_grad(loss)(p)
    updates, opt_state = _adam(cfg.lr).update(grads, opt_state, p)
    p = optax.apply_updates(p, updates)
    t = t + 1
    copy = (t % cfg.period) == 0
    target = jax.tree_util.tree_map(lambda a, b: jnp.where(copy, a, b), p, target)
    return (p, target, opt_state, t), value[None]


class LSTD(OPEEstimator):
    """LSTD-Q for a fixed target policy: w = (Phi'(Phi - gamma (1-d) Phi'_pi) + ridge n I)^-1
    Phi'r; Q(s, a) = phi(s, a)'w. With one-hot (tabular) features this is the exact value of
    the empirical MDP (certainty equivalence).

    Parameters: ``features`` (callable (states, actions) -> (n, k)), ``gamma``, ``ridge``
    (>= 0, relative to n). Fitted: ``coef_``.
    """

    _params = ("features", "gamma", "ridge")

    def __init__(self, features, gamma=0.99, ridge=0.0):
        self.features = features
        self.gamma = gamma
        self.ridge = ridge

    def _validate(self) -> None:
        if not callable(self.features):
            raise TypeError("features must be a callable (states, actions) -> (n, k) array")
        check_nonnegative(self.ridge, "ridge")

    def _fit(self, prep) -> None:
        phi, nxt = _linear_design(self.features, prep)
        data = prep["data"]
        disc = self.gamma_ * (1.0 - data.terminated)[:, None]
        a = phi.T @ (phi - disc * nxt) + self.ridge * len(data) * np.eye(phi.shape[1])
        b = phi.T @ data.rewards
        try:
            self.coef_ = linalg.solve(a, b)
        except linalg.LinAlgError:
            raise ValueError("LSTD's matrix Phi'(Phi - gamma Phi'_pi) is singular: some "
                             "feature is never visited; pass ridge > 0") from None
        self.n_actions_ = data.n_actions
        q = self._q(all_action_inputs(prep["init"], data.n_actions)).reshape(
            -1, data.n_actions)
        q0 = float(np.mean(np.sum(prep["init_probs"] * q, axis=1)))
        self.history_ = {"step": np.array([0]), "q0": np.array([q0])}

    def _q(self, inputs):
        s, a = _decode(inputs, self.n_actions_)
        return _feature_matrix(self.features, s, a) @ self.coef_


class FQE(OPEEstimator):
    """Fitted Q Evaluation (module docstring).

    Parameters
    ----------
    features : None (neural FQE) or a callable (states, actions) -> (n, k) (linear FQE).
    gamma : discount factor in (0, 1).
    n_steps : Adam steps (neural) or regression iterations (linear).
    hidden : hidden widths of the Q network (neural; (50, 50), ReLU, linear output).
    batch_size : rows per Adam step (neural; indices with replacement).
    lr : Adam learning rate (neural).
    target_period : steps between copies of Q into the target network (neural).
    reg : l2 penalty on the network weights (neural, |theta|^2) or ridge (linear, times n).
    reward_scale, value_offset : Q = value_offset + reward_scale Q~ with Q~ learned from
        the exactly transformed reward (``OPEEstimator._value_transform``; neural only):
        "auto" or numbers (defaults "auto": Q~ starts at the value of never terminating
        and is O(1); on the noise-0.2 CartPole data this took FQE's error at 30,000 steps
        from 3.5 to 0.3 with the target period of 20).
    eval_every : steps per jitted chunk / readout interval of ``history_["q0"]``.
    seed : int (initialisation and batches).
    """

    _params = ("features", "gamma", "n_steps", "hidden", "batch_size", "lr", "target_period",
               "reg", "reward_scale", "value_offset", "eval_every", "seed")

    def __init__(self, features=None, gamma=0.99, n_steps=30_000, hidden=(50, 50),
                 batch_size=256, lr=1e-3, target_period=20, reg=0.0, reward_scale="auto",
                 value_offset="auto", eval_every=100, seed=0):
        self.features = features
        self.gamma = gamma
        self.n_steps = n_steps
        self.hidden = hidden
        self.batch_size = batch_size
        self.lr = lr
        self.target_period = target_period
        self.reg = reg
        self.reward_scale = reward_scale
        self.value_offset = value_offset
        self.eval_every = eval_every
        self.seed = seed

    def _validate(self) -> None:
        if self.features is not None and not callable(self.features):
            raise TypeError("features must be None (neural FQE) or a callable (states, "
                            "actions) -> (n, k) array")
        check_int(self.n_steps, "n_steps", minimum=1)
        check_int_sequence(self.hidden, "hidden (layer widths)", allow_empty=False)
        check_int(self.batch_size, "batch_size", minimum=1)
        check_positive(self.lr, "lr")
        check_int(self.target_period, "target_period", minimum=1)
        check_nonnegative(self.reg, "reg")
        self._check_transform_and_readout()

    def _fit(self, prep) -> None:
        if self.features is not None:
            self._fit_linear(prep)
        else:
            self._fit_neural(prep)

    # ---------------------------------------------------------------- linear
    def _fit_linear(self, prep) -> None:
        data = prep["data"]
        phi, nxt = _linear_design(self.features, prep)
        disc_next = self.gamma_ * (1.0 - data.terminated)[:, None] * nxt
        gram = phi.T @ phi + self.reg * len(data) * np.eye(phi.shape[1])
        try:
            factor = linalg.cho_factor(gram)
        except linalg.LinAlgError:
            raise ValueError("Phi'Phi is singular: a feature is never visited; pass "
                             "reg > 0") from None
        proj_r = linalg.cho_solve(factor, phi.T @ data.rewards)
        proj_next = linalg.cho_solve(factor, phi.T @ disc_next)  # (k, k)
        init_phi = np.zeros((len(prep["init"]), phi.shape[1]))
        for a in range(data.n_actions):
            init_phi += prep["init_probs"][:, a:a + 1] * _feature_matrix(
                self.features, prep["init"], np.full(len(prep["init"]), a, np.int64))
        w = np.zeros(phi.shape[1])
        steps, q0 = [0], [float(np.mean(init_phi @ w))]
        for k in range(1, int(self.n_steps) + 1):
            w = proj_r + proj_next @ w
            if k % int(self.eval_every) == 0 or k == self.n_steps:
                steps.append(k)
                q0.append(float(np.mean(init_phi @ w)))
        self.coef_ = w
        self.history_ = {"step": np.asarray(steps), "q0": np.asarray(q0)}

    # ---------------------------------------------------------------- neural
    def _fit_neural(self, prep) -> None:
        data = prep["data"]
        scale, offset = self._value_transform(data.rewards, self.reward_scale,
                                              self.value_offset)
        self.reward_scale_, self.value_offset_ = scale, offset
        arrays = self._jax_data(prep, scale, offset)
        dim, n_actions = arrays["z"].shape[1], data.n_actions
        sizes = (dim, *check_int_sequence(self.hidden, "hidden"), 1)
        kq, krun = jax.random.split(jax.random.PRNGKey(self.seed))
        params = init_mlp(kq, sizes)
        cfg = _FQEConfig(self.gamma_, int(self.batch_size), int(self.target_period),
                         float(self.reg), float(self.lr), n_actions)
        inputs0, probs0 = self._init_readout(prep)

        def q0_fn(state):  # eager: no compilation per fit
            q = mlp_apply(state[0], inputs0)[:, 0].reshape(-1, n_actions)
            return offset + scale * jnp.mean(jnp.sum(probs0 * q, axis=1))

        def chunk_fn(state, key, size):
            return scan_steps(_fqe_step, state, key, arrays, cfg, size)

        state = (params, params, _adam(cfg.lr).init(params), jnp.asarray(0, jnp.int32))
        state = self._train_loop(state, krun, self.n_steps, self.eval_every, chunk_fn, q0_fn,
                                 ("loss",))
        self.params_ = state[0]

    def _q(self, inputs):
        if self.features is not None:
            s, a = _decode(inputs, self.n_actions_)
            return _feature_matrix(self.features, s, a) @ self.coef_
        return self.value_offset_ + self.reward_scale_ * np.asarray(
            mlp_apply(self.params_, jnp.asarray(inputs, jnp.float32))[:, 0], np.float64)
