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
from .objective import RFPConfig, inner_report, rfp_objective


def _sgd_momentum(learning_rate: float) -> optax.GradientTransformation:
    """SGD with heavy-ball momentum 0.9: the authors' outer optimizer in every example
    (``optax.sgd(learning_rate=lr, momentum=0.9)``)."""
    return optax.sgd(learning_rate, momentum=0.9)


OPTIMIZERS = {
    "adam": optax.adam,
    "adamw": optax.adamw,
    "sgd": optax.sgd,
    "sgd_momentum": _sgd_momentum,
    "rmsprop": optax.rmsprop,
}

# Early-stopping criteria on the held-out clusters (``validation_score``):
#   "pooled":  mean loss of the pooled theta (eq. 19 averaged; the authors' exp1 validates
#              with Cluster_Loss(inner, reg_value=0), which is this);
#   "rfp":     R_k (eq. 18) with the training a;
#   "adapted": R_k with a = 0, the loss after the k inner steps on each held-out cluster.
VALIDATION_SCORES = ("pooled", "rfp", "adapted")


def validation_config(cfg: RFPConfig, criterion: str) -> RFPConfig:
    """The RFPConfig whose R_k is the early-stopping criterion ``criterion``."""
    if criterion == "pooled":
        return cfg.replace(pooled_weight=1.0, inner_steps=0)
    if criterion == "adapted":
        return cfg.replace(pooled_weight=0.0)
    return cfg


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
    # pooled loss (no inner steps) at the initial parameters on a fixed subset of training
    # clusters: the yardstick of the divergence check
    initial_pooled_loss: float = float("nan")
    # do the inner steps increase the loss by more than OVERSHOOT_FACTOR at the last params?
    inner_overshoots: bool = False
    # with the backtracking safeguard: share of inner tries rejected at the final params, on
    # the probe clusters (0 when every inner step lowered its cluster's loss)
    inner_rejected_share: float = 0.0


# Training "diverged" when the last epoch's loss exceeds this multiple of the initial pooled
# loss (about 1 for a standardized outcome: the loss of predicting the mean).
DIVERGENCE_FACTOR = 100.0
# Gradient steps of a sensible size lower the loss; inner steps that multiply it by more than
# this overshoot (inner_lr too large).
OVERSHOOT_FACTOR = 10.0
_PROBE_CLUSTERS = 64


def pooled_loss(params, static, X, y, mask, cfg: RFPConfig) -> float:
    """The pooled loss (a = 1, no inner steps) of ``params`` on padded clusters."""
    return float(evaluate(params, X, y, mask, static, cfg.replace(pooled_weight=1.0,
                                                                  inner_steps=0)))


def inner_overshoots(params, static, X, y, mask, cfg: RFPConfig, reference: float) -> bool:
    """True when the k inner steps raise the loss of ``params`` more than OVERSHOOT_FACTOR
    times (or to a non-finite value) while the pooled loss is sane (within DIVERGENCE_FACTOR
    of ``reference``, the initial pooled loss): then inner_lr, not learning_rate, is too
    large."""
    if not cfg.needs_inner:
        return False
    before = pooled_loss(params, static, X, y, mask, cfg)
    if not before <= DIVERGENCE_FACTOR * max(reference, 1e-12):
        return False
    after = float(evaluate(params, X, y, mask, static, cfg.replace(pooled_weight=0.0)))
    return not after <= OVERSHOOT_FACTOR * max(before, 1e-12)


_inner_report = eqx.filter_jit(inner_report)


def rejected_share(params, static, X, y, mask, cfg: RFPConfig) -> float:
    """Share of the k inner tries that the backtracking safeguard rejected, over the
    clusters with rows (0 without the safeguard or without inner steps)."""
    if not cfg.needs_inner or cfg.inner_safeguard != "backtrack":
        return 0.0
    _, _, rej, _ = _inner_report(params, static, X, y, mask, cfg)
    real = np.asarray(mask).sum(axis=1) > 0
    return float(np.asarray(rej)[real].sum() / max(real.sum() * cfg.inner_steps, 1))


def divergence_advice(cfg: RFPConfig, learning_rate, overshoots: bool) -> str:
    """Which argument to lower: ``inner_lr`` when the inner steps overshoot, else the outer
    step size ``learning_rate``."""
    if overshoots:
        return (f"the inner adaptation steps increase the loss, so lower inner_lr (now "
                f"{cfg.inner_lr:g}) or inner_steps (now {cfg.inner_steps})")
    outer = ("lower the step size of the optax optimizer passed as optimizer"
             if learning_rate is None else f"lower learning_rate (now {learning_rate:g})")
    if cfg.needs_inner:
        outer += f" (then, if needed, inner_lr, now {cfg.inner_lr:g})"
    return outer


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
    validation_score: str = "rfp",
) -> TrainResult:
    """Minimise R_k over ``train_data``; with ``val_data``, keep the epoch of least held-out
    ``validation_score`` (see ``VALIDATION_SCORES``) and stop after ``patience`` epochs
    without an improvement larger than ``tol``."""
    val_cfg = validation_config(cfg, validation_score)
    opt = make_optimizer(optimizer, learning_rate)
    opt_state = eqx.filter_jit(opt.init)(params)
    C = train_data.n_clusters
    B = min(batch_clusters, C)
    padded = train_data.with_empty(1)
    X, y, mask = (jnp.asarray(a) for a in (padded.X, padded.y, padded.mask))
    if val_data is not None:
        Xv, yv, mv = (jnp.asarray(a) for a in (val_data.X, val_data.y, val_data.mask))
    result = TrainResult(params=params)
    probe = [jnp.asarray(a[:_PROBE_CLUSTERS]) for a in (train_data.X, train_data.y,
                                                        train_data.mask)]
    result.initial_pooled_loss = pooled_loss(params, static, *probe, cfg)
    lr_name = None if isinstance(optimizer, optax.GradientTransformation) else learning_rate
    best, best_params, since = np.inf, params, 0
    for e in range(epochs):
        key, sub = jax.random.split(key)
        before = params
        params, opt_state, losses = run_epoch(
            params, opt_state, sub, X, y, mask, static, cfg, opt, B
        )
        result.loss_curve.append(float(jnp.mean(losses)))
        result.n_epochs = e + 1
        if not np.isfinite(result.loss_curve[-1]):
            overshoots = inner_overshoots(before, static, *probe, cfg,
                                          result.initial_pooled_loss)
            raise FloatingPointError(
                f"RFP training diverged: the training loss became {result.loss_curve[-1]} at "
                f"epoch {e + 1}; {divergence_advice(cfg, lr_name, overshoots)}"
            )
        if val_data is not None:
            v = float(evaluate(params, Xv, yv, mv, static, val_cfg))
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
    result.inner_overshoots = inner_overshoots(params, static, *probe, cfg,
                                               result.initial_pooled_loss)
    result.inner_rejected_share = rejected_share(best_params, static, *probe, cfg)
    return result
