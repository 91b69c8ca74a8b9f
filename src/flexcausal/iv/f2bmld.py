"""F^2BMLD: fully first-order bilevel mean-field Langevin dynamics for NPIV
(Chen, Nitanda, Gretton & Suzuki 2025, arXiv 2511.14710; the slides in
``shared/papers/f2bmld-npiv-mean-field-slides.md``).

Mean-field two-layer networks (particles = neurons; slides "Mean-field perspective of 2SLS")

    h(x) = (1/N_x) sum_j Psi(x; x_j),   g(z) = (1/N_z) sum_i Psi(z; z_i),
    Psi(u; (a, w, b)) = a tanh(w'u + b).

With stage-1 data (x, z) (m rows) and stage-2 data (z, y) (n rows):

    F1(mu_x, mu_z) = 1/2 E_m[(g(z) - h(x))^2] + zeta1/2 E_{mu_z}||z||^2
    F2(mu_x, mu_z) = 1/2 E_n[(g(z) - y)^2]    + zeta2/2 E_{mu_x}||x||^2
    L_lambda       = F2(mu_x, mu~_z) + lambda (F1(mu_x, mu~_z) - F1(mu_x, mu_z))   (lambda-penalty)

INNERLOOP (slides, Algorithm INNERLOOP), for fixed x particles, T steps of
    z  <- z  - alpha grad_2 F1(z)                              + sqrt(2 alpha sigma1) xi
    z~ <- z~ - beta (grad_2 F2(z~) + lambda grad_2 F1(z~))     + sqrt(2 beta lambda sigma1) xi~
OUTERLOOP (Algorithm F^2BMLD, line 5), the envelope gradient (Proposition 1)
    x  <- x  - gamma (grad_1 F2 + lambda (grad_1 F1(z~) - grad_1 F1(z)))  + sqrt(2 gamma sigma2) xi
where grad is the Wasserstein gradient at a particle, e.g.
grad_2 F1(mu)(z_i) = E_m[(g(z) - h(x)) grad_theta Psi(z; z_i)] + zeta1 z_i (slides, "Wasserstein
gradient of F"), computed in closed form for the tanh neuron (``wasserstein_grad``). It is
N times the Euclidean gradient of the particle loss, which the tests check with autodiff.

``optimizer="adam"`` feeds the same gradients to Adam (b1 = 0.5, b2 = 0.9, as the official
code's learner) with ``noise=False`` by default: the practical setting of the paper's
experiments. Everything after validation is one jitted ``lax.scan`` over S outer steps.

``form="network"`` is the official practical form instead (github hudsonchen/F2BMLD,
``methods/f2bmld/learner.py``): h, g and g~ are Linear-ReLU-Linear networks of width
``hidden``, trained by Adam (lr 1e-3 by default) on the unhalved losses with l2 penalties
``zeta1``/``zeta2`` on |theta|^2; the shared core ``flexcausal.iv._bilevel`` runs it (the
same core runs the Bellman form in ``flexcausal.ope``).

Data. Inputs are standardised. The outcome is divided by its root mean square and *not*
centred (``center_outcome=False``): centring is exact for NPIV but not for the linear
functionals the same algorithm serves (a shift of the reward is not a shift of Q in the
Bellman form, and CartPole's constant reward would centre to 0). Minibatches are drawn by
index with replacement (O(batch) per step at any n). Both stages use all rows unless
``split`` asks for disjoint stage-1/stage-2 samples (the slides' m and n).

Accuracy. The F^2BMLD paper validates the method on offline policy evaluation only. On the
demand design (``benchmarks/npiv_demand.py``) it is less accurate than DFIV: the same
one-hidden-layer mean-field network, trained with the same budget on the noise-free truth
with no endogeneity at all (the benchmark's "no-endogeneity oracle"), already has MSE ~1,200
at n = 1000, above DFIV's IV estimate (~900): h = 100 + (10 + p) s psi(t) - 2p is a triple
product that sums of tanh neurons approximate slowly, while DFIV's tensor-product features
(price features x covariate features) match it. Tuning (lambda 1-10, T 5-20, S up to 6000,
1024 particles, relu, Adam 0.003-0.05) did not close the gap.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from .._checks import check_choice, check_int, check_nonnegative, check_positive
from ._base import FitData, NPIVEstimator, Standardizer, check_fraction, split_indices
from ._bilevel import BilevelConfig, apply_fn, init_state, npiv_treat, run_chunk
from ._nets import init_mlp

__all__ = ["F2BMLD", "F2Config", "inner_step", "mf_forward", "outer_gradient",
           "wasserstein_grad"]


# ------------------------------------------------------------------ mean-field network
def _act(s, activation):
    """(sigma(s), sigma'(s)) for tanh (bounded, the theory's Assumption 1) or relu."""
    if activation == "relu":
        return jax.nn.relu(s), (s > 0).astype(s.dtype)
    t = jnp.tanh(s)
    return t, 1.0 - t**2


def mf_forward(theta: jax.Array, inputs: jax.Array, activation: str = "tanh") -> jax.Array:
    """h(u) = mean_j a_j sigma(w_j'u + b_j); theta is (N, d + 2) rows (a, w, b); -> (B,)."""
    act, _ = _act(inputs @ theta[:, 1:-1].T + theta[:, -1], activation)
    return act @ theta[:, 0] / theta.shape[0]


def wasserstein_grad(theta: jax.Array, inputs: jax.Array, resid: jax.Array,
                     activation: str = "tanh") -> jax.Array:
    """E_batch[resid * grad_theta Psi(u; theta_j)] for every particle j, shape (N, d + 2).

    d/da = sigma(s), d/dw = a sigma'(s) u, d/db = a sigma'(s), s = w'u + b.
    """
    act, dact = _act(inputs @ theta[:, 1:-1].T + theta[:, -1], activation)  # (B, N)
    batch = inputs.shape[0]
    g_a = resid @ act / batch
    weighted = resid[:, None] * dact * theta[:, 0]  # (B, N)
    g_w = weighted.T @ inputs / batch
    g_b = weighted.sum(0) / batch
    return jnp.concatenate([g_a[:, None], g_w, g_b[:, None]], axis=1)


@dataclass(frozen=True)
class F2Config:
    """Static settings of one run (hashable: a change recompiles)."""

    lam: float
    alpha: float
    beta: float
    gamma: float
    sigma1: float
    sigma2: float
    zeta1: float
    zeta2: float
    inner_steps: int
    outer_steps: int
    batch1: int
    batch2: int
    adam: bool
    noise: bool
    activation: str = "tanh"


def inner_gradients(x_p, z_p, zt_p, batch, cfg: F2Config):
    """Wasserstein gradients of INNERLOOP lines 4 and 5 (noise excluded)."""
    x1, z1, z2, y2 = batch
    hx = mf_forward(x_p, x1, cfg.activation)
    grad_z = wasserstein_grad(z_p, z1, mf_forward(z_p, z1) - hx) + cfg.zeta1 * z_p
    grad_zt = wasserstein_grad(zt_p, z2, mf_forward(zt_p, z2) - y2) + cfg.lam * (
        wasserstein_grad(zt_p, z1, mf_forward(zt_p, z1) - hx) + cfg.zeta1 * zt_p
    )
    return grad_z, grad_zt


def outer_gradient(x_p, z_p, zt_p, batch, cfg: F2Config):
    """grad_1 F2 + lambda (grad_1 F1(mu_x, mu~_z) - grad_1 F1(mu_x, mu_z)) at each x particle.

    grad_1 F1(mu_x, mu_z)(x) = E_m[(h(x) - g(z)) grad Psi(x; .)], so the difference is
    E_m[(g_z(z) - g_z~(z)) grad Psi]; grad_1 F2 = zeta2 x (F2 sees mu_x only through its
    regulariser).
    """
    x1, z1, _, _ = batch
    resid = cfg.lam * (mf_forward(z_p, z1) - mf_forward(zt_p, z1))
    return wasserstein_grad(x_p, x1, resid, cfg.activation) + cfg.zeta2 * x_p


def objectives(x_p, z_p, zt_p, batch, cfg: F2Config):
    """(F1(mu_x, mu_z), F2(mu_x, mu~_z), L_lambda) on a batch (particle-mean regularisers)."""
    x1, z1, z2, y2 = batch
    hx = mf_forward(x_p, x1, cfg.activation)

    def f1(p):
        return 0.5 * jnp.mean((mf_forward(p, z1) - hx) ** 2) + 0.5 * cfg.zeta1 * jnp.mean(
            jnp.sum(p**2, 1))

    f2 = 0.5 * jnp.mean((mf_forward(zt_p, z2) - y2) ** 2) + 0.5 * cfg.zeta2 * jnp.mean(
        jnp.sum(x_p**2, 1))
    return f1(z_p), f2, f2 + cfg.lam * (f1(zt_p) - f1(z_p))


def _langevin(p, grad, step, temperature, key, cfg):
    """p - step * grad + sqrt(2 step temperature) N(0, I)."""
    new = p - step * grad
    if cfg.noise and temperature > 0:
        new = new + jnp.sqrt(2.0 * step * temperature) * jax.random.normal(key, p.shape, p.dtype)
    return new


def _move(p, grad, opt_state, opt, step, temperature, key, cfg):
    """One particle update: Langevin step, or Adam on the same gradient (+ optional noise)."""
    if not cfg.adam:
        return _langevin(p, grad, step, temperature, key, cfg), opt_state
    upd, opt_state = opt.update(grad, opt_state, p)
    new = p + upd
    if cfg.noise and temperature > 0:
        new = new + jnp.sqrt(2.0 * step * temperature) * jax.random.normal(key, p.shape, p.dtype)
    return new, opt_state


def inner_step(carry, key, x_p, batch, cfg: F2Config, opts=(None, None)):
    """One INNERLOOP iteration on (z, z~) with x particles fixed; carry = (z, z~, states)."""
    z_p, zt_p, (s_z, s_zt) = carry
    kz, kzt = jax.random.split(key)
    grad_z, grad_zt = inner_gradients(x_p, z_p, zt_p, batch, cfg)
    z_p, s_z = _move(z_p, grad_z, s_z, opts[0], cfg.alpha, cfg.sigma1, kz, cfg)
    zt_p, s_zt = _move(zt_p, grad_zt, s_zt, opts[1], cfg.beta, cfg.lam * cfg.sigma1, kzt, cfg)
    return z_p, zt_p, (s_z, s_zt)


def _batch(key, data, cfg):
    """Rows by index with replacement: O(batch) per call at any n (``jax.random.choice``
    without replacement permutes all n rows, 1.5 s per call at n = 800k)."""
    x1, z1, z2, y2 = data
    k1, k2 = jax.random.split(key)
    i1 = jax.random.randint(k1, (cfg.batch1,), 0, x1.shape[0])
    i2 = jax.random.randint(k2, (cfg.batch2,), 0, z2.shape[0])
    return x1[i1], z1[i1], z2[i2], y2[i2]


def outer_step(state, key, data, cfg: F2Config, opts=(None, None, None)):
    """One OUTERLOOP iteration: INNERLOOP (T steps) then the x update; returns losses."""
    x_p, z_p, zt_p, states = state
    kb, ki, kx = jax.random.split(key, 3)
    full = cfg.batch1 == data[0].shape[0] and cfg.batch2 == data[2].shape[0]
    batch = data if full else _batch(kb, data, cfg)

    def body(carry, k):
        return inner_step(carry, k, x_p, batch, cfg, opts[1:]), None

    inner_keys = jax.random.split(ki, cfg.inner_steps)
    (z_p, zt_p, zs), _ = jax.lax.scan(body, (z_p, zt_p, states[1:]), inner_keys)
    grad_x = outer_gradient(x_p, z_p, zt_p, batch, cfg)
    losses = jnp.stack(objectives(x_p, z_p, zt_p, batch, cfg))
    x_p, s_x = _move(x_p, grad_x, states[0], opts[0], cfg.gamma, cfg.sigma2, kx, cfg)
    return (x_p, z_p, zt_p, (s_x, *zs)), losses


@functools.lru_cache(maxsize=32)
def _adams(cfg: F2Config):
    """Adam per particle set (betas of the official F2BMLD learner); cached per config."""
    return tuple(optax.adam(lr, b1=0.5, b2=0.9) for lr in (cfg.gamma, cfg.alpha, cfg.beta))


@eqx.filter_jit
def _run(particles, key, data, cfg: F2Config):
    opts = _adams(cfg) if cfg.adam else (None, None, None)
    states = tuple(o.init(p) if o is not None else None
                   for o, p in zip(opts, particles, strict=True))

    def body(state, k):
        return outer_step(state, k, data, cfg, opts)

    keys = jax.random.split(key, cfg.outer_steps)
    (x_p, z_p, zt_p, _), losses = jax.lax.scan(body, (*particles, states), keys)
    return x_p, z_p, zt_p, losses


def init_particles(key, n, dim, scale=1.0):
    """N(0, scale^2 I) particles (a, w, b) of dimension dim + 2."""
    return scale * jax.random.normal(key, (n, dim + 2), jnp.float32)


class F2BMLD(NPIVEstimator):
    """NPIV by bilevel mean-field Langevin dynamics (F^2BMLD; Chen et al. 2025).

    Parameters
    ----------
    form : "mean_field" (the slides' particles, default) or "network" (official practical
        form: ReLU MLPs with ``hidden`` units trained by Adam; module docstring).
    n_particles_x, n_particles_z : N_x neurons of h, N_z neurons of g (and of g~).
    hidden : hidden width of h, g and g~ in the network form (official 50).
    inner_steps (T), outer_steps (S) : INNERLOOP iterations per outer step, outer steps.
    alpha, beta, gamma : step sizes of z, z~ and x (> 0; learning rates with Adam; None:
        0.5, 0.25, 2.0 for mean_field and 1e-3 each for network).
    lam : Lagrange multiplier lambda (> 0; lambda -> inf recovers the bilevel problem).
    sigma1, sigma2 : entropic temperatures (>= 0) of stage 1 and stage 2.
    zeta1, zeta2 : l2 penalties of the z and x particles (>= 0).
    batch_size : rows per step in each stage (None: full batch), drawn with replacement.
    optimizer : "langevin" (the slides' algorithm) or "adam" (the practical variant; None:
        langevin for mean_field, adam for network).
    activation : neuron of h: "tanh" (bounded, as the theory assumes) or "relu" (linear
        extrapolation outside the data); None: tanh for mean_field (g always uses tanh),
        relu for network (g and g~ always use relu, as the official networks). On the
        proximal demand design a tanh h is the better network form (MSE ~20 against ~45:
        ``benchmarks/proximal_demand.py``).
    noise : add the Langevin noise (None: True for "langevin", False for "adam").
    split : None (default: both stages use all rows) or the fraction of rows in a disjoint
        stage-1 sample (m); the rest is stage 2 (n).
    center_outcome : subtract the outcome's mean before scaling (exact for NPIV; default
        False, see the module docstring).
    seed : int; initialisation, noise and minibatches come from ``jax.random.PRNGKey(seed)``.

    Fitted: ``particles_x_`` (N_x, d + 2), ``particles_z_``, ``particles_z_tilde_`` (mean
    field) or ``params_`` (h, g, g~) (network), ``history_`` with ``F1``, ``F2`` and
    ``L_lambda`` per outer step (on the scaled outcome), ``y_scale_`` (mean, scale).
    """

    _params = ("form", "n_particles_x", "n_particles_z", "hidden", "inner_steps", "outer_steps",
               "alpha", "beta", "gamma", "lam", "sigma1", "sigma2", "zeta1", "zeta2",
               "batch_size", "optimizer", "activation", "noise", "split", "center_outcome",
               "seed")

    def __init__(self, form="mean_field", n_particles_x=256, n_particles_z=256, hidden=50,
                 inner_steps=5, outer_steps=3000, alpha=None, beta=None, gamma=None, lam=1.0,
                 sigma1=1e-5, sigma2=1e-5, zeta1=1e-4, zeta2=1e-4, batch_size=None,
                 optimizer=None, activation=None, noise=None, split=None,
                 center_outcome=False, seed=0):
        self.form = form
        self.hidden = hidden
        self.center_outcome = center_outcome
        self.n_particles_x = n_particles_x
        self.n_particles_z = n_particles_z
        self.inner_steps = inner_steps
        self.outer_steps = outer_steps
        self.alpha = alpha
        self.beta = beta
        self.gamma = gamma
        self.lam = lam
        self.sigma1 = sigma1
        self.sigma2 = sigma2
        self.zeta1 = zeta1
        self.zeta2 = zeta2
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.activation = activation
        self.noise = noise
        self.split = split
        self.seed = seed

    def _validate(self) -> None:
        check_choice(self.form, ["mean_field", "network"], "form")
        for name in ("n_particles_x", "n_particles_z", "hidden", "inner_steps", "outer_steps"):
            check_int(getattr(self, name), name, minimum=1)
        for name in ("alpha", "beta", "gamma"):
            if getattr(self, name) is not None:
                check_positive(getattr(self, name), f"{name} (a step size)")
        check_positive(self.lam, "lam (the Lagrange multiplier lambda)")
        for name in ("sigma1", "sigma2", "zeta1", "zeta2"):
            check_nonnegative(getattr(self, name), name)
        if self.batch_size is not None:
            check_int(self.batch_size, "batch_size", minimum=2)
        if self.optimizer is not None:
            check_choice(self.optimizer, ["langevin", "adam"], "optimizer")
        if self.activation is not None:
            check_choice(self.activation, ["tanh", "relu"], "activation")
        if self.noise is not None and not isinstance(self.noise, bool):
            raise TypeError(f"noise must be True, False or None, got {self.noise!r}")
        if self.split is not None:
            check_fraction(self.split, "split")
        if not isinstance(self.center_outcome, bool):
            raise TypeError(f"center_outcome must be True or False, got {self.center_outcome!r}")
        check_int(self.seed, "seed")

    @property
    def _network(self) -> bool:
        return self.form.lower() == "network"

    def _steps(self):
        """(alpha, beta, gamma) with the form's defaults for None."""
        defaults = (1e-3, 1e-3, 1e-3) if self._network else (0.5, 0.25, 2.0)
        return tuple(float(d if v is None else v)
                     for v, d in zip((self.alpha, self.beta, self.gamma), defaults, strict=True))

    def _optimizer(self) -> str:
        return (self.optimizer or ("adam" if self._network else "langevin")).lower()

    def config(self, m: int, n: int) -> F2Config:
        adam = self._optimizer() == "adam"
        noise = (not adam) if self.noise is None else bool(self.noise)
        bs = self.batch_size
        alpha, beta, gamma = self._steps()
        return F2Config(
            lam=float(self.lam), alpha=alpha, beta=beta,
            gamma=gamma, sigma1=float(self.sigma1), sigma2=float(self.sigma2),
            zeta1=float(self.zeta1), zeta2=float(self.zeta2), inner_steps=int(self.inner_steps),
            outer_steps=int(self.outer_steps), batch1=m if bs is None else min(bs, m),
            batch2=n if bs is None else min(bs, n), adam=adam, noise=noise,
            activation=(self.activation or ("relu" if self._network else "tanh")).lower(),
        )

    def _fit(self, data: FitData) -> None:
        n = len(data.y)
        if self.split is None:
            i1 = i2 = np.arange(n)
        else:
            i1, i2 = split_indices(n, self.split, np.random.default_rng(self.seed))
        self.sx_, self.sz_ = Standardizer(data.xw), Standardizer(data.zw)
        y_mean = float(data.y.mean()) if self.center_outcome else 0.0
        y_scale = float(np.sqrt(np.mean((data.y - y_mean) ** 2))) or 1.0
        self.y_scale_ = (y_mean, y_scale)
        f32 = jnp.float32
        arrays = (jnp.asarray(self.sx_(data.xw[i1]), f32), jnp.asarray(self.sz_(data.zw[i1]), f32),
                  jnp.asarray(self.sz_(data.zw[i2]), f32),
                  jnp.asarray((data.y[i2] - y_mean) / y_scale, f32))
        cfg = self.config(len(i1), len(i2))
        self.config_ = cfg
        kx, kz, kzt, krun = jax.random.split(jax.random.PRNGKey(self.seed), 4)
        if self._network:
            losses = self._fit_network(arrays, (kx, kz, kzt, krun), cfg)
        else:
            particles = (init_particles(kx, self.n_particles_x, data.xw.shape[1]),
                         init_particles(kz, self.n_particles_z, data.zw.shape[1]),
                         init_particles(kzt, self.n_particles_z, data.zw.shape[1]))
            x_p, z_p, zt_p, losses = _run(particles, krun, arrays, cfg)
            self.particles_x_, self.particles_z_, self.particles_z_tilde_ = x_p, z_p, zt_p
        losses = np.asarray(losses)
        alpha, beta, gamma = self._steps()
        steps = (f"alpha={alpha:g}, beta={beta:g}, gamma={gamma:g}")
        if not np.all(np.isfinite(losses)):
            raise FloatingPointError(
                f"F2BMLD diverged (non-finite loss): lower the step sizes ({steps}; beta and "
                "gamma scale with 1 / lam)"
            )
        f2 = losses[:, 1]
        late = float(f2[-max(len(f2) // 10, 1):].mean())
        if late > 3.0 * f2[0]:
            warnings.warn(
                f"F2BMLD training diverged: the stage-2 loss F2 grew from {f2[0]:.4g} (first "
                f"step) to {late:.4g} (last 10% of steps), worse than predicting the mean; the "
                f"fit is unreliable: lower the step sizes ({steps})",
                RuntimeWarning,
                stacklevel=3,
            )
        self.history_ = {"F1": losses[:, 0], "F2": losses[:, 1], "L_lambda": losses[:, 2]}

    def _fit_network(self, arrays, keys, cfg: F2Config):
        """The official network form through the shared core; losses as (F1, F2, L)."""
        x1, z1, z2, y2 = arrays
        kx, kz, kzt, krun = keys
        width = int(self.hidden)
        core = BilevelConfig(
            form="network", lam=cfg.lam, lr_h=cfg.gamma, lr_g=cfg.alpha, lr_gt=cfg.beta,
            reg_h=cfg.zeta2, reg_g=cfg.zeta1, inner_g=cfg.inner_steps,
            inner_gt=cfg.inner_steps, batch1=cfg.batch1, batch2=cfg.batch2,
            optimizer="adam" if cfg.adam else "langevin", noise=cfg.noise,
            sigma1=cfg.sigma1, sigma2=cfg.sigma2, act_h=cfg.activation, act_g="relu")
        params = (init_mlp(kx, (x1.shape[1], width, 1)), init_mlp(kz, (z1.shape[1], width, 1)),
                  init_mlp(kzt, (z1.shape[1], width, 1)))
        state, losses = run_chunk(init_state(core, params), krun, {"x": x1, "z": z1},
                                  {"z": z2, "y": y2}, core, npiv_treat, cfg.outer_steps)
        self.params_ = state[:3]
        self._apply_h = apply_fn(core, "h")
        losses = np.asarray(losses)
        f1, f2 = 0.5 * losses[:, 0], 0.5 * losses[:, 2]
        return np.column_stack([f1, f2, f2 + 0.5 * losses[:, 3]])

    def _predict(self, xw: np.ndarray) -> np.ndarray:
        x = jnp.asarray(self.sx_(xw), jnp.float32)
        if self._network:
            h = self._apply_h(self.params_[0], x)
        else:
            h = mf_forward(self.particles_x_, x, self.config_.activation)
        return np.asarray(h, dtype=np.float64) * self.y_scale_[1] + self.y_scale_[0]
