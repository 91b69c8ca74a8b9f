"""Common API of the policy-evaluation estimators.

``fit(dataset, target_policy, initial_states=None)`` validates once here; subclasses get
clean arrays. The Bellman equation in NPIV form (slides, "Background: Offline reinforcement
learning"): E[r | s, a] = E[Q(s, a) - gamma (1 - d) Q(s', a') | s, a] with a' ~ pi(. | s'),
i.e. Y = r, instrument Z = (s, a), "treatment" T_Q = Q(s, a) - gamma (1 - d) Q(s', a').

Every estimator exposes ``q_values(states) -> (n, n_actions)``, ``value(initial_states)``
(the policy value E_{s0}[sum_a pi(a|s0) Q(s0, a)]), ``bellman_residual(dataset)`` and
``history_``: ``step`` and ``q0`` (the value at ``initial_states`` every ``eval_every``
steps) plus per-chunk mean losses. The iterative estimators train as jitted chunks of
``eval_every`` steps (one ``lax.scan`` each), so the trajectory is read out between chunks.
"""

from __future__ import annotations

import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_int, check_positive
from .._params import ParamsMixin
from ..gkrls.backend import blas_one_thread
from .data import Transitions, as_transitions
from .policy import policy_probs

__all__ = ["OPEEstimator", "check_discount", "check_finite", "onehot_inputs"]


def check_finite(value, argname: str) -> float:
    """A finite real number."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{argname} must be a number or 'auto', got {value!r}")
    if not np.isfinite(value):
        raise ValueError(f"{argname} must be finite, got {value}")
    return float(value)


def check_discount(value, argname: str = "gamma") -> float:
    """The discount factor, strictly inside (0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{argname} (the discount factor) must be a number in (0, 1), got "
                        f"{value!r}")
    if not (0.0 < float(value) < 1.0):
        raise ValueError(f"{argname} (the discount factor) must be in (0, 1), got {value}: "
                         "gamma = 1 has no finite value for an infinite horizon")
    return float(value)


def onehot_inputs(states, actions, n_actions: int) -> np.ndarray:
    """[s, onehot(a)] float32 rows: the input of Q and of the instrument networks
    (official ``CriticMultiplexer``)."""
    states = np.asarray(states, np.float32)
    onehot = np.zeros((len(states), n_actions), np.float32)
    onehot[np.arange(len(states)), np.asarray(actions, np.int64)] = 1.0
    return np.concatenate([states, onehot], axis=1)


def all_action_inputs(states, n_actions: int) -> np.ndarray:
    """[s_i, onehot(a)] for every row i and action a, shape (n * n_actions, d + A)."""
    states = np.asarray(states, np.float32)
    n = len(states)
    return onehot_inputs(np.repeat(states, n_actions, axis=0),
                         np.tile(np.arange(n_actions), n), n_actions)


def jax_all_actions(states, n_actions: int):
    """``all_action_inputs`` in JAX (inside jitted code)."""
    n = states.shape[0]
    rep = jnp.repeat(states, n_actions, axis=0)
    eye = jnp.tile(jnp.eye(n_actions, dtype=states.dtype), (n, 1))
    return jnp.concatenate([rep, eye], axis=1)


@eqx.filter_jit
def scan_steps(step, state, key, arrays, cfg, n_steps: int):
    """``n_steps`` training steps ``step(state, key, arrays, cfg) -> (state, losses)`` as
    one jitted ``lax.scan`` (``step``, ``cfg`` and ``n_steps`` are static): (new state,
    losses stacked over the steps)."""

    def body(st, k):
        return step(st, k, arrays, cfg)

    return jax.lax.scan(body, state, jax.random.split(key, n_steps))


