"""Offline datasets of transitions, and the Monte Carlo truth of a policy's value.

A dataset is a ``Transitions``: rows (s, a, r, terminated, s') with the action the behaviour
policy *chose* (the noisy environment may have executed another). Episodes cut by the
500-step truncation are stored with ``terminated = False``, so their last transition is
bootstrapped (official ``collect_offline_dataset``: truncation is not stored).

The truth is the discounted return of the target policy in the same noisy environment,
by Monte Carlo, in two versions (``monte_carlo_value``): truncated at 500 steps (what the
official code reports) and untruncated (the value the Bellman equation defines, because the
dataset bootstraps through the truncation). For a policy that never fails the two are
``(1 - 0.99^500) / 0.01 = 99.343`` and ``100``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._checks import check_int, check_unit_interval
from .env import MAX_EPISODE_STEPS, reset_states, rollout

__all__ = ["MonteCarloValue", "Transitions", "as_transitions", "generate_dataset",
           "monte_carlo_value"]


@dataclass(frozen=True)
class Transitions:
    """Offline transitions. ``states`` (n, d) and ``next_states`` (n, d) floats, ``actions``
    (n,) integers in [0, n_actions), ``rewards`` (n,), ``terminated`` (n,) booleans (no
    bootstrap from s'); optional ``initial_states`` (m, d) where the value is read out, and
    per-row ``episode`` ids. Validated on construction (``as_transitions``)."""

    states: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    next_states: np.ndarray
    n_actions: int = 2
    initial_states: np.ndarray | None = None
    episode: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self):
        clean = _validate(self)
        for name, value in clean.items():
            object.__setattr__(self, name, value)

    def __len__(self) -> int:
        return len(self.rewards)

    @property
    def state_dim(self) -> int:
        return self.states.shape[1]

    def subset(self, index) -> Transitions:
        """The rows ``index`` (initial states are kept)."""
        index = np.asarray(index)
        return Transitions(self.states[index], self.actions[index], self.rewards[index],
                           self.terminated[index], self.next_states[index], self.n_actions,
                           self.initial_states,
                           None if self.episode is None else self.episode[index])

    def __repr__(self) -> str:
        return (f"Transitions(n={len(self)}, state_dim={self.state_dim}, "
                f"n_actions={self.n_actions}, terminal={int(self.terminated.sum())})")


def _float_matrix(value, name: str) -> np.ndarray:
    arr = np.asarray(value)
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n, state_dim), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _validate(data: Transitions) -> dict:
    n_actions = data.n_actions
    if isinstance(n_actions, bool) or not isinstance(n_actions, (int, np.integer)) or \
            n_actions < 1:
        raise ValueError(f"n_actions must be an integer >= 1, got {n_actions!r}")
    rewards = np.asarray(data.rewards)
    if rewards.ndim != 1:
        raise ValueError(f"rewards must be 1-D (n,), got shape {rewards.shape}")
    n = len(rewards)
    if n == 0:
        raise ValueError("the dataset is empty (0 transitions); generate or pass some data")
    states = _float_matrix(data.states, "states")
    next_states = _float_matrix(data.next_states, "next_states")
    for name, arr in (("states", states), ("next_states", next_states)):
        if arr.shape[0] != n:
            raise ValueError(f"{name} has {arr.shape[0]} rows but rewards has {n}")
    if next_states.shape[1] != states.shape[1]:
        raise ValueError(f"next_states has {next_states.shape[1]} columns, states "
                         f"{states.shape[1]}")
    if not (np.issubdtype(rewards.dtype, np.number) or rewards.dtype == np.bool_):
        raise TypeError(f"rewards must be numeric, got dtype {rewards.dtype}")
    rewards = rewards.astype(np.float64)
    if not np.all(np.isfinite(rewards)):
        raise ValueError("rewards contain NaN or infinite values")
    actions = np.asarray(data.actions)
    if actions.shape != (n,):
        raise ValueError(f"actions must have shape ({n},), got {actions.shape}")
    if not (np.issubdtype(actions.dtype, np.integer) or np.issubdtype(actions.dtype,
                                                                       np.floating)):
        raise TypeError(f"actions must be integers, got dtype {actions.dtype}")
    bad = np.flatnonzero(~np.isfinite(actions.astype(float)) | (actions != np.round(actions))
                         | (actions < 0) | (actions >= n_actions))
    if bad.size:
        raise ValueError(f"actions must be integers in [0, {n_actions}); row {bad[0]} has "
                         f"{actions[bad[0]].item()!r}")
    terminated = np.asarray(data.terminated)
    if terminated.shape != (n,):
        raise ValueError(f"terminated must have shape ({n},), got {terminated.shape}")
    if terminated.dtype != np.bool_:
        tf = terminated.astype(float)
        if not np.all((tf == 0) | (tf == 1)):
            raise ValueError("terminated must be booleans (or 0/1)")
        terminated = tf.astype(bool)
    init = data.initial_states
    if init is not None:
        init = _float_matrix(init, "initial_states")
        if init.shape[1] != states.shape[1] or len(init) == 0:
            raise ValueError(f"initial_states must be (m >= 1, {states.shape[1]}), got "
                             f"{init.shape}")
    episode = None if data.episode is None else np.asarray(data.episode)
    return {"states": states, "next_states": next_states, "rewards": rewards,
            "actions": actions.astype(np.int64), "terminated": terminated,
            "initial_states": init, "episode": episode, "n_actions": int(n_actions)}


def as_transitions(dataset, argname: str = "dataset") -> Transitions:
    """A ``Transitions`` from itself or a mapping with its field names."""
    if isinstance(dataset, Transitions):
        return dataset
    if isinstance(dataset, dict):
        missing = {"states", "actions", "rewards", "terminated", "next_states"} - set(dataset)
        if missing:
            raise ValueError(f"{argname} is missing {sorted(missing)}")
        keys = Transitions.__dataclass_fields__
        return Transitions(**{k: v for k, v in dataset.items() if k in keys})
    raise TypeError(f"{argname} must be a flexcausal.ope.Transitions or a dict of arrays, got "
                    f"{type(dataset).__name__}")


def generate_dataset(policy, noise: float, n_episodes: int = 2000, seed: int = 0,
                     max_steps: int = MAX_EPISODE_STEPS) -> Transitions:
    """Offline data: ``n_episodes`` episodes of the behaviour ``policy`` (e.g.
    ``load_cartpole_policy(noise, epsilon=0.1)``) in the noisy CartPole. Seeded; the
    initial states of the episodes are kept as ``initial_states``."""
    run = rollout(policy, n_episodes, noise=noise, seed=seed, max_steps=max_steps,
                  record=True)
    tr = run.transitions
    return Transitions(tr["states"], tr["actions"], tr["rewards"], tr["terminated"],
                       tr["next_states"], 2, run.initial_states, tr["episode"])


@dataclass(frozen=True)
class MonteCarloValue:
    """Discounted return of a policy: ``value`` (mean over ``n_episodes``), its standard
    error ``se``, the ``horizon`` used (500 or the untruncated one) and mean episode length."""

    value: float
    se: float
    n_episodes: int
    horizon: int | None
    mean_length: float


def monte_carlo_value(policy, noise: float, n_episodes: int = 1000, seed: int = 0,
                      gamma: float = 0.99, truncated: bool = True) -> MonteCarloValue:
    """The true value E[sum_t gamma^t r_t] of ``policy`` from CartPole's reset distribution.

    ``truncated=True``: episodes stop at 500 steps (the official truth); ``False``: no
    truncation (rolled out until gamma^H / (1 - gamma) < 1e-12).
    """
    gamma = check_unit_interval(gamma, "gamma")
    n_episodes = check_int(n_episodes, "n_episodes", minimum=2)
    run = rollout(policy, n_episodes, noise=noise, seed=seed, gamma=gamma,
                  max_steps=MAX_EPISODE_STEPS if truncated else None)
    ret = run.returns
    return MonteCarloValue(float(ret.mean()), float(ret.std(ddof=1) / np.sqrt(len(ret))),
                           n_episodes, MAX_EPISODE_STEPS if truncated else None,
                           float(run.lengths.mean()))


def evaluation_states(n: int = 1000, seed: int = 0) -> np.ndarray:
    """``n`` fresh CartPole reset states (the official readout uses 1,000)."""
    return reset_states(n, seed)
