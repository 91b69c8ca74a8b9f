"""F^2BMLD for offline policy evaluation: the Bellman equation as NPIV.

Y = r, Z = [s, onehot(a)], and the "treatment" is the Bellman difference
T_Q = Q(s, a) - gamma (1 - d) Q(s', a'), a' ~ pi(. | s'), so the outer gradient flows
through both Q(s, a) and Q(s', a') (official ``F2BMLDLearner.update_treatment``). The
algorithm is the shared core ``flexcausal.iv._bilevel`` (see its docstring for the steps).

``form="network"`` is the official practical form (github hudsonchen/F2BMLD at f4564b7,
``main/run_f2bmld.py`` defaults): Q, g and g~ are Linear(6, 50)-ReLU-Linear(50, 1)-ReLU,
10 + 10 inner Adam steps, 1 outer step, Adam lr 1e-3 with betas (0.5, 0.9), lambda 0.3,
l2 1e-5 on every network, batch 32 (50,000 steps; 1024 and 20,000 at noise 0), raw rewards.
``form="mean_field"`` is the slides' algorithm: mean-field networks of ``n_particles``
neurons, noisy (Langevin) gradient steps with temperatures sigma1, sigma2; rewards are
shifted and scaled so that the learned function is O(1) and starts near the value of never
terminating (``reward_scale="auto"``, ``value_offset="auto"``; the Bellman equation is
linear, so Q is mapped back exactly: ``OPEEstimator._value_transform``).

``next_action="expected"`` uses sum_a' pi(a'|s') Q(s', a') (exact for the greedy target
policy); ``"sample"`` draws a' ~ pi at each use, as the official code does.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_choice, check_int, check_nonnegative, check_positive
from ..iv._bilevel import BilevelConfig, apply_fn, init_state, run_chunk
from ..iv._nets import init_mlp, init_particles
from ._base import OPEEstimator, check_finite, jax_all_actions

__all__ = ["F2BMLD", "bellman_treat"]


def bellman_treat(f_h, params, batch, key, cfg: BilevelConfig):
    """T_Q = Q(z) - gamma (1 - d) E_{a'~pi} Q(s', a') on a batch (z, s2, p2, d)."""
    q = f_h(params, batch["z"])
    s2, p2 = batch["s2"], batch["p2"]
    n_actions = p2.shape[1]
    if cfg.next_action == "sample":
        a2 = jax.random.categorical(key, jnp.log(jnp.clip(p2, 1e-30, None)), axis=1)
        v2 = f_h(params, jnp.concatenate([s2, jax.nn.one_hot(a2, n_actions, dtype=s2.dtype)],
                                         axis=1))
    else:
        q2 = f_h(params, jax_all_actions(s2, n_actions)).reshape(-1, n_actions)
        v2 = jnp.sum(p2 * q2, axis=1)
    return q - cfg.discount * (1.0 - batch["d"]) * v2


class F2BMLD(OPEEstimator):
    """Offline policy evaluation by F^2BMLD (Chen, Nitanda, Gretton & Suzuki 2025).

    Parameters
    ----------
    form : "network" (official practical form) or "mean_field" (the slides' Langevin form).
    gamma : discount factor in (0, 1).
    lam : Lagrange multiplier lambda (official 0.3; sweeps {0.1, 0.3}).
    n_steps : outer steps (official 50,000 at batch 32; 20,000 at batch 1024 for noise 0).
    batch_size : rows per batch (indices drawn with replacement).
    inner_steps, inner_steps_tilde : steps on g and g~ per outer step (10, 10).
    hidden : hidden width of the three networks (network form; 50).
    n_particles : neurons of each mean-field network (mean_field form; 256).
    lr, lr_inner : step sizes of Q and of g, g~ (None: 1e-3 / 1e-3 for the network form
        with Adam; 2.0 / 0.5 for mean-field Langevin, as ``fc.iv.F2BMLD``'s gamma / alpha).
    reg, reg_inner : l2 penalty of Q and of g, g~ (network: 1e-5 |theta|^2; mean-field:
        zeta, default 1e-4, on (1/2) mean_j |theta_j|^2).
    optimizer : "adam" or "langevin" (None: adam for network, langevin for mean_field).
    sigma1, sigma2 : Langevin temperatures of (g, g~) and Q (mean_field; default 1e-6).
    activation : hidden activation ("relu"; the mean-field default is "tanh").
    final_relu : ReLU on the networks' outputs (official; None: for the network form when
        all rewards are >= 0 and value_offset is 0, so that Q >= 0 holds). A known failure
        of this official choice: if the output unit of g or g~ dies (e.g. after a spike),
        g = 0 for good, the outer gradient vanishes and Q only decays under its l2 penalty
        (CartPole noise 0.2, seed 0: Q0 97 -> 230 -> 36 after step 36,000); pass False to
        avoid it.
    reward_scale, value_offset : Q = value_offset + reward_scale Q~, where Q~ is learned
        from the exactly transformed reward (``OPEEstimator._value_transform``); "auto" or
        numbers (None: 1 and 0 for network, the official raw rewards; "auto" and "auto" for
        mean_field: Q~ = (Q - mean(r) / (1 - gamma)) (1 - gamma) / mean|r| is O(1)).
    next_action : "expected" or "sample" (module docstring).
    eval_every : steps per jitted chunk = readout interval of ``history_["q0"]`` (100).
    seed : int; initialisation, batches and noise from ``jax.random.PRNGKey(seed)``.

    Fitted: ``history_`` (``step``, ``q0``, ``stage1_loss``, ``stage1_tilde_loss``,
    ``stage2_loss``, ``outer_loss``), ``params_`` (Q, g, g~), ``reward_scale_``,
    ``config_``, ``fit_time_``.
    """

    _params = ("form", "gamma", "lam", "n_steps", "batch_size", "inner_steps",
               "inner_steps_tilde", "hidden", "n_particles", "lr", "lr_inner", "reg",
               "reg_inner", "optimizer", "sigma1", "sigma2", "activation", "final_relu",
               "reward_scale", "value_offset", "next_action", "eval_every", "seed")

    def __init__(self, form="network", gamma=0.99, lam=0.3, n_steps=50_000, batch_size=32,
                 inner_steps=10, inner_steps_tilde=10, hidden=50, n_particles=256, lr=None,
                 lr_inner=None, reg=None, reg_inner=None, optimizer=None, sigma1=1e-6,
                 sigma2=1e-6, activation=None, final_relu=None, reward_scale=None,
                 value_offset=None, next_action="expected", eval_every=100, seed=0):
        self.form = form
        self.gamma = gamma
        self.lam = lam
        self.n_steps = n_steps
        self.batch_size = batch_size
        self.inner_steps = inner_steps
        self.inner_steps_tilde = inner_steps_tilde
        self.hidden = hidden
        self.n_particles = n_particles
        self.lr = lr
        self.lr_inner = lr_inner
        self.reg = reg
        self.reg_inner = reg_inner
        self.optimizer = optimizer
        self.sigma1 = sigma1
        self.sigma2 = sigma2
        self.activation = activation
        self.final_relu = final_relu
        self.reward_scale = reward_scale
        self.value_offset = value_offset
        self.next_action = next_action
        self.eval_every = eval_every
        self.seed = seed

    def _validate(self) -> None:
        check_choice(self.form, ["network", "mean_field"], "form")
        check_positive(self.lam, "lam (the Lagrange multiplier lambda)")
        for name in ("n_steps", "eval_every", "hidden", "n_particles"):
            check_int(getattr(self, name), name, minimum=1)
        check_int(self.batch_size, "batch_size", minimum=2)
        check_int(self.inner_steps, "inner_steps", minimum=1)
        check_int(self.inner_steps_tilde, "inner_steps_tilde", minimum=1)
        for name in ("lr", "lr_inner"):
            if getattr(self, name) is not None:
                check_positive(getattr(self, name), f"{name} (a step size)")
        for name in ("reg", "reg_inner"):
            if getattr(self, name) is not None:
                check_nonnegative(getattr(self, name), name)
        check_nonnegative(self.sigma1, "sigma1")
        check_nonnegative(self.sigma2, "sigma2")
        if self.optimizer is not None:
            check_choice(self.optimizer, ["adam", "langevin"], "optimizer")
        if self.activation is not None:
            check_choice(self.activation, ["relu", "tanh"], "activation")
        if self.final_relu is not None and not isinstance(self.final_relu, bool):
            raise TypeError(f"final_relu must be True, False or None, got {self.final_relu!r}")
        if self.reward_scale is not None and self.reward_scale != "auto":
            check_positive(self.reward_scale, "reward_scale")
        if self.value_offset is not None and self.value_offset != "auto":
            check_finite(self.value_offset, "value_offset")
        check_choice(self.next_action, ["expected", "sample"], "next_action")
        check_int(self.seed, "seed")

    def _resolved(self, rewards: np.ndarray):
        mf = self.form.lower() == "mean_field"
        scale, offset = self._value_transform(
            rewards, self.reward_scale if self.reward_scale is not None else
            ("auto" if mf else 1.0),
            self.value_offset if self.value_offset is not None else ("auto" if mf else 0.0))
        optimizer = (self.optimizer or ("langevin" if mf else "adam")).lower()
        langevin = optimizer == "langevin"
        lr = self.lr if self.lr is not None else (2.0 if langevin else 1e-3)
        lr_inner = self.lr_inner if self.lr_inner is not None else (0.5 if langevin else 1e-3)
        reg = self.reg if self.reg is not None else (1e-4 if mf else 1e-5)
        reg_inner = self.reg_inner if self.reg_inner is not None else (1e-4 if mf else 1e-5)
        final_relu = bool(np.all(rewards >= 0) and offset == 0) if self.final_relu is None \
            else self.final_relu
        activation = (self.activation or ("tanh" if mf else "relu")).lower()
        cfg = BilevelConfig(
            form=self.form.lower(), lam=float(self.lam), lr_h=float(lr),
            lr_g=float(lr_inner), lr_gt=float(lr_inner), reg_h=float(reg),
            reg_g=float(reg_inner), inner_g=int(self.inner_steps),
            inner_gt=int(self.inner_steps_tilde), batch1=int(self.batch_size),
            batch2=int(self.batch_size), optimizer=optimizer, noise=langevin,
            sigma1=float(self.sigma1), sigma2=float(self.sigma2), act_h=activation,
            act_g=activation, final_relu=final_relu and not mf, discount=self.gamma_,
            next_action=self.next_action.lower())
        return cfg, scale, offset

    def _fit(self, prep) -> None:
        data = prep["data"]
        cfg, scale, offset = self._resolved(data.rewards)
        self.config_, self.reward_scale_, self.value_offset_ = cfg, scale, offset
        arrays = self._jax_data(prep, scale, offset)
        dim = arrays["z"].shape[1]
        kq, kg, kgt, krun = jax.random.split(jax.random.PRNGKey(self.seed), 4)
        if cfg.form == "mean_field":
            params = tuple(init_particles(k, int(self.n_particles), dim) for k in (kq, kg, kgt))
        else:
            sizes = (dim, int(self.hidden), 1)
            params = tuple(init_mlp(k, sizes) for k in (kq, kg, kgt))
        state = init_state(cfg, params)
        inputs0, probs0 = self._init_readout(prep)
        f_h = apply_fn(cfg, "h")
        n_actions = data.n_actions

        def q0_fn(st):  # eager: a few small ops, no compilation per fit
            q = f_h(st[0], inputs0).reshape(-1, n_actions)
            return offset + scale * jnp.mean(jnp.sum(probs0 * q, axis=1))

        def chunk_fn(st, key, size):
            return run_chunk(st, key, arrays, arrays, cfg, bellman_treat, size)

        state = self._train_loop(state, krun, self.n_steps, self.eval_every, chunk_fn, q0_fn,
                                 ("stage1_loss", "stage1_tilde_loss", "stage2_loss",
                                  "outer_loss"))
        self.params_ = state[:3]
        self._f_h = f_h

    def _q(self, inputs):
        return self.value_offset_ + self.reward_scale_ * np.asarray(
            self._f_h(self.params_[0], jnp.asarray(inputs, jnp.float32)), np.float64)