class OPEEstimator(ParamsMixin):
    """Base class. Subclasses implement ``_validate()``, ``_fit(prep)`` and
    ``_q(inputs) -> Q`` on [s, onehot(a)] rows; iterative ones use ``_train_loop``."""

    def _validate(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _check_transform_and_readout(self) -> None:
        """Checks shared by the estimators with an "auto" value transform: ``reward_scale``
        ("auto" or > 0), ``value_offset`` ("auto" or finite), ``eval_every`` (>= 1) and
        ``seed`` (an integer)."""
        if self.reward_scale != "auto":
            check_positive(self.reward_scale, "reward_scale")
        if self.value_offset != "auto":
            check_finite(self.value_offset, "value_offset")
        check_int(self.eval_every, "eval_every", minimum=1)
        check_int(self.seed, "seed")

    # ------------------------------------------------------------------ fit
    def fit(self, dataset, target_policy, initial_states=None):
        """Estimate Q of ``target_policy`` from ``dataset`` (a ``Transitions``).

        ``target_policy``: ``probs(states) -> (n, n_actions)``, or a callable returning
        integer actions or probabilities. ``initial_states`` (m, d): where ``history_["q0"]``
        and ``value()`` read the value out (default: ``dataset.initial_states``).
        """
        self._validate()
        self.gamma_ = check_discount(self.gamma)
        data = as_transitions(dataset)
        init = data.initial_states if initial_states is None else initial_states
        if init is None:
            raise ValueError(
                "initial_states are required (the states where the value is read out): pass "
                "initial_states=... or a dataset that carries them (generate_dataset does)"
            )
        init = self._check_states(init, data.state_dim, "initial_states")
        self.n_actions_, self.state_dim_ = data.n_actions, data.state_dim
        self.target_policy_ = target_policy
        self._init_ = init
        prep = {
            "data": data,
            "next_probs": policy_probs(target_policy, data.next_states, data.n_actions),
            "init": init,
            "init_probs": policy_probs(target_policy, init, data.n_actions),
        }
        self.history_ = {}
        start = time.perf_counter()
        # the small ridge solves (DFIV, LSTD) go to LAPACK: threaded BLAS only spins on a
        # shared machine (DFIV: 0.2 s per step instead of 0.005 on a loaded 2-core box)
        with blas_one_thread():
            self._fit(prep)
        self.fit_time_ = time.perf_counter() - start
        self.is_fitted_ = True
        return self

    @staticmethod
    def _check_states(states, dim: int, argname: str) -> np.ndarray:
        arr = np.asarray(states, dtype=np.float64)
        if arr.ndim == 1 and dim == 1:
            arr = arr[:, None]
        if arr.ndim != 2 or arr.shape[1] != dim or arr.shape[0] == 0:
            raise ValueError(f"{argname} must be (m >= 1, {dim}), got shape {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{argname} contains NaN or infinite values")
        return arr

    def _check_fitted(self) -> None:
        if not getattr(self, "is_fitted_", False):
            raise RuntimeError(f"{type(self).__name__} is not fitted yet; call fit() first")

    # ------------------------------------------------------------------ readout
    def q_values(self, states) -> np.ndarray:
        """Q(s, a) for every row and action, shape (n, n_actions)."""
        self._check_fitted()
        states = self._check_states(states, self.state_dim_, "states")
        q = np.asarray(self._q(all_action_inputs(states, self.n_actions_)), np.float64)
        return q.reshape(len(states), self.n_actions_)

    def value(self, initial_states=None, policy=None) -> float:
        """E_{s0}[sum_a pi(a | s0) Q(s0, a)] over the rows of ``initial_states`` (default:
        those of fit) under the target policy of fit (or ``policy``)."""
        self._check_fitted()
        states = self._init_ if initial_states is None else initial_states
        states = self._check_states(states, self.state_dim_, "initial_states")
        probs = policy_probs(self.target_policy_ if policy is None else policy, states,
                             self.n_actions_)
        return float(np.mean(np.sum(probs * self.q_values(states), axis=1)))

    def bellman_residual(self, dataset) -> float:
        """mean (r + gamma (1 - d) sum_a' pi(a'|s') Q(s', a') - Q(s, a))^2 on ``dataset``
        (e.g. on-policy transitions of the target policy): the mean squared TD error."""
        self._check_fitted()
        data = as_transitions(dataset)
        probs = policy_probs(self.target_policy_, data.next_states, self.n_actions_)
        q = self.q_values(data.states)[np.arange(len(data)), data.actions]
        v2 = np.sum(probs * self.q_values(data.next_states), axis=1)
        td = data.rewards + self.gamma_ * (1.0 - data.terminated) * v2 - q
        return float(np.mean(td**2))

    # ------------------------------------------------------------------ helpers
    def _jax_data(self, prep, reward_scale: float = 1.0, offset: float = 0.0) -> dict:
        """Device arrays of the dataset: z = [s, onehot(a)], s2, p2 = pi(.|s'), d and the
        outcome y = (r - offset (1 - gamma (1 - d))) / reward_scale (``value_transform``)."""
        data: Transitions = prep["data"]
        f32 = jnp.float32
        y = (data.rewards - offset * (1.0 - self.gamma_ * (1.0 - data.terminated)))
        return {
            "z": jnp.asarray(onehot_inputs(data.states, data.actions, data.n_actions), f32),
            "s2": jnp.asarray(data.next_states, f32),
            "p2": jnp.asarray(prep["next_probs"], f32),
            "d": jnp.asarray(data.terminated, f32),
            "y": jnp.asarray(y / reward_scale, f32),
        }

    def _value_transform(self, rewards, reward_scale, value_offset):
        """(scale, offset) with Q = offset + scale Q~, where Q~ solves the Bellman equation
        of the transformed reward (r - offset (1 - gamma (1 - d))) / scale.

        Exact for any offset K and scale s > 0: substituting Q = K + s Q~ into
        Q - gamma (1 - d) Q' = r gives Q~ - gamma (1 - d) Q~' = (r - K (1 - gamma (1 - d))) / s.
        (Centring r alone would be wrong: the shift of Q depends on d, so the terminal rows
        keep a non-zero transformed reward; CartPole's constant reward is not lost.)
        ``"auto"``: K = mean(r) / (1 - gamma), the value of never terminating, and
        s = mean|r| / (1 - gamma), so that Q~ is O(1) and starts near its target.
        """
        mean_abs = float(np.mean(np.abs(rewards)))
        auto_scale = mean_abs / (1.0 - self.gamma_) if mean_abs > 0 else 1.0
        scale = auto_scale if reward_scale == "auto" else float(reward_scale)
        if value_offset == "auto":
            offset = float(np.mean(rewards)) / (1.0 - self.gamma_)
        else:
            offset = float(value_offset)
        return float(scale), offset

    def _init_readout(self, prep):
        """(inputs for every action at the initial states, their probabilities)."""
        inputs = jnp.asarray(all_action_inputs(prep["init"], prep["data"].n_actions))
        return inputs, jnp.asarray(prep["init_probs"], jnp.float32)

    def _train_loop(self, state, key, n_steps: int, eval_every: int, chunk_fn, q0_fn,
                    loss_names):
        """Run ``n_steps`` in jitted chunks of ``eval_every``; after each chunk record the
        step, Q0 and the chunk's mean losses in ``history_``. Raises on non-finite losses."""
        n_steps = check_int(n_steps, "n_steps", minimum=1)
        eval_every = check_int(eval_every, "eval_every", minimum=1)
        steps, q0s, losses = [0], [float(q0_fn(state))], []
        done = 0
        while done < n_steps:
            size = min(eval_every, n_steps - done)
            key, sub = jax.random.split(key)
            state, chunk_losses = chunk_fn(state, sub, size)
            chunk_losses = np.asarray(chunk_losses)
            done += size
            if not np.all(np.isfinite(chunk_losses)):
                raise FloatingPointError(
                    f"{type(self).__name__} diverged (non-finite loss) between steps "
                    f"{done - size} and {done}; lower the learning rates"
                )
            steps.append(done)
            q0s.append(float(q0_fn(state)))
            losses.append(chunk_losses.mean(axis=0))
        losses = np.asarray(losses).reshape(len(losses), -1)
        self.history_ = {"step": np.asarray(steps), "q0": np.asarray(q0s)}
        for j, name in enumerate(loss_names):
            self.history_[name] = np.concatenate([[np.nan], losses[:, j]])
        return state
