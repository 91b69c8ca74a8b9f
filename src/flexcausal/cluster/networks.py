"""Feed-forward networks f(theta, x) as equinox pytrees (paper eq. 17: f: Theta -> X -> R).

``MLP(hidden=())`` is the linear model f(theta, x) = x'w + b, which the tests use for the
closed forms; ``MLP(hidden=(64, 64))`` is the network of the speed benchmark.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp

ACTIVATIONS: dict[str, Callable] = {
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    "gelu": jax.nn.gelu,
    "softplus": jax.nn.softplus,
    "elu": jax.nn.elu,
    "swish": jax.nn.swish,
    "sigmoid": jax.nn.sigmoid,
}


class Dense(eqx.Module):
    """x -> x W' + b on a batch of rows; ``weight`` (out, in), ``bias`` (out,)."""

    weight: jax.Array
    bias: jax.Array

    def __call__(self, x: jax.Array) -> jax.Array:
        return x @ self.weight.T + self.bias


class MLP(eqx.Module):
    """A scalar-output multilayer perceptron applied row-wise: ``model(X)`` (n, d) -> (n,).

    ``init="uniform"`` initialises like ``torch.nn.Linear`` / ``eqx.nn.Linear``:
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases.  ``init="rfp"`` is the
    authors' scheme (``rfp.utils.ModelParams.init_fn`` with flax ``nn.Dense``): hidden
    layers LeCun-normal (truncated normal, variance 1/fan_in) with zero biases, output
    weights He-normal N(0, 2/width) and output bias N(0, 2).

    Args:
        in_features: d, the number of columns of X.
        hidden: widths of the hidden layers; ``()`` gives the linear model.
        activation: a name in ``ACTIVATIONS``.
        key: a ``jax.random`` key (explicit randomness, no global state).
        init: "uniform" or "rfp" (see above).
    """

    layers: tuple[Dense, ...]
    activation: str = eqx.field(static=True)

    def __init__(
        self,
        in_features: int,
        hidden: Sequence[int] = (64, 64),
        activation: str = "relu",
        *,
        key: jax.Array,
        dtype=jnp.float32,
        init: str = "uniform",
    ):
        sizes = [int(in_features), *[int(h) for h in hidden], 1]
        keys = jax.random.split(key, len(sizes) - 1)
        layers = []
        last = len(sizes) - 2
        for i, (k, fan_in, fan_out) in enumerate(
            zip(keys, sizes[:-1], sizes[1:], strict=True)
        ):
            kw, kb = jax.random.split(k)
            if init == "rfp" and i < last:  # flax lecun_normal(): truncated, variance 1/fan_in
                sd = jnp.sqrt(1.0 / fan_in) / 0.87962566103423978
                w = sd * jax.random.truncated_normal(kw, -2.0, 2.0, (fan_out, fan_in), dtype)
                b = jnp.zeros((fan_out,), dtype)
            elif init == "rfp":  # the head: He normal, bias N(0, 2)
                w = jnp.sqrt(2.0 / fan_in) * jax.random.normal(kw, (fan_out, fan_in), dtype)
                b = jnp.sqrt(2.0) * jax.random.normal(kb, (fan_out,), dtype)
            else:
                lim = 1.0 / jnp.sqrt(fan_in)
                w = jax.random.uniform(kw, (fan_out, fan_in), dtype, -lim, lim)
                b = jax.random.uniform(kb, (fan_out,), dtype, -lim, lim)
            layers.append(Dense(w, b))
        self.layers = tuple(layers)
        self.activation = activation

    def features(self, X: jax.Array) -> jax.Array:
        """phi(x): the last hidden layer's activations (n, width); X itself with no hidden
        layer.  The output is ``layers[-1]`` applied to these (the "head")."""
        act = ACTIVATIONS[self.activation]
        h = X
        for layer in self.layers[:-1]:
            h = act(layer(h))
        return h

    def __call__(self, X: jax.Array) -> jax.Array:
        return self.layers[-1](self.features(X))[..., 0]


def split_model(model: eqx.Module):
    """(params, static): the trainable float arrays and the rest (``eqx.partition``)."""
    return eqx.partition(model, eqx.is_inexact_array)


INITS = ("uniform", "rfp")


@eqx.filter_jit
def init_mlp(key: jax.Array, in_features: int, hidden: tuple[int, ...], activation: str,
             init: str = "uniform") -> MLP:
    """``MLP(...)`` built inside one jitted call (eager initialisation compiles every random
    op separately, which costs seconds on the first fit)."""
    return MLP(in_features, hidden, activation, key=key, init=init)
