"""Policies of a Q network: greedy (the target policy) and epsilon-greedy (the behaviour).

The official protocol (``ope-proximal.md``; github hudsonchen/F2BMLD ``main/run_f2bmld.py``):
the behaviour policy is the greedy DQN with a uniformly random action with probability 0.1,
the target policy the greedy DQN. The DQN is a 4-128-128-2 ReLU MLP (``DQN.ipynb``).

Our DQNs (one per noise level, trained by ``benchmarks/train_cartpole_dqn.py``) ship as
``flexcausal/ope/data/cartpole_dqn.npz``: plain float32 arrays, read with
``np.load(allow_pickle=False)`` and checked for names, shapes, dtypes and finiteness before
use, so loading never executes code.

A policy, for the estimators, is anything with ``probs(states) -> (n, n_actions)``; a plain
callable ``states -> actions`` (integers) or ``states -> probabilities`` works as well
(``policy_probs`` validates either).
"""

from __future__ import annotations

import contextlib
from importlib import resources

import numpy as np

from .._checks import check_unit_interval

__all__ = ["QNetworkPolicy", "load_cartpole_policy", "policy_probs", "save_q_networks",
           "CARTPOLE_NOISE_LEVELS"]

CARTPOLE_NOISE_LEVELS = (0.0, 0.1, 0.2, 0.3, 0.4)
DQN_SHAPES = ((4, 128), (128,), (128, 128), (128,), (128, 2), (2,))  # W0, b0, W1, b1, W2, b2
_FILE = "cartpole_dqn.npz"


class QNetworkPolicy:
    """epsilon-greedy policy of an MLP Q network with ReLU hidden layers.

    ``layers``: list of (W (d_in, d_out), b (d_out,)) pairs; Q(s) = last(relu(... s)).
    ``probs(s) = (1 - epsilon) onehot(argmax_a Q(s, a)) + epsilon / n_actions`` (ties go to
    the first action). ``__call__(states, rng)`` samples actions from ``probs``.
    """

    def __init__(self, layers, epsilon: float = 0.0):
        self.layers = [(np.asarray(w, np.float32), np.asarray(b, np.float32))
                       for w, b in layers]
        self.epsilon = check_unit_interval(epsilon, "epsilon")
        self.n_actions = int(self.layers[-1][1].shape[0])

    def with_epsilon(self, epsilon: float) -> QNetworkPolicy:
        return QNetworkPolicy(self.layers, epsilon)

    def q_values(self, states) -> np.ndarray:
        """Q(s, .) of the network, shape (n, n_actions), computed in blocks of 65,536 rows."""
        states = np.asarray(states, np.float32)
        out = np.empty((len(states), self.n_actions), np.float32)
        for start in range(0, len(states), 65536):
            h = states[start:start + 65536]
            for k, (w, b) in enumerate(self.layers):
                h = h @ w + b
                if k < len(self.layers) - 1:
                    h = np.maximum(h, 0.0)
            out[start:start + 65536] = h
        return out

    def greedy(self, states) -> np.ndarray:
        return np.argmax(self.q_values(states), axis=1).astype(np.int64)

    def probs(self, states) -> np.ndarray:
        greedy = self.greedy(states)
        p = np.full((len(greedy), self.n_actions), self.epsilon / self.n_actions)
        p[np.arange(len(greedy)), greedy] += 1.0 - self.epsilon
        return p

    def __call__(self, states, rng: np.random.Generator | None = None) -> np.ndarray:
        actions = self.greedy(states)
        if self.epsilon > 0:
            if rng is None:
                raise ValueError("an epsilon-greedy policy needs rng (a numpy Generator)")
            flip = rng.random(len(actions)) < self.epsilon
            actions = np.where(flip, rng.integers(0, self.n_actions, len(actions)), actions)
        return actions

    def __repr__(self) -> str:
        sizes = [self.layers[0][0].shape[0]] + [w.shape[1] for w, _ in self.layers]
        return f"QNetworkPolicy(sizes={sizes}, epsilon={self.epsilon})"


def _key(noise: float, name: str) -> str:
    return f"noise_{noise:.1f}_{name}"


