"""scikit-learn style RFP estimators: ``ClusterRegressor`` and ``ClusterClassifier``.

Regularizing the Forward Pass (Power & Ghosh 2025, Sec. 4.3): train f(theta, .) on
clustered data by minimising

    R_k(theta) = (1/N) sum_i [ a L_i(theta) + (1 - a) L_i(theta_c^k(theta)) ]      (eq. 18)

where theta_c^k is k gradient steps of size ``inner_lr`` on the own cluster's mean loss
(eq. 20).  ``pooled_weight`` a = 1 is pooled ERM, a = 0 is MAML.  ``predict`` uses the
pooled theta; ``adapt(X_c, y_c)`` returns a copy whose parameters took the k inner steps
on a new cluster's rows.
"""

from __future__ import annotations

import copy
import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

from .. import _checks
from ._data import pad_clusters
from ._train import (
    DIVERGENCE_FACTOR,
    OPTIMIZERS,
    OVERSHOOT_FACTOR,
    VALIDATION_SCORES,
    divergence_advice,
    train,
)
from ._warn import RFPConvergenceWarning
from .networks import ACTIVATIONS, INITS, MLP, init_mlp, split_model
from .objective import ADAPT_PARAMS, SAFEGUARDS, RFPConfig, inner_loop

__all__ = ["ClusterClassifier", "ClusterRegressor"]

# Above this share of rejected inner tries on the training clusters, ``fit`` warns that
# inner_lr is too large (the safeguard then keeps the model close to pooled ERM).
REJECTED_SHARE_WARN = 0.5


