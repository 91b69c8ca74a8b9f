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

import dataclasses
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


SAFEGUARDS = ("backtrack", "none")
ADAPT_PARAMS = ("all", "head")

# Step-size normalisation of the safeguard: an inner step longer than this multiple of
# (1 + |theta|) is shortened to it before the cluster's loss is evaluated, so a huge inner_lr
# cannot overflow the forward pass (its step is then rejected by the loss test anyway).
MAX_RELATIVE_STEP = 10.0


@dataclass(frozen=True)
class RFPConfig:
    """Settings of R_k (a JAX pytree: a, eta and the momentum are traced values, the rest
    is static, so jitted functions specialise on the program, not on those numbers).

    pooled_weight: a in [0, 1] (eq. 18); inner_steps: k >= 0; inner_lr: eta (eq. 20);
    loss: "squared" or "logistic"; first_order: drop the second-order term.
    inner_momentum: beta in [0, 1): heavy-ball inner steps d_j = g_j + beta d_{j-1},
        theta^j = theta^{j-1} - eta d_j (optax.sgd(eta, momentum=beta) restarted for each
        cluster, as the authors' inner ``Trainer``); 0 is eq. 20 exactly.
    adapt_params: "all" (eq. 20: every parameter takes the inner steps) or "head" (only the
        output layer adapts, the body's features are shared; the authors' ``single_dim.py``
        and ``Missing_Gradients`` inner optimizer, ``optax.multi_transform`` with the body
        set to zero).
    inner_safeguard: "none" (eq. 20 as written) or "backtrack": an inner step that raises
        the cluster's own mean loss (or makes it non-finite) is rejected and the step size
        halved; rejected tries count against the k steps, so the cost is unchanged.  With no
        rejection the two are identical.  The chosen step size is a constant for the
        gradient of R_k.
    """

    pooled_weight: float = 0.5
    inner_steps: int = 1
    inner_lr: float = 0.1
    loss: str = "squared"
    first_order: bool = False
    inner_momentum: float = 0.0
    adapt_params: str = "all"
    inner_safeguard: str = "none"

    @property
    def needs_inner(self) -> bool:
        known = self.__dict__.get("_needs_inner")  # set when rebuilt inside a jitted call
        if known is not None:
            return known
        return self.pooled_weight < 1.0 and self.inner_steps > 0

    def replace(self, **changes) -> RFPConfig:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)


# RFPConfig is a JAX pytree whose leaves are the three numbers a, eta and the inner
# momentum (weakly typed, so they take the network's float type exactly as the Python
# constants did), and whose static part is everything that changes the program (k, loss,
# first order, safeguard, which parameters adapt, whether inner steps run at all). Jitted
# functions taking a config are therefore compiled once per program, not once per value
# of a or eta: a grid search over them reuses one compiled epoch.
_DYNAMIC = ("pooled_weight", "inner_lr", "inner_momentum")


def _config_flatten(cfg: RFPConfig):
    leaves = tuple(jnp.asarray(getattr(cfg, f)) for f in _DYNAMIC)
    aux = (cfg.inner_steps, cfg.loss, cfg.first_order, cfg.adapt_params,
           cfg.inner_safeguard, cfg.needs_inner)
    return leaves, aux


def _config_unflatten(aux, leaves) -> RFPConfig:
    steps, loss, first_order, adapt, safeguard, needs_inner = aux
    cfg = object.__new__(RFPConfig)
    values = dict(zip(_DYNAMIC, leaves, strict=True))
    values.update(inner_steps=steps, loss=loss, first_order=first_order, adapt_params=adapt,
                  inner_safeguard=safeguard)
    for name, value in values.items():
        object.__setattr__(cfg, name, value)
    object.__setattr__(cfg, "_needs_inner", needs_inner)
    return cfg


jax.tree_util.register_pytree_node(RFPConfig, _config_flatten, _config_unflatten)


