"""The noisy CartPole, the shipped policies, datasets and the Monte Carlo truth."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.envs.classic_control.cartpole import CartPoleVectorEnv

from flexcausal import ope
from flexcausal.ope.env import untruncated_horizon


def test_vector_rollout_matches_the_gym_env():
    """rollout() steps gymnasium's CartPoleVectorEnv; from the same state and executed
    action it gives the same next state and termination as gym.make('CartPole-v1')."""
    rng = np.random.default_rng(0)
    single = gym.make("CartPole-v1").unwrapped
    single.reset(seed=0)
    vec = CartPoleVectorEnv(num_envs=1)
    vec.reset(seed=0)
    for _ in range(200):
        state = rng.uniform(-0.2, 0.2, 4)
        action = int(rng.integers(2))
        single.state = state.copy()
        obs1, r1, term1, _, _ = single.step(action)
        vec.state = state.copy()[:, None]
        vec.prev_done[:] = False
        obs2, r2, term2, _, _ = vec.step(np.array([action]))
        np.testing.assert_array_equal(obs1, obs2[0])
        assert term1 == term2[0] and r1 == r2[0]


def test_noisy_wrapper_executes_random_actions_and_records_the_chosen_one():
    env = ope.make_cartpole(noise=1.0, seed=3)
    env.reset(seed=3)
    executed = []
    for _ in range(400):
        _, _, term, trunc, info = env.step(1)
        assert info["action"] == 1
        executed.append(info["executed_action"])
        if term or trunc:
            env.reset()
    assert 0.4 < np.mean(executed) < 0.6  # uniform over {0, 1}
    env0 = ope.make_cartpole(noise=0.0)
    env0.reset(seed=0)
    assert env0.step(0)[4]["executed_action"] == 0
    with pytest.raises(ValueError, match="noise must be in"):
        ope.make_cartpole(noise=1.5)
    assert ope.make_cartpole(max_episode_steps=None).spec.max_episode_steps is None


def test_rollout_records_chosen_actions_and_reproduces(policy0):
    noise = 0.4
    a = ope.rollout(policy0.with_epsilon(0.1), 20, noise=noise, seed=5, record=True)
    b = ope.rollout(policy0.with_epsilon(0.1), 20, noise=noise, seed=5, record=True)
    for key in a.transitions:
        np.testing.assert_array_equal(a.transitions[key], b.transitions[key])
    tr = a.transitions
    differ = np.mean(tr["actions"] != tr["executed"])
    assert 0.1 < differ < 0.3  # noise / 2 of the rows execute the other action
    assert len(tr["rewards"]) == a.lengths.sum()
    # episode-major order: next_states continue the episode
    same = tr["episode"][1:] == tr["episode"][:-1]
    np.testing.assert_array_equal(tr["states"][1:][same], tr["next_states"][:-1][same])


def test_dataset_stores_truncation_as_not_terminated(policy0):
    data = ope.generate_dataset(policy0, noise=0.0, n_episodes=3, seed=0)
    assert len(data) == 1500 and not data.terminated.any()  # the noise-0 DQN never fails
    assert data.initial_states.shape == (3, 4)
    again = ope.generate_dataset(policy0, noise=0.0, n_episodes=3, seed=0)
    np.testing.assert_array_equal(data.states, again.states)


def test_truth_truncated_and_untruncated(policy0):
    """The noise-0 DQN never fails within 500 steps: the truncated truth is exactly
    sum_{t<500} 0.99^t = 99.343; untruncated it is 1 / (1 - 0.99) = 100 less the discounted
    loss of the rare failures after step 500 (~0.99^900 * 100 = 0.01 each)."""
    trunc = ope.monte_carlo_value(policy0, noise=0.0, n_episodes=20, seed=1)
    full = ope.monte_carlo_value(policy0, noise=0.0, n_episodes=20, seed=1, truncated=False)
    assert trunc.value == pytest.approx((1 - 0.99**500) / 0.01, abs=1e-9)
    assert trunc.se == 0 and trunc.mean_length == 500
    assert 99.95 < full.value <= 100.0 and full.mean_length > 500
    h = untruncated_horizon(0.99)
    assert 0.99**h / 0.01 < 1e-12 <= 0.99 ** (h - 1) / 0.01


def test_shipped_policies_load_and_validate(tmp_path):
    for noise in ope.CARTPOLE_NOISE_LEVELS:
        pol = ope.load_cartpole_policy(noise)
        assert [w.shape for w, _ in pol.layers] == [(4, 128), (128, 128), (128, 2)]
    s = ope.reset_states(50, seed=0)
    pol = ope.load_cartpole_policy(0.2, epsilon=0.1)
    p = pol.probs(s)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert set(np.round(p.max(axis=1), 6)) == {0.95}
    with pytest.raises(ValueError, match="no DQN for noise=0.5"):
        ope.load_cartpole_policy(0.5)
    bad = tmp_path / "bad.npz"  # right names, a wrong shape
    arrays = {f"noise_0.0_{k}": np.zeros(s_, np.float32) for k, s_ in
              zip(["W0", "b0", "W1", "b1", "W2", "b2"],
                  [(4, 128), (128,), (128, 128), (128,), (128, 3), (2,)], strict=True)}
    np.savez(bad, noise_levels=np.array([0.0]), **arrays)
    with pytest.raises(ValueError, match=r"W2 must be a finite float32 array of shape \(128, 2\)"):
        ope.load_cartpole_policy(0.0, path=bad)
    pickled = tmp_path / "pickled.npz"  # an object array is never unpickled
    np.savez(pickled, noise_levels=np.array([0.0]),
             **{"noise_0.0_W0": np.array([{"x": 1}], dtype=object)})
    with pytest.raises(ValueError, match="allow_pickle"):
        ope.load_cartpole_policy(0.0, path=pickled)


def test_transitions_validation():
    s = np.zeros((4, 2))
    good = dict(states=s, actions=[0, 1, 1, 0], rewards=np.ones(4), terminated=[0, 0, 1, 0],
                next_states=s, n_actions=2)
    data = ope.as_transitions(good)
    assert data.terminated.dtype == bool and len(data) == 4
    with pytest.raises(ValueError, match="dataset is empty"):
        ope.Transitions(np.zeros((0, 2)), [], [], [], np.zeros((0, 2)))
    with pytest.raises(ValueError, match=r"actions must be integers in \[0, 2\); row 2 has 2"):
        ope.as_transitions(good | {"actions": [0, 1, 2, 0]})
    with pytest.raises(ValueError, match="rewards contain NaN"):
        ope.as_transitions(good | {"rewards": [1, np.nan, 1, 1]})
    with pytest.raises(ValueError, match="next_states has 3 rows"):
        ope.as_transitions(good | {"next_states": np.zeros((3, 2))})
    with pytest.raises(ValueError, match="terminated must be booleans"):
        ope.as_transitions(good | {"terminated": [0, 2, 0, 0]})
    with pytest.raises(ValueError, match=r"dataset is missing \['rewards'\]"):
        ope.as_transitions({k: v for k, v in good.items() if k != "rewards"})
    with pytest.raises(TypeError, match="Transitions or a dict"):
        ope.as_transitions([1, 2, 3])


def test_policy_probs_validation():
    s = np.zeros((3, 4))
    np.testing.assert_array_equal(ope.policy_probs(lambda x: np.array([0, 1, 1]), s, 2),
                                  [[1, 0], [0, 1], [0, 1]])
    with pytest.raises(ValueError, match=r"invalid action 2 for state row 1; actions must be "
                                         r"integers in \[0, 2\)"):
        ope.policy_probs(lambda x: np.array([0, 2, 1]), s, 2)
    with pytest.raises(ValueError, match="invalid probabilities"):
        ope.policy_probs(lambda x: np.full((3, 2), 0.7), s, 2)
    with pytest.raises(ValueError, match="returned 2 actions for 3 states"):
        ope.policy_probs(lambda x: np.array([0, 1]), s, 2)
    with pytest.raises(TypeError, match="probs"):
        ope.policy_probs("greedy", s, 2)


def test_dqn_training_runs_and_reproduces():
    """A few episodes of the official DQN recipe (JAX/optax): same seed, same network."""
    from flexcausal.ope.dqn import train_dqn

    a = train_dqn(0.1, n_episodes=4, seed=3, eval_every=2, eval_episodes=3)
    b = train_dqn(0.1, n_episodes=4, seed=3, eval_every=2, eval_episodes=3)
    assert len(a.episode_lengths) == 4 and list(a.eval_at) == [2, 4]
    for (wa, ba), (wb, bb) in zip(a.layers, b.layers, strict=True):
        np.testing.assert_array_equal(wa, wb)
        np.testing.assert_array_equal(ba, bb)
    assert a.policy().greedy(ope.reset_states(5)).shape == (5,)