class _ClusterBase(BaseEstimator):
    """Shared fit / adapt machinery.  Arguments (all stored unchanged by ``__init__``):

    hidden: widths of the hidden layers (``()`` = linear model).
    activation: one of ``ACTIVATIONS`` ("relu", "tanh", "gelu", ...).
    pooled_weight: a in [0, 1] of eq. 18 (1 = pooled ERM, 0 = MAML).
    inner_steps: k >= 0 inner gradient steps per cluster (eq. 20).
    inner_lr: eta > 0, the inner step size (eq. 20).
    first_order: if True, drop the second-order term (first-order MAML gradients).
    adapt_params: "all" (eq. 20: every parameter adapts) or "head" (only the output layer
        adapts on each cluster, the hidden layers are shared; the authors' single_dim.py).
    inner_momentum: beta in [0, 1), heavy-ball momentum of the inner steps (the authors'
        inner ``optax.sgd(inner_lr, momentum=0.9)`` in inner_map.ipynb); 0 = eq. 20.
    inner_safeguard: "backtrack" (default): an inner step that raises the cluster's own
        loss is rejected and the step halved (and no step is longer than 10 (1 + |theta|)),
        in training and in ``adapt``, so adaptation can never blow up; "none": eq. 20 as
        written (then ``fit``/``adapt`` only detect divergence).
    optimizer: "adam", "adamw", "sgd", "sgd_momentum" (SGD with momentum 0.9, the authors'
        outer optimizer), "rmsprop", or an ``optax.GradientTransformation``.
    learning_rate: outer step size (ignored when ``optimizer`` is an optax object).
    epochs: maximum passes over the training clusters.
    batch_clusters: clusters per outer step (minibatch of clusters).
    early_stopping: hold out ``validation_fraction`` of the *clusters* (never rows) and keep
        the epoch with the least held-out ``validation_score``; stop after ``patience``
        epochs without an improvement larger than ``tol``.
    validation_score: the early-stopping criterion on the held-out clusters: "rfp" (R_k of
        eq. 18 with the training a), "pooled" (the pooled loss eq. 19, as the authors' exp1:
        ``Cluster_Loss(inner, reg_value=0)``), or "adapted" (R_k with a = 0: the loss after
        the k inner steps).
    init: "uniform" (torch/equinox default) or "rfp" (the authors' ``ModelParams.init_fn``:
        LeCun-normal hidden layers, He-normal output layer, N(0, 2) output bias).
    standardize: True: centre/scale the columns of X (and y for the regressor) before
        training; "X": the columns of X only (the authors' practice); False: neither.
        ``predict`` undoes it.  The inner steps act on the standardized scale.
    seed: integer seed; the same seed gives the same numbers.

    Defaults, by the evidence of ``benchmarks/rfp_options.py`` (results/rfp_options.txt:
    little-overlap design, a = 0.5, k = 5, inner_lr = 0.1, 20 seeds, one option changed at a
    time): the safeguard cut the new-cluster error of the pooled fit from 0.27 to 0.11 and
    the adapted error from 1e6 (blow-ups) to 0.025; the pooled validation criterion gave
    the same fits as R_k (paired +0.002 +- 0.002); head-only adaptation was as good (pooled
    -0.03 +- 0.03, adapted 0.022 vs 0.025) and 20 times faster per epoch; inner momentum
    0.9, the authors' initialisation and X-only standardization were worse after
    adaptation, so the defaults stay eq. 20's plain steps on all parameters.

    Divergence: ``fit`` raises FloatingPointError on a non-finite loss and warns
    (``RFPConvergenceWarning``, a ConvergenceWarning and RuntimeWarning) when the last
    epoch's loss is over 100 times the initial pooled loss, naming ``inner_lr`` when the
    inner steps overshoot and ``learning_rate`` otherwise, or when the safeguard rejected
    over half of the inner steps on the training clusters (``inner_rejected_share_``).
    ``adapt`` warns when the safeguard rejected a step on the new cluster (its
    ``adapt_info_`` says how many); without the safeguard it raises / warns when the steps
    blow up the cluster's loss.
    """

    _loss = "squared"

    def __init__(
        self,
        hidden=(64, 64),
        activation="relu",
        pooled_weight=0.5,
        inner_steps=1,
        inner_lr=0.1,
        first_order=False,
        adapt_params="all",
        inner_momentum=0.0,
        inner_safeguard="backtrack",
        optimizer="adam",
        learning_rate=1e-3,
        epochs=200,
        batch_clusters=32,
        early_stopping=False,
        validation_fraction=0.2,
        patience=20,
        tol=1e-5,
        validation_score="rfp",
        init="uniform",
        standardize=True,
        seed=0,
        verbose=False,
    ):
        self.hidden = hidden
        self.activation = activation
        self.pooled_weight = pooled_weight
        self.inner_steps = inner_steps
        self.inner_lr = inner_lr
        self.first_order = first_order
        self.adapt_params = adapt_params
        self.inner_momentum = inner_momentum
        self.inner_safeguard = inner_safeguard
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_clusters = batch_clusters
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.tol = tol
        self.validation_score = validation_score
        self.init = init
        self.standardize = standardize
        self.seed = seed
        self.verbose = verbose

    # ------------------------------------------------------------------ validation
    def _config(self) -> RFPConfig:
        a = _checks.check_unit_interval(self.pooled_weight, "pooled_weight")
        k = _checks.check_int(self.inner_steps, "inner_steps", minimum=0)
        lr = _checks.check_positive(self.inner_lr, "inner_lr")
        beta = _checks.check_unit_interval(self.inner_momentum, "inner_momentum")
        if beta >= 1.0:
            raise ValueError(f"inner_momentum must be in [0, 1), got {self.inner_momentum}")
        adapt = _checks.check_choice(self.adapt_params, ADAPT_PARAMS, "adapt_params")
        guard = _checks.check_choice(self.inner_safeguard, SAFEGUARDS, "inner_safeguard")
        _checks.check_bool(self.first_order, "first_order")
        return RFPConfig(a, k, lr, self._loss, bool(self.first_order), beta, adapt, guard)

    def _check_params(self) -> None:
        self._hidden = _checks.check_int_sequence(self.hidden, "hidden (layer widths)")
        _checks.check_choice(self.activation, list(ACTIVATIONS), "activation")
        if not isinstance(self.optimizer, optax.GradientTransformation):
            _checks.check_choice(self.optimizer, list(OPTIMIZERS), "optimizer")
        _checks.check_positive(self.learning_rate, "learning_rate")
        _checks.check_int(self.epochs, "epochs", minimum=1)
        _checks.check_int(self.batch_clusters, "batch_clusters", minimum=1)
        _checks.check_int(self.patience, "patience", minimum=1)
        _checks.check_nonnegative(self.tol, "tol")
        for name in ("first_order", "early_stopping"):
            _checks.check_bool(getattr(self, name), name)
        self._standardize_mode()
        _checks.check_choice(self.validation_score, VALIDATION_SCORES, "validation_score")
        _checks.check_choice(self.init, INITS, "init")
        if not isinstance(self.verbose, (bool, np.bool_)):
            _checks.check_int(self.verbose, "verbose (True/False or an integer >= 0)")
        if self.early_stopping:
            f = self.validation_fraction
            if isinstance(f, (bool, np.bool_)) or not isinstance(
                f, (int, float, np.integer, np.floating)
            ):
                raise TypeError(f"validation_fraction must be a number in (0, 1), got {f!r}")
            if not (0.0 < f < 1.0):
                raise ValueError(f"validation_fraction must be in (0, 1), got {f!r}")
        if not isinstance(self.seed, (int, np.integer)) or isinstance(self.seed, bool):
            raise TypeError(f"seed must be an integer, got {self.seed!r}")
        _checks.check_int(self.seed, "seed", minimum=0)

    def _standardize_mode(self) -> str:
        """"both", "x" or "none" from ``standardize`` (True, "X", False)."""
        v = self.standardize
        if isinstance(v, str) and v.lower() == "x":
            return "x"
        if isinstance(v, (bool, np.bool_)):
            return "both" if v else "none"
        raise TypeError(f"standardize must be True, False or 'X' (X only), got {v!r}")

    def _check_y(self, y, n_rows: int, argname: str, fitting: bool) -> np.ndarray:
        """The outcome as float64 on the scale the loss sees (0/1 for the classifier)."""
        return _checks.check_target_1d(y, n_rows, argname)

    # ------------------------------------------------------------------ fit
    def fit(self, X, y, groups=None):
        """Fit on rows ``X`` (n, d), outcomes ``y`` (n,), cluster labels ``groups`` (n,)."""
        cfg = self._config()
        self._check_params()
        X = _checks.check_array_2d(X, "X")
        y = self._check_y(y, X.shape[0], "y", fitting=True)
        groups = _checks.check_groups(groups, X.shape[0], min_groups=2)
        _checks.check_sortable_labels(groups, "groups")

        self.n_features_in_ = X.shape[1]
        if self._standardize_mode() != "none":
            self.x_mean_ = X.mean(axis=0)
            sd = X.std(axis=0)
            self.x_scale_ = np.where(sd > 0, sd, 1.0)
        else:
            self.x_mean_, self.x_scale_ = np.zeros(X.shape[1]), np.ones(X.shape[1])
        self._set_y_scale(y)
        Xs = (X - self.x_mean_) / self.x_scale_
        ys = (y - self.y_mean_) / self.y_scale_

        data = pad_clusters(Xs, ys, groups)
        C = data.n_clusters
        self.n_clusters_ = C
        rng = np.random.default_rng(self.seed)
        val = None
        if self.early_stopping:
            n_val = int(round(self.validation_fraction * C))
            if n_val < 1 or C - n_val < 2:
                raise ValueError(
                    f"early_stopping holds out validation_fraction={self.validation_fraction}"
                    f" of the {C} clusters ({n_val}); need >= 1 held-out and >= 2 training"
                    " clusters: pass more clusters or set early_stopping=False"
                )
            perm = rng.permutation(C)
            val, data = data.take(np.sort(perm[:n_val])), data.take(np.sort(perm[n_val:]))
        self.train_groups_ = data.labels
        self.validation_groups_ = None if val is None else val.labels

        key_init, key_train = jax.random.split(jax.random.PRNGKey(int(self.seed)))
        model = init_mlp(key_init, X.shape[1], self._hidden, self.activation.lower(),
                         self.init.lower())
        params, static = split_model(model)
        opt = self.optimizer if not isinstance(self.optimizer, str) else self.optimizer.lower()
        res = train(
            params,
            static,
            cfg,
            data,
            val,
            optimizer=opt,
            learning_rate=float(self.learning_rate),
            epochs=int(self.epochs),
            batch_clusters=int(self.batch_clusters),
            patience=int(self.patience),
            tol=float(self.tol),
            key=key_train,
            verbose=bool(self.verbose),
            validation_score=self.validation_score.lower(),
        )
        self.params_, self._static = res.params, static
        self.config_ = cfg
        self.loss_curve_ = np.asarray(res.loss_curve)
        self.validation_loss_curve_ = np.asarray(res.validation_curve)
        self.best_epoch_ = res.best_epoch
        self.n_epochs_ = res.n_epochs
        self.inner_rejected_share_ = res.inner_rejected_share
        self._warn_if_diverged(res, cfg, opt)
        return self

    def _warn_if_diverged(self, res, cfg: RFPConfig, opt) -> None:
        """RuntimeWarning when the last epoch's loss is orders of magnitude above the initial
        pooled loss (e.g. ``inner_lr=1e6``: R_k of 1e24 from the first step on)."""
        start, last = res.initial_pooled_loss, res.loss_curve[-1]
        limit = DIVERGENCE_FACTOR * max(start, 1e-12)
        if last > limit:
            lr = None if isinstance(opt, optax.GradientTransformation) else self.learning_rate
            warnings.warn(
                f"RFP training diverged: the training loss R_k is {last:.3g} after "
                f"{res.n_epochs} epoch(s), over {DIVERGENCE_FACTOR:g} times the initial "
                f"pooled loss {start:.3g}; the fit is unreliable: "
                f"{divergence_advice(cfg, lr, res.inner_overshoots)}",
                RFPConvergenceWarning,
                stacklevel=3,
            )
        elif res.inner_rejected_share > REJECTED_SHARE_WARN:
            warnings.warn(
                f"RFP inner steps diverge: the safeguard rejected "
                f"{100 * res.inner_rejected_share:.0f}% of the inner steps on the training "
                f"clusters because they raised the cluster's loss, so the model is close to "
                f"pooled ERM; lower inner_lr (now {cfg.inner_lr:g})",
                RFPConvergenceWarning,
                stacklevel=3,
            )

    def _set_y_scale(self, y: np.ndarray) -> None:
        self.y_mean_, self.y_scale_ = 0.0, 1.0

    # ------------------------------------------------------------------ predict / adapt
    @property
    def model_(self) -> MLP:
        """The fitted network f(theta, .) (an equinox module, on the standardized scale)."""
        self._check_fitted()
        return eqx.combine(self.params_, self._static)

    def _check_fitted(self) -> None:
        if not hasattr(self, "params_"):
            raise RuntimeError(f"this {type(self).__name__} is not fitted yet; call fit first")

    def _transform(self, X, argname: str = "X") -> jnp.ndarray:
        self._check_fitted()
        X = _checks.check_array_2d(X, argname)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"{argname} has {X.shape[1]} columns but the model was fitted on "
                f"{self.n_features_in_}"
            )
        return jnp.asarray((X - self.x_mean_) / self.x_scale_, dtype=jnp.float32)

    def _raw(self, X) -> np.ndarray:
        """f(theta, x) on the standardized scale (the network output)."""
        Xs = self._transform(X)
        return np.asarray(_forward(self.params_, self._static, Xs), np.float64)

    def _check_adaptation(self, info: dict, steps: int) -> None:
        """With the safeguard: warn when it rejected a step on this cluster.  Without: raise
        if the inner steps made the cluster's loss non-finite, warn if they multiplied it
        by more than OVERSHOOT_FACTOR (gradient steps of a sensible size lower it)."""
        cfg = self.config_
        before, after = info["loss_before"], info["loss_after"]
        advice = (f"refit with a lower inner_lr (now {cfg.inner_lr:g}) or pass fewer "
                  f"steps (now {steps})")
        if cfg.inner_safeguard == "backtrack":
            if info["rejected"] > 0:
                warnings.warn(
                    f"adapt: the safeguard rejected {info['rejected']} of {steps} inner "
                    f"step(s) on this cluster because they raised its loss (step size "
                    f"halved to {info['step']:.3g}); its loss went from {before:.3g} to "
                    f"{after:.3g}; {advice} to adapt fully",
                    RFPConvergenceWarning,
                    stacklevel=3,
                )
            return
        if not np.isfinite(after):
            raise FloatingPointError(
                f"adapt diverged: the loss on the cluster's rows became {after} after {steps} "
                f"inner step(s); {advice}"
            )
        if after > OVERSHOOT_FACTOR * before + 1e-6:
            warnings.warn(
                f"adapt diverged: {steps} inner step(s) raised the loss on the cluster's rows "
                f"from {before:.3g} to {after:.3g} (the adapted predictions are unreliable); "
                f"{advice}",
                RFPConvergenceWarning,
                stacklevel=3,
            )

    def _adapted(self, Xc: jnp.ndarray, yc_scaled: np.ndarray, steps: int):
        """(adapted params, info) for one cluster's standardized rows, padded to a power of
        two (so clusters of similar size share one compiled program)."""
        n = Xc.shape[0]
        size = 1 << max(int(n - 1).bit_length(), 0)
        Xp = jnp.zeros((size, Xc.shape[1]), jnp.float32).at[:n].set(Xc)
        yp = jnp.zeros(size, jnp.float32).at[:n].set(jnp.asarray(yc_scaled, jnp.float32))
        mask = jnp.zeros(size, jnp.float32).at[:n].set(1.0)
        params, info = _adapt(self.params_, self._static, Xp, yp, mask, self.config_, steps)
        info = {"loss_before": float(info["loss0"]), "loss_after": float(info["lossk"]),
                "rejected": int(info["rejected"]), "step": float(info["step"])}
        return params, info

    def adapt(self, X_c, y_c, steps=None):
        """A copy adapted to one new cluster: ``steps`` (default k) inner steps (eq. 20).

        ``X_c`` (n_c, d) and ``y_c`` (n_c,) are that cluster's rows; the returned estimator's
        ``predict`` uses theta_c^k, and its ``adapt_info_`` holds the cluster's mean loss
        before and after (on the loss's scale), the safeguard's rejected steps and the final
        step size.  With k = 0 the copy predicts like the pooled model.
        """
        Xc = self._transform(X_c, "X_c")
        yc = self._check_y(y_c, Xc.shape[0], "y_c", fitting=False)
        yc = (yc - self.y_mean_) / self.y_scale_
        steps = self.config_.inner_steps if steps is None else _checks.check_int(steps, "steps")
        params, info = self._adapted(Xc, yc, steps)
        if steps > 0:
            self._check_adaptation(info, steps)
        out = copy.copy(self)
        out.params_ = params
        out.adapted_steps_ = steps
        out.adapt_info_ = info
        return out

    def score(self, X, y, groups=None, sample_weight=None):
        """Without ``groups``: the usual score (R^2 / accuracy) of the pooled predictions.

        With ``groups``: the score *after adaptation* on new clusters, the quantity RFP is
        tuned for: each cluster adapts (k inner steps) on the first half of its rows, in the
        order given, and is scored on the rest (clusters of one row: pooled).  With
        scikit-learn's metadata routing, ``set_score_request(groups=True)`` and
        ``set_fit_request(groups=True)`` make ``GridSearchCV(..., cv=GroupKFold())`` tune
        on held-out clusters; ``flexcausal.cluster.tune`` does this without routing.
        """
        if groups is None:
            return self._score_rows(y, self.predict(X), sample_weight)
        from .tuning import adapted_predictions

        pred, y_eval, w = adapted_predictions(self, X, y, groups, sample_weight=sample_weight)
        return self._score_rows(y_eval, pred, w)