def cluster_mean_loss(params, static, X, y, mask, loss: str) -> jax.Array:
    """(1/n_c) sum_{i in c} L_i(theta) for one padded cluster (X (n, d), y (n,), mask (n,))."""
    model = eqx.combine(params, static)
    per_row = LOSSES[loss](model(X), y)
    return jnp.sum(per_row * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def _cluster_problem(params, static, X, y, mask, cfg: RFPConfig):
    """(theta0, loss_of, put_back): the parameters that adapt, the cluster's mean loss as a
    function of them, and the map back to the full parameters.

    With ``adapt_params="head"`` the body's features phi(x) are computed once (they depend
    on the body, so gradients of R_k still reach it) and only the output layer adapts.
    """
    n = jnp.maximum(jnp.sum(mask), 1.0)
    loss_fn = LOSSES[cfg.loss]
    if cfg.adapt_params == "head":
        model = eqx.combine(params, static)
        phi = model.features(X)
        head_static = static.layers[-1]

        def loss_of(head):
            out = eqx.combine(head, head_static)(phi)[..., 0]
            return jnp.sum(loss_fn(out, y) * mask) / n

        def put_back(head):
            return eqx.tree_at(lambda p: p.layers[-1], params, head)

        return params.layers[-1], loss_of, put_back

    def loss_of_all(p):
        return jnp.sum(loss_fn(eqx.combine(p, static)(X), y) * mask) / n

    return params, loss_of_all, lambda p: p


def _tree_sq_norm(tree) -> jax.Array:
    return sum(jnp.sum(x * x) for x in jax.tree_util.tree_leaves(tree))


def inner_loop(params, static, X, y, mask, cfg: RFPConfig, steps: int | None = None):
    """theta_c^k (eq. 20) on one padded cluster, with the options of ``RFPConfig``.

    Returns ``(adapted params, info)``, info = dict(loss0 = mean loss at theta (the pooled
    term of eq. 18), lossk = mean loss at theta_c^k, rejected = number of rejected inner
    tries, step = the final inner step size).  One value-and-gradient per step and one value
    at the end: the same work as eq. 20 without the safeguard.
    """
    steps = cfg.inner_steps if steps is None else int(steps)
    theta0, loss_of, put_back = _cluster_problem(params, static, X, y, mask, cfg)
    vg = jax.value_and_grad(loss_of)
    loss0, g0 = vg(theta0)
    if cfg.first_order:
        g0 = jax.lax.stop_gradient(g0)
    eta = jnp.asarray(cfg.inner_lr, loss0.dtype)
    zero = jnp.zeros((), jnp.int32)
    if steps == 0:
        return put_back(theta0), dict(loss0=loss0, lossk=loss0, rejected=zero, step=eta)
    guard = cfg.inner_safeguard == "backtrack"
    beta = cfg.inner_momentum

    def candidate(acc, d, t):
        step = jax.tree_util.tree_map(lambda x: t * x, d)
        if guard:  # step-size normalisation: never longer than MAX_RELATIVE_STEP (1 + |acc|)
            size = jnp.sqrt(_tree_sq_norm(step) + 1e-30)
            cap = MAX_RELATIVE_STEP * (1.0 + jnp.sqrt(_tree_sq_norm(acc) + 1e-30))
            shrink = jax.lax.stop_gradient(jnp.minimum(1.0, cap / size))
            step = jax.tree_util.tree_map(lambda x: shrink * x, step)
        return jax.tree_util.tree_map(jnp.subtract, acc, step)

    def accept(new_loss, old_loss):
        if not guard:
            return jnp.asarray(True)
        nl, ol = jax.lax.stop_gradient(new_loss), jax.lax.stop_gradient(old_loss)
        return jnp.isfinite(nl) & (nl <= ol)

    def pick(ok, a, b):
        return jax.tree_util.tree_map(lambda u, v: jnp.where(ok, u, v), a, b)

    def body(carry, _):
        acc, lacc, d, t, rej = carry
        cand = candidate(acc, d, t)
        lc, gc = vg(cand)
        if cfg.first_order:
            gc = jax.lax.stop_gradient(gc)
        ok = accept(lc, lacc)
        d_new = jax.tree_util.tree_map(lambda g, dd: g + beta * dd, gc, d)
        carry = (pick(ok, cand, acc), jnp.where(ok, lc, lacc), pick(ok, d_new, d),
                 jnp.where(ok, t, 0.5 * t), rej + jnp.where(ok, 0, 1).astype(jnp.int32))
        return carry, None

    carry = (theta0, loss0, g0, eta, zero)
    if steps > 1:
        carry, _ = jax.lax.scan(body, carry, None, length=steps - 1)
    acc, lacc, d, t, rej = carry
    cand = candidate(acc, d, t)  # the last step needs the loss only, no gradient
    lc = loss_of(cand)
    ok = accept(lc, lacc)
    out = pick(ok, cand, acc)
    info = dict(loss0=loss0, lossk=jnp.where(ok, lc, lacc),
                rejected=rej + jnp.where(ok, 0, 1).astype(jnp.int32),
                step=jnp.where(ok, t, 0.5 * t))
    return put_back(out), info


def adapt_params(params, static, X, y, mask, cfg: RFPConfig, steps: int | None = None):
    """theta_c^k (eq. 20): ``steps`` (default k) inner steps on one cluster (params only)."""
    return inner_loop(params, static, X, y, mask, cfg, steps)[0]


def cluster_sum(params, static, X, y, mask, cfg: RFPConfig) -> jax.Array:
    """sum_{i in c} [a L_i(theta) + (1 - a) L_i(theta_c^k)] for one padded cluster."""
    a = cfg.pooled_weight
    if not cfg.needs_inner:
        loss_fn = LOSSES[cfg.loss]
        return jnp.sum(loss_fn(eqx.combine(params, static)(X), y) * mask)
    _, info = inner_loop(params, static, X, y, mask, cfg)
    n = jnp.sum(mask)
    return n * (a * info["loss0"] + (1.0 - a) * info["lossk"])


def inner_report(params, static, X, y, mask, cfg: RFPConfig):
    """Per-cluster (loss at theta, loss at theta_c^k, rejected inner tries, final step) on
    padded clusters X (C, n, d): how the inner steps behave at ``params``."""
    def one(Xc, yc, mc):
        info = inner_loop(params, static, Xc, yc, mc, cfg)[1]
        return info["loss0"], info["lossk"], info["rejected"], info["step"]

    return jax.vmap(one)(X, y, mask)


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
