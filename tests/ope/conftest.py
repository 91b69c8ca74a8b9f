"""A tabular MDP whose Q is known in closed form, as offline transitions with one-hot states.

Q = (I - gamma M)^{-1} R with M[(s, a), (s', a')] = (1 - tau[s, a]) P[s, a, s'] pi[s', a']:
the Bellman equation Q = R + gamma (1 - tau) P (pi Q) solved exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from flexcausal.ope import Transitions


@dataclass
class TabularMDP:
    P: np.ndarray  # (S, A, S)
    tau: np.ndarray  # (S, A) termination probability
    R: np.ndarray  # (S, A) expected reward
    pi: np.ndarray  # (S, A) target policy
    gamma: float

    @property
    def n_states(self) -> int:
        return self.P.shape[0]

    def q(self, P=None, tau=None, R=None) -> np.ndarray:
        """Exact Q (S, A) of pi (or of the MDP with the given empirical P, tau, R)."""
        P = self.P if P is None else P
        tau = self.tau if tau is None else tau
        R = self.R if R is None else R
        S, A = R.shape
        M = ((1 - tau)[:, :, None, None] * P[:, :, :, None] * self.pi[None, None]).reshape(
            S * A, S * A)
        return np.linalg.solve(np.eye(S * A) - self.gamma * M, R.ravel()).reshape(S, A)

    def encode(self, s) -> np.ndarray:
        return np.eye(self.n_states)[np.asarray(s)]

    def decode(self, states) -> np.ndarray:
        return np.argmax(np.asarray(states), axis=1)

    def policy(self, states) -> np.ndarray:
        return self.pi[self.decode(states)]

    def sample(self, n: int, seed: int = 0, reward_sd: float = 0.0,
               on_policy: bool = False) -> Transitions:
        """n transitions: s uniform, a uniform (the behaviour; a ~ pi if ``on_policy``),
        s' ~ P, terminated ~ tau."""
        rng = np.random.default_rng(seed)
        S, A = self.R.shape
        s = rng.integers(0, S, n)
        if on_policy:
            a = (rng.random(n)[:, None] > np.cumsum(self.pi[s], axis=1)).sum(axis=1)
            a = np.minimum(a, A - 1)
        else:
            a = rng.integers(0, A, n)
        cum = np.cumsum(self.P[s, a], axis=1)
        s2 = np.minimum((rng.random(n)[:, None] > cum).sum(axis=1), S - 1)
        term = rng.random(n) < self.tau[s, a]
        r = self.R[s, a] + reward_sd * rng.normal(size=n)
        return Transitions(self.encode(s), a, r, term, self.encode(s2), A,
                           initial_states=self.encode(np.arange(S)))

    def value(self) -> float:
        """Mean over the S initial states of sum_a pi(a|s) Q(s, a)."""
        return float(np.mean(np.sum(self.pi * self.q(), axis=1)))


def make_mdp(n_states=5, gamma=0.8, deterministic=False, seed=0) -> TabularMDP:
    rng = np.random.default_rng(seed)
    S, A = n_states, 2
    if deterministic:  # "noise 0": s' and termination are functions of (s, a)
        P = np.zeros((S, A, S))
        P[np.arange(S)[:, None], np.arange(A)[None], rng.integers(0, S, (S, A))] = 1.0
        tau = (rng.random((S, A)) < 0.2).astype(float)
    else:
        P = rng.dirichlet(np.ones(S), size=(S, A))
        tau = 0.2 * rng.random((S, A))
    R = rng.uniform(0.0, 1.0, (S, A))
    pi = rng.dirichlet(np.ones(A), size=S)
    return TabularMDP(P, tau, R, pi, gamma)


def tabular_features(n_states: int, n_actions: int = 2):
    """One-hot (s, a) features of one-hot states: LSTD on them is certainty equivalence."""

    def phi(states, actions):
        s = np.argmax(np.asarray(states), axis=1)
        out = np.zeros((len(s), n_states * n_actions))
        out[np.arange(len(s)), s * n_actions + np.asarray(actions)] = 1.0
        return out

    return phi


@pytest.fixture(scope="session")
def mdp():
    return make_mdp()


@pytest.fixture(scope="session")
def mdp_data(mdp):
    return mdp.sample(4000, seed=1)


@pytest.fixture(scope="session")
def policy0():
    """The shipped greedy DQN of the noise-0 CartPole."""
    from flexcausal.ope import load_cartpole_policy

    return load_cartpole_policy(0.0)
