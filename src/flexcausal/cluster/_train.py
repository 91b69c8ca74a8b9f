"""The outer loop: minibatches of clusters, optax updates, early stopping on held-out clusters.

One epoch (a pass over the training clusters in a random order) is one jitted function:
a ``lax.scan`` over minibatches of ``batch_clusters`` clusters, each a pure step
``(params, opt_state, batch) -> (params, opt_state, loss)``.  The last minibatch is filled
with an all-padding cluster, so every step has the same shape and nothing recompiles.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from ._data import PaddedClusters
from .objective import RFPConfig, rfp_objective

OPTIMIZERS = {
    "adam": optax.adam,
    "adamw": optax.adamw,
    "sgd": optax.sgd,
    "rmsprop": optax.rmsprop,
}


@functools.lru_cache(maxsize=64)
def _named_optimizer(name: str, learning_rate: float) -> optax.GradientTransformation:
    # cached, so that the same (name, rate) is the same object and jitted epochs are reused
    return OPTIMIZERS[name](learning_rate)


def make_optimizer(optimizer, learning_rate: float) -> optax.GradientTransformation:
    """A name in ``OPTIMIZERS`` (with ``learning_rate``) or an optax transformation as is."""
    if isinstance(optimizer, optax.GradientTransformation):
        return optimizer
    return _named_optimizer(optimizer, float(learning_rate))


@eqx.filter_jit
def run_epoch(params, opt_state, key, X, y, mask, static, cfg: RFPConfig, opt, batch_clusters):
    """One pass over the training clusters: ``(params, opt_state, per-step losses)``.

    X, y, mask hold C training clusters followed by one all-padding cluster (index C) used
    to fill the last minibatch.  ``static``, ``cfg``, ``opt`` and ``batch_clusters`` are
    static (hashable), so fits with the same settings and shapes reuse the compiled epoch.
    """
    n_clusters = X.shape[0] - 1
    n_batches = -(-n_clusters // batch_clusters)
    n_fill = n_batches * batch_clusters - n_clusters
    perm = jax.random.permutation(key, n_clusters)
    idx = jnp.concatenate([perm, jnp.full((n_fill,), n_clusters, perm.dtype)])
    idx = idx.reshape(n_batches, batch_clusters)

    def step(carry, bidx):
        p, s = carry
        value, grads = jax.value_and_grad(rfp_objective)(
            p, static, X[bidx], y[bidx], mask[bidx], cfg
        )
        updates, s = opt.update(grads, s, p)
        return (optax.apply_updates(p, updates), s), value

    (params, opt_state), losses = jax.lax.scan(step, (params, opt_state), idx)
    return params, opt_state, losses


@eqx.filter_jit
def evaluate(params, X, y, mask, static, cfg: RFPConfig):
    """R_k(theta) on a fixed set of clusters (all at once)."""
    return rfp_objective(params, static, X, y, mask, cfg)


@dataclass
class TrainResult:
    params: object
    loss_curve: list[float] = field(default_factory=list)
    validation_curve: list[float] = field(default_factory=list)
    best_epoch: int = 0
    n_epochs: int = 0


def train(
    params,
    static,
    cfg: RFPConfig,
    train_data: PaddedClusters,
    val_data: PaddedClusters | None,
    *,
    optimizer,
    learning_rate: float,
    epochs: int,
    batch_clusters: int,
    patience: int,
    tol: float,
    key: jax.Array,
    verbose: bool = False,
) -> TrainResult:
    """Minimise R_k over ``train_data``; with ``val_data``, keep the epoch of least held-out
    R_k and stop after ``patience`` epochs without an improvement larger than ``tol``."""
    opt = make_optimizer(optimizer, learning_rate)
    opt_state = eqx.filter_jit(opt.init)(params)
    C = train_data.n_clusters
    B = min(batch_clusters, C)
    padded = train_data.with_empty(1)
    X, y, mask = (jnp.asarray(a) for a in (padded.X, padded.y, padded.mask))
    if val_data is not None:
        Xv, yv, mv = (jnp.asarray(a) for a in (val_data.X, val_data.y, val_data.mask))
    result = TrainResult(params=params)
    best, best_params, since = np.inf, params, 0
    for e in range(epochs):
        key, sub = jax.random.split(key)
        params, opt_state, losses = run_epoch(
            params, opt_state, sub, X, y, mask, static, cfg, opt, B
        )
        result.loss_curve.append(float(jnp.mean(losses)))
        result.n_epochs = e + 1
        if not np.isfinite(result.loss_curve[-1]):
            raise FloatingPointError(
                f"training loss became {result.loss_curve[-1]} at epoch {e + 1}; "
                "lower learning_rate or inner_lr"
            )
        if val_data is not None:
            v = float(evaluate(params, Xv, yv, mv, static, cfg))
            result.validation_curve.append(v)
            if v < best - tol:
                best, best_params, since, result.best_epoch = v, params, 0, e + 1
            else:
                since += 1
            if verbose:
                print(f"epoch {e + 1}: train {result.loss_curve[-1]:.5f}  held-out {v:.5f}")
            if since >= patience:
                break
        elif verbose:
            print(f"epoch {e + 1}: train {result.loss_curve[-1]:.5f}")
    if val_data is None:
        best_params, result.best_epoch = params, result.n_epochs
    result.params = best_params
    return result
