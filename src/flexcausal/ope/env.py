"""Noisy-action CartPole on gymnasium (the F^2BMLD / DFIV-for-OPE environment).

With probability ``noise`` the *executed* action is drawn uniformly at random, while the
agent (and the offline dataset) keeps the action its policy chose: the official code's
``RandomActionWrapper`` (github hudsonchen/F2BMLD ``utils/load_data.py``: ``if
np.random.rand() < eps: action = env.action_space.sample()``). The same wrapped environment
gives the data, the Monte Carlo truth and the evaluation states.

Two forms of one environment:

* ``make_cartpole(noise, seed)``: a ``gymnasium.Wrapper`` around ``gym.make("CartPole-v1")``
  (one episode at a time, the official form);
* ``rollout(...)``: many episodes at once on gymnasium's own ``CartPoleVectorEnv`` (the same
  equations on arrays), each stopped at its first ``terminated``/``truncated``. A test checks
  that both give the same transitions from the same state and executed action.

Seeds: ``numpy.random.SeedSequence(seed).spawn`` gives independent streams for the initial
states, the action noise and the policy's own randomness, so a seed reproduces bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

try:
    import gymnasium as gym
    from gymnasium.envs.classic_control.cartpole import CartPoleVectorEnv
except ImportError as err:  # pragma: no cover - the rl extra is installed by `make test`
    raise ImportError(
        "flexcausal.ope needs gymnasium (the 'rl' extra): pip install 'flexcausal[rl]'"
    ) from err

from .._checks import check_int, check_unit_interval

__all__ = ["NoisyActionWrapper", "Rollout", "make_cartpole", "reset_states", "rollout",
           "untruncated_horizon"]

ENV_ID = "CartPole-v1"
N_ACTIONS = 2
STATE_DIM = 4
MAX_EPISODE_STEPS = 500  # CartPole-v1's truncation (the official truth stops here)


def untruncated_horizon(gamma: float, tol: float = 1e-12) -> int:
    """Steps after which the discounted tail gamma^H / (1 - gamma) of a unit reward is below
    ``tol``: rolling out this long gives the infinite-horizon value to within ``tol``."""
    return int(math.ceil(math.log(tol * (1.0 - gamma)) / math.log(gamma)))


class NoisyActionWrapper(gym.Wrapper):
    """Executes a uniformly random action with probability ``noise`` (official wrapper).

    ``info["executed_action"]`` is the action the environment received, ``info["action"]``
    the one the agent chose (the dataset stores the chosen one). ``reset(seed=s)`` reseeds
    the action noise too (from a stream independent of the initial-state stream).
    """

    def __init__(self, env: gym.Env, noise: float, seed: int | None = None):
        super().__init__(env)
        self.noise = check_unit_interval(noise, "noise")
        self._rng = np.random.default_rng(_streams(seed, 2)[1] if seed is not None else None)

    def reset(self, *, seed: int | None = None, options=None):
        if seed is not None:
            env_seed, noise_seed = _streams(seed, 2)
            self._rng = np.random.default_rng(noise_seed)
            return self.env.reset(seed=_int_seed(env_seed), options=options)
        return self.env.reset(options=options)

    def step(self, action):
        executed = action
        if self._rng.random() < self.noise:
            executed = int(self._rng.integers(self.env.action_space.n))
        obs, reward, terminated, truncated, info = self.env.step(executed)
        info = dict(info, action=action, executed_action=executed)
        return obs, reward, terminated, truncated, info


def make_cartpole(noise: float = 0.0, seed: int | None = None,
                  max_episode_steps: int | None = MAX_EPISODE_STEPS) -> NoisyActionWrapper:
    """``CartPole-v1`` with noisy actions; ``max_episode_steps=None`` removes the 500-step
    truncation (pass a number instead to truncate elsewhere)."""
    steps = -1 if max_episode_steps is None else check_int(max_episode_steps,
                                                           "max_episode_steps", minimum=1)
    return NoisyActionWrapper(gym.make(ENV_ID, max_episode_steps=steps), noise, seed)


def _streams(seed, k: int):
    return np.random.SeedSequence(seed).spawn(k)


def _int_seed(seq: np.random.SeedSequence) -> int:
    return int(seq.generate_state(1, np.uint32)[0])


@dataclass
class Rollout:
    """Episodes run side by side. Per episode: ``returns`` (discounted), ``lengths``;
    with ``record=True`` the transitions (episode-major, time-ordered within an episode):
    ``states``, ``actions`` (chosen), ``executed``, ``rewards``, ``terminated``,
    ``truncated``, ``next_states``, ``episode``, ``step``; and ``initial_states``."""

    returns: np.ndarray
    lengths: np.ndarray
    initial_states: np.ndarray
    transitions: dict | None = None


def reset_states(n: int, seed: int = 0) -> np.ndarray:
    """``n`` CartPole reset states (float32, (n, 4)) from the environment's own reset."""
    n = check_int(n, "n", minimum=1)
    env = CartPoleVectorEnv(num_envs=n)
    obs, _ = env.reset(seed=_int_seed(_streams(seed, 3)[0]))
    return np.asarray(obs, dtype=np.float32)


