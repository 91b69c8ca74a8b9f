"""Offline policy evaluation on the noisy-action CartPole (F^2BMLD's own experiment).

The Bellman equation is a conditional moment equation of NPIV form (slides, "Background:
Offline reinforcement learning"): E[r | s, a] = E[Q(s, a) - gamma (1 - d) Q(s', a') | s, a],
a' ~ pi(. | s'). Estimators share ``fit(dataset, target_policy)``, ``value(initial_states)``,
``q_values(states)``, ``bellman_residual(dataset)`` and ``history_`` (Q0 every
``eval_every`` steps):

* ``F2BMLD(form="network" | "mean_field")``: the official practical form and the slides'
  mean-field Langevin form;
* ``DFIV``: deep feature IV for OPE (the official baseline);
* ``FQE``: fitted Q evaluation (neural, or linear features), and ``LSTD`` (closed form).

Environment and data: ``make_cartpole`` (gymnasium wrapper), ``rollout``,
``load_cartpole_policy`` (shipped DQNs), ``generate_dataset``, ``monte_carlo_value``.

>>> from flexcausal import ope
>>> target = ope.load_cartpole_policy(0.2)                     # greedy DQN
>>> data = ope.generate_dataset(target.with_epsilon(0.1), noise=0.2, n_episodes=200)
>>> est = ope.FQE(n_steps=2000).fit(data, target)
>>> est.value(), ope.monte_carlo_value(target, noise=0.2).value
"""

from .data import (
    MonteCarloValue,
    Transitions,
    as_transitions,
    evaluation_states,
    generate_dataset,
    monte_carlo_value,
)
from .dfiv import DFIV
from .env import NoisyActionWrapper, make_cartpole, reset_states, rollout, untruncated_horizon
from .f2bmld import F2BMLD
from .fqe import FQE, LSTD
from .policy import CARTPOLE_NOISE_LEVELS, QNetworkPolicy, load_cartpole_policy, policy_probs

__all__ = [
    "CARTPOLE_NOISE_LEVELS",
    "DFIV",
    "F2BMLD",
    "FQE",
    "LSTD",
    "MonteCarloValue",
    "NoisyActionWrapper",
    "QNetworkPolicy",
    "Transitions",
    "as_transitions",
    "evaluation_states",
    "generate_dataset",
    "load_cartpole_policy",
    "make_cartpole",
    "monte_carlo_value",
    "policy_probs",
    "reset_states",
    "rollout",
    "untruncated_horizon",
]