@eqx.filter_jit
def _forward(params, static, X):
    """f(theta, X) for a fitted (params, static) split."""
    return eqx.combine(params, static)(X)


@eqx.filter_jit
def _adapt(params, static, X, y, mask, cfg, steps):
    """(theta_c^steps, info) on one padded cluster (eq. 20)."""
    return inner_loop(params, static, X, y, mask, cfg, steps)


class ClusterRegressor(RegressorMixin, _ClusterBase):
    """RFP regression with the squared loss (eq. 19).  See ``_ClusterBase`` for arguments.

    >>> m = ClusterRegressor(hidden=(64, 64), pooled_weight=0.5, inner_steps=1).fit(X, y,
    ...     groups=g)                                                  # doctest: +SKIP
    >>> m.predict(X_new); m.adapt(X_c, y_c).predict(X_c_new)           # doctest: +SKIP
    """

    _loss = "squared"
    score = _ClusterBase.score

    def _set_y_scale(self, y: np.ndarray) -> None:
        if self._standardize_mode() == "both":
            sd = float(y.std())
            self.y_mean_, self.y_scale_ = float(y.mean()), (sd if sd > 0 else 1.0)
        else:
            self.y_mean_, self.y_scale_ = 0.0, 1.0

    def predict(self, X) -> np.ndarray:
        """Pooled forward pass f(theta, x), on the scale of y."""
        return self._raw(X) * self.y_scale_ + self.y_mean_

    @staticmethod
    def _score_rows(y, pred, w) -> float:
        from sklearn.metrics import r2_score

        return float(r2_score(y, pred, sample_weight=w))


