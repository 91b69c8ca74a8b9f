"""End to end on the noisy CartPole (slow: ``make test-slow``): the shipped target policy,
its behaviour data, the Monte Carlo truth, and FQE / F^2BMLD close to it."""

from __future__ import annotations

import pytest

from flexcausal import ope

pytestmark = pytest.mark.slow


def test_cartpole_noise_01_value_is_recovered():
    noise = 0.1
    target = ope.load_cartpole_policy(noise)
    data = ope.generate_dataset(target.with_epsilon(0.1), noise, n_episodes=300, seed=0)
    truth = ope.monte_carlo_value(target, noise, n_episodes=300, seed=1, truncated=False)
    s0 = ope.evaluation_states(500, seed=2)
    fqe = ope.FQE(n_steps=10_000).fit(data, target, s0)
    f2 = ope.F2BMLD(n_steps=20_000, final_relu=False).fit(data, target, s0)
    for est in (fqe, f2):
        assert abs(est.value() - truth.value) < 3.0, (type(est).__name__, est.value())
    # the learned Q is close to satisfying the Bellman equation on on-policy transitions
    on_policy = ope.generate_dataset(target, noise, n_episodes=5, seed=3)
    assert f2.bellman_residual(on_policy) < 3 * fqe.bellman_residual(on_policy) + 0.5
