"""The RFP objective: pooled loss + loss after k inner gradient steps on the own cluster.

Power & Ghosh, "Regularizing the Forward Pass" (2025), Sec. 4.3:

    R_k(theta) = (1/N) sum_i [ a L_i(theta) + (1 - a) L_i(theta_c^k(theta)) ]      (eq. 18)
    L_i(theta) = (y_i - f(theta, x_i))^2                                           (eq. 19)
    theta_c^j = theta_c^{j-1} - eta grad (1/n_c) sum_{i in c} L_i(theta_c^{j-1}),
    theta_c^0 = theta                                                              (eq. 20)

(the paper reuses the letter alpha for the inner step size in eq. 20; here the weight is
``pooled_weight`` = a and the step is ``inner_lr`` = eta).  a = 1 is pooled ERM, a = 0 is
MAML (Finn et al. 2017).  The logistic loss L_i = log(1 + e^f) - y_i f replaces eq. 19 for
binary outcomes.

Implementation: clusters are padded and masked (``_data.py``); the k inner steps are a
``lax.scan`` and clusters are ``vmap``-ped, so one minibatch of clusters is one XLA program.
Gradients of R_k are full second order (differentiating through the scan) unless
``first_order=True``, which stops the gradient through the inner gradients (first-order
MAML): d theta_c^k / d theta is then the identity.
"""

from __future__ import annotations

from dataclasses import dataclass

import equinox as eqx
import jax
import jax.numpy as jnp


def squared_loss(pred: jax.Array, y: jax.Array) -> jax.Array:
    """Eq. 19, row-wise: (y - f)^2."""
    return (y - pred) ** 2


def logistic_loss(logit: jax.Array, y: jax.Array) -> jax.Array:
    """Negative Bernoulli log-likelihood with logit f and y in {0, 1}: log(1 + e^f) - y f."""
    return jax.nn.softplus(logit) - y * logit


LOSSES = {"squared": squared_loss, "logistic": logistic_loss}


@dataclass(frozen=True)
class RFPConfig:
    """Static settings of R_k (hashable, so jitted functions specialise on them).

    pooled_weight: a in [0, 1] (eq. 18); inner_steps: k >= 0; inner_lr: eta (eq. 20);
    loss: "squared" or "logistic"; first_order: drop the second-order term.
    """

    pooled_weight: float = 0.5
    inner_steps: int = 1
    inner_lr: float = 0.1
    loss: str = "squared"
    first_order: bool = False

    @property
    def needs_inner(self) -> bool:
        return self.pooled_weight < 1.0 and self.inner_steps > 0


def cluster_mean_loss(params, static, X, y, mask, loss: str) -> jax.Array:
    """(1/n_c) sum_{i in c} L_i(theta) for one padded cluster (X (n, d), y (n,), mask (n,))."""
    model = eqx.combine(params, static)
    per_row = LOSSES[loss](model(X), y)
    return jnp.sum(per_row * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def adapt_params(params, static, X, y, mask, cfg: RFPConfig, steps: int | None = None):
    """theta_c^k (eq. 20): ``steps`` (default k) gradient steps of size eta on one cluster."""
    steps = cfg.inner_steps if steps is None else int(steps)
    if steps == 0:
        return params
    grad_fn = jax.grad(cluster_mean_loss)

    def step(p, _):
        g = grad_fn(p, static, X, y, mask, cfg.loss)
        if cfg.first_order:
            g = jax.lax.stop_gradient(g)
        return jax.tree_util.tree_map(lambda a, b: a - cfg.inner_lr * b, p, g), None

    out, _ = jax.lax.scan(step, params, None, length=steps)
    return out


def cluster_sum(params, static, X, y, mask, cfg: RFPConfig) -> jax.Array:
    """sum_{i in c} [a L_i(theta) + (1 - a) L_i(theta_c^k)] for one padded cluster."""
    a = cfg.pooled_weight
    loss_fn = LOSSES[cfg.loss]
    total = jnp.zeros((), X.dtype)
    if a > 0.0 or not cfg.needs_inner:
        pooled = jnp.sum(loss_fn(eqx.combine(params, static)(X), y) * mask)
        total = total + (a if cfg.needs_inner else 1.0) * pooled
    if cfg.needs_inner:
        adapted = adapt_params(params, static, X, y, mask, cfg)
        post = jnp.sum(loss_fn(eqx.combine(adapted, static)(X), y) * mask)
        total = total + (1.0 - a) * post
    return total


def rfp_objective(params, static, X, y, mask, cfg: RFPConfig) -> jax.Array:
    """R_k(theta) (eq. 18) on a batch of padded clusters X (B, n, d), y (B, n), mask (B, n).

    N is the number of real rows in the batch, so the value does not depend on padding
    (extra zero rows, or all-padding clusters used to fill a minibatch).
    """
    sums = jax.vmap(cluster_sum, in_axes=(None, None, 0, 0, 0, None))(
        params, static, X, y, mask, cfg
    )
    return jnp.sum(sums) / jnp.maximum(jnp.sum(mask), 1.0)


def rfp_value_and_grad(params, static, X, y, mask, cfg: RFPConfig):
    """(R_k, dR_k/dtheta) on one batch of clusters (second order unless cfg.first_order)."""
    return jax.value_and_grad(rfp_objective)(params, static, X, y, mask, cfg)


def loop_value_and_grad(params, static, clusters, cfg: RFPConfig, grad_one=None):
    """The same (R_k, gradient), but as a plain Python loop over clusters.

    ``clusters`` is a list of (X_c, y_c) arrays of their own length (no padding); each
    cluster's sum is differentiated separately (``grad_one``, by default a jitted
    ``jax.value_and_grad(cluster_sum)``) and accumulated in Python.  This is the peer of the
    speed benchmark and an independent check of padding and vmap in the tests.
    """
    if grad_one is None:
        grad_one = _cluster_value_and_grad
    total, grads, n = 0.0, None, 0
    for Xc, yc in clusters:
        mask = jnp.ones(len(yc), dtype=jnp.asarray(Xc).dtype)
        v, g = grad_one(params, static, Xc, yc, mask, cfg)
        total = total + v
        grads = g if grads is None else jax.tree_util.tree_map(jnp.add, grads, g)
        n += len(yc)
    scale = 1.0 / max(n, 1)
    return total * scale, jax.tree_util.tree_map(lambda g: g * scale, grads)


_cluster_value_and_grad = eqx.filter_jit(jax.value_and_grad(cluster_sum))