class ClusterClassifier(ClassifierMixin, _ClusterBase):
    """RFP binary classification with the logistic loss.  See ``_ClusterBase`` for arguments.

    ``classes_`` holds the two labels; the network output is the logit of P(y = classes_[1]).
    """

    _loss = "logistic"
    score = _ClusterBase.score

    def _check_y(self, y, n_rows: int, argname: str, fitting: bool) -> np.ndarray:
        arr = _checks.check_labels(y, n_rows, argname)
        _checks.check_sortable_labels(arr, argname)
        if fitting:
            classes = np.unique(arr)
            if len(classes) != 2:
                raise ValueError(
                    f"ClusterClassifier needs binary labels (exactly 2 classes); {argname} has "
                    f"{len(classes)}: {classes[:10].tolist()}"
                )
            self.classes_ = classes
        elif not np.all(np.isin(arr, self.classes_)):
            raise ValueError(
                f"{argname} has labels outside the fitted classes {self.classes_.tolist()}"
            )
        return (arr == self.classes_[1]).astype(np.float64)

    def decision_function(self, X) -> np.ndarray:
        """The logit f(theta, x) of P(y = classes_[1] | x)."""
        return self._raw(X)

    def predict_proba(self, X) -> np.ndarray:
        """(n, 2) probabilities of ``classes_[0]`` and ``classes_[1]``."""
        p1 = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1.0 - p1, p1])

    def predict(self, X) -> np.ndarray:
        return self.classes_[(self.decision_function(X) > 0).astype(int)]

    @staticmethod
    def _score_rows(y, pred, w) -> float:
        from sklearn.metrics import accuracy_score

        return float(accuracy_score(y, pred, sample_weight=w))