def rollout(policy, n_episodes: int, noise: float = 0.0, seed: int = 0, gamma: float = 0.99,
            max_steps: int | None = MAX_EPISODE_STEPS, record: bool = False) -> Rollout:
    """Run ``n_episodes`` episodes of ``policy`` in the noisy CartPole, side by side.

    ``policy(states, rng) -> actions``: states (m, 4) float32, a numpy Generator for its own
    randomness, returns m integer actions. ``max_steps=None``: no truncation (rolled out for
    ``untruncated_horizon(gamma)`` steps, after which the discounted tail is < 1e-12).
    """
    n = check_int(n_episodes, "n_episodes", minimum=1)
    noise = check_unit_interval(noise, "noise")
    horizon = untruncated_horizon(gamma) if max_steps is None else check_int(
        max_steps, "max_steps", minimum=1)
    env_ss, noise_ss, policy_ss = _streams(seed, 3)
    noise_rng, policy_rng = np.random.default_rng(noise_ss), np.random.default_rng(policy_ss)
    env = CartPoleVectorEnv(num_envs=n, max_episode_steps=horizon)
    obs, _ = env.reset(seed=_int_seed(env_ss))
    obs = np.asarray(obs, np.float32)
    init = obs.copy()
    alive = np.ones(n, bool)
    returns, discount = np.zeros(n), np.ones(n)
    lengths = np.zeros(n, np.int64)
    chunks = []
    for t in range(horizon):
        actions = np.asarray(policy(obs, policy_rng))
        if actions.shape != (n,) or not np.issubdtype(actions.dtype, np.integer) or (
            actions.min() < 0 or actions.max() >= N_ACTIONS
        ):
            raise ValueError(
                f"policy must return {n} integer actions in [0, {N_ACTIONS}), got shape "
                f"{actions.shape} dtype {actions.dtype}"
            )
        flip = noise_rng.random(n) < noise
        random_actions = noise_rng.integers(0, N_ACTIONS, n)
        executed = np.where(flip, random_actions, actions).astype(np.int64)
        next_obs, reward, terminated, truncated, _ = env.step(executed)
        next_obs = np.asarray(next_obs, np.float32)
        if record:
            idx = np.flatnonzero(alive)
            chunks.append((obs[idx], actions[idx], executed[idx], reward[idx],
                           terminated[idx], truncated[idx], next_obs[idx], idx,
                           np.full(len(idx), t)))
        returns[alive] += discount[alive] * reward[alive]
        discount *= gamma
        lengths[alive] += 1
        alive &= ~(terminated | truncated)
        obs = next_obs
        if not alive.any():
            break
    transitions = None
    if record:
        cols = [np.concatenate(c) for c in zip(*chunks, strict=True)]
        order = np.lexsort((cols[8], cols[7]))  # episode-major, then time
        names = ["states", "actions", "executed", "rewards", "terminated", "truncated",
                 "next_states", "episode", "step"]
        transitions = {k: v[order] for k, v in zip(names, cols, strict=True)}
        transitions["actions"] = transitions["actions"].astype(np.int64)
        transitions["rewards"] = transitions["rewards"].astype(np.float64)
    return Rollout(returns=returns, lengths=lengths, initial_states=init,
                   transitions=transitions)