def save_q_networks(path, networks: dict, meta: dict | None = None) -> None:
    """Write {noise: layers} (the 4-128-128-2 shapes) as float32 arrays to an .npz file;
    ``meta`` holds extra numeric arrays (e.g. evaluation returns), stored as float64."""
    arrays = {}
    for noise, layers in networks.items():
        for k, (w, b) in enumerate(layers):
            arrays[_key(noise, f"W{k}")] = np.asarray(w, np.float32)
            arrays[_key(noise, f"b{k}")] = np.asarray(b, np.float32)
    arrays["noise_levels"] = np.asarray(sorted(networks), np.float64)
    for name, value in (meta or {}).items():
        arrays[f"meta_{name}"] = np.asarray(value, np.float64)
    np.savez_compressed(path, **arrays)


def _load_layers(npz, noise: float):
    layers = []
    for k in range(3):
        pair = []
        for name, shape in ((f"W{k}", DQN_SHAPES[2 * k]), (f"b{k}", DQN_SHAPES[2 * k + 1])):
            key = _key(noise, name)
            if key not in npz.files:
                raise ValueError(f"{_FILE} has no array {key!r}; the file is corrupt")
            arr = npz[key]
            if arr.shape != shape or arr.dtype != np.float32 or not np.all(np.isfinite(arr)):
                raise ValueError(
                    f"{_FILE}: {key} must be a finite float32 array of shape {shape}, got "
                    f"{arr.dtype} {arr.shape}"
                )
            pair.append(arr)
        layers.append(tuple(pair))
    return layers


def load_cartpole_policy(noise: float, epsilon: float = 0.0, path=None) -> QNetworkPolicy:
    """The shipped DQN for environment noise ``noise`` in {0, 0.1, 0.2, 0.3, 0.4} as an
    epsilon-greedy policy (``epsilon=0``: the target policy; ``0.1``: the behaviour policy).
    ``path`` reads another file written by ``save_q_networks``."""
    noise = check_unit_interval(noise, "noise")
    opener = resources.as_file(resources.files("flexcausal.ope") / "data" / _FILE) \
        if path is None else contextlib.nullcontext(path)
    with opener as file, np.load(file, allow_pickle=False) as npz:
        levels = npz["noise_levels"] if "noise_levels" in npz.files else np.empty(0)
        match = [lv for lv in levels if abs(lv - noise) < 1e-9]
        if not match:
            raise ValueError(
                f"no DQN for noise={noise}; available noise levels: "
                f"{[float(v) for v in levels]}"
            )
        layers = _load_layers(npz, float(match[0]))
    return QNetworkPolicy(layers, epsilon)


def policy_probs(policy, states, n_actions: int, argname: str = "target_policy") -> np.ndarray:
    """pi(. | s) for every row of ``states`` as an (n, n_actions) float64 array.

    ``policy`` has ``probs(states)``, or is a callable returning integer actions (n,) (a
    deterministic policy) or probabilities (n, n_actions). Invalid output raises a
    ValueError naming the first bad row.
    """
    if hasattr(policy, "probs"):
        out = policy.probs(states)
    elif callable(policy):
        out = policy(states)
    else:
        raise TypeError(
            f"{argname} must have a probs(states) method or be a callable states -> actions, "
            f"got {type(policy).__name__}"
        )
    out = np.asarray(out)
    n = len(states)
    if out.ndim == 1:
        if out.shape[0] != n:
            raise ValueError(f"{argname} returned {out.shape[0]} actions for {n} states")
        if not (np.issubdtype(out.dtype, np.integer) or np.issubdtype(out.dtype, np.floating)):
            raise ValueError(f"{argname} must return integer actions, got dtype {out.dtype}")
        bad = np.flatnonzero(~np.isfinite(out.astype(float)) | (out != np.round(out))
                             | (out < 0) | (out >= n_actions))
        if bad.size:
            raise ValueError(
                f"{argname} returned invalid action {out[bad[0]].item()!r} for state row {bad[0]}; "
                f"actions must be integers in [0, {n_actions})"
            )
        probs = np.zeros((n, n_actions))
        probs[np.arange(n), out.astype(np.int64)] = 1.0
        return probs
    if out.ndim != 2 or out.shape != (n, n_actions):
        raise ValueError(
            f"{argname} must return {n} actions or an ({n}, {n_actions}) array of "
            f"probabilities, got shape {out.shape}"
        )
    out = out.astype(np.float64)
    bad = np.flatnonzero(~np.all(np.isfinite(out), axis=1) | np.any(out < 0, axis=1)
                         | (np.abs(out.sum(axis=1) - 1.0) > 1e-6))
    if bad.size:
        raise ValueError(
            f"{argname} returned invalid probabilities {out[bad[0]].tolist()} for state row "
            f"{bad[0]}; each row must be >= 0 and sum to 1"
        )
    return out
