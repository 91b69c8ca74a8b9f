"""Small networks as plain pytrees, shared by the F^2BMLD forms, DFIV-for-OPE and the DQN.

* ``init_mlp(key, sizes)`` / ``mlp_apply``: a ReLU MLP as a list of (W, b), initialised as
  ``torch.nn.Linear`` (W, b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))), the official code's nets;
* ``init_particles`` / ``mf_apply``: the slides' mean-field network
  h(u) = (1/N) sum_j a_j sigma(w_j'u + b_j) with N particles (a_j, w_j, b_j).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

__all__ = ["init_mlp", "init_particles", "mf_apply", "mlp_apply", "sum_squares"]


def init_mlp(key, sizes):
    """[(W (d_in, d_out), b (d_out,)), ...] with torch.nn.Linear's default init."""
    layers = []
    for k, (fan_in, fan_out) in zip(jax.random.split(key, len(sizes) - 1),
                                    zip(sizes[:-1], sizes[1:], strict=True), strict=True):
        kw, kb = jax.random.split(k)
        bound = 1.0 / math.sqrt(fan_in)
        layers.append((jax.random.uniform(kw, (fan_in, fan_out), minval=-bound, maxval=bound),
                       jax.random.uniform(kb, (fan_out,), minval=-bound, maxval=bound)))
    return layers


def mlp_apply(layers, x, activation: str = "relu", final_relu: bool = False):
    """Hidden layers with ``activation``; the output layer is linear, or ReLU'd when
    ``final_relu`` (the official OPE networks' ``activate_final=True``). Returns (B, d_out)."""
    act = jax.nn.relu if activation == "relu" else jnp.tanh
    for w, b in layers[:-1]:
        x = act(x @ w + b)
    w, b = layers[-1]
    x = x @ w + b
    return jax.nn.relu(x) if final_relu else x


def init_particles(key, n: int, dim: int, scale: float = 1.0):
    """N(0, scale^2 I) particles (a, w, b), shape (n, dim + 2)."""
    return scale * jax.random.normal(key, (n, dim + 2), jnp.float32)


def mf_apply(theta, x, activation: str = "tanh"):
    """h(u) = mean_j a_j sigma(w_j'u + b_j); theta (N, d + 2) rows (a, w, b); -> (B,)."""
    s = x @ theta[:, 1:-1].T + theta[:, -1]
    act = jax.nn.relu(s) if activation == "relu" else jnp.tanh(s)
    return act @ theta[:, 0] / theta.shape[0]


def sum_squares(tree) -> jax.Array:
    """sum of squares of every array leaf (the official l2 penalty |theta|^2)."""
    return sum(jnp.sum(leaf**2) for leaf in jax.tree_util.tree_leaves(tree))
