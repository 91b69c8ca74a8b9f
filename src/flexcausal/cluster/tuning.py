"""Tuning RFP by held-out clusters: score the loss *after adaptation* on new clusters.

RFP's claim is about new clusters: after k inner steps on a few of a new cluster's rows
(eq. 20), predict its other rows well.  So hyperparameters (a, k, inner_lr, ...) are chosen
by cross-validation over whole clusters (``GroupKFold``): fit on the training clusters,
then for each held-out cluster adapt on the first ``adapt_fraction`` of its rows (in the
order given, so a panel sorted by time adapts on its past) and score the rest.

``tune`` does this for a grid and refits the best setting on all clusters.  The same score
is ``ClusterRegressor.score(X, y, groups=g)``, so scikit-learn's ``GridSearchCV`` with
``GroupKFold`` works too once metadata routing passes ``groups`` (see ``tune``'s example).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import GroupKFold, ParameterGrid

from .. import _checks
from ._warn import RFPConvergenceWarning
from .objective import inner_loop

__all__ = ["TuneResult", "adapted_predictions", "tune"]


def _split_rows(groups: np.ndarray, adapt_fraction: float):
    """Per cluster (sorted labels): (adaptation row indices, evaluation row indices)."""
    labels, inverse = np.unique(groups, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.cumsum(np.bincount(inverse, minlength=len(labels)))[:-1]
    out = []
    for rows in np.split(order, bounds):
        n = len(rows)
        n_adapt = 0 if n < 2 else min(max(int(np.floor(adapt_fraction * n)), 1), n - 1)
        out.append((rows[:n_adapt], rows[n_adapt:]))
    return out


def _pad(rows_list, width):
    idx = np.zeros((len(rows_list), width), np.int64)
    mask = np.zeros((len(rows_list), width), np.float32)
    for c, rows in enumerate(rows_list):
        idx[c, : len(rows)] = rows
        mask[c, : len(rows)] = 1.0
    return idx, mask


def _bucket(n: int) -> int:
    return 1 << max(int(n - 1).bit_length(), 0)


@eqx.filter_jit
def _adapt_and_predict(params, static, Xa, ya, ma, Xe, cfg, steps):
    """Adapt on each padded cluster (Xa, ya, ma) and predict its evaluation rows Xe."""

    def one(xa, ya_, ma_, xe):
        adapted, info = inner_loop(params, static, xa, ya_, ma_, cfg, steps)
        return eqx.combine(adapted, static)(xe), info["rejected"]

    return jax.vmap(one)(Xa, ya, ma, Xe)


def adapted_predictions(estimator, X, y, groups, adapt_fraction=0.5, steps=None,
                        sample_weight=None, return_info=False):
    """Predictions after adaptation on new clusters (see the module docstring).

    For a fitted ``ClusterRegressor``/``ClusterClassifier``: each cluster in ``groups``
    takes ``steps`` (default k) inner steps on the first ``adapt_fraction`` of its rows and
    predicts the rest (clusters of one row: pooled).  Returns ``(pred, y_eval, weight)`` on
    the evaluation rows (in cluster order); with ``return_info`` also a dict with
    ``rows`` (their indices), ``pooled`` (the pooled predictions there) and ``rejected``
    (inner tries the safeguard rejected, summed over clusters).  For the regressor ``pred``
    is on the scale of y; for the classifier it is labels and the dict also has
    ``logit``/``pooled_logit``.  Estimators without ``adapt`` predict pooled.
    """
    X = _checks.check_array_2d(X, "X")
    frac = float(_checks.check_unit_interval(adapt_fraction, "adapt_fraction"))
    if not 0.0 < frac < 1.0:
        raise ValueError(f"adapt_fraction must be in (0, 1), got {adapt_fraction}")
    g = _checks.check_groups(groups, X.shape[0], min_groups=1)
    w = None if sample_weight is None else _checks.check_number_vector(
        sample_weight, X.shape[0], "sample_weight")
    splits = _split_rows(g, frac)
    eval_rows = np.concatenate([e for _, e in splits])
    if not hasattr(estimator, "adapt"):  # e.g. LocalLinear: nothing to adapt
        pred = estimator.predict(X[eval_rows])
        y_arr = np.asarray(y)[eval_rows]
        out = (pred, y_arr, None if w is None else w[eval_rows])
        info = {"rows": eval_rows, "pooled": pred, "rejected": 0}
        return (*out, info) if return_info else out
    Xs = np.asarray(estimator._transform(X), np.float32)
    y_loss = estimator._check_y(y, X.shape[0], "y", fitting=False)
    ys = ((y_loss - estimator.y_mean_) / estimator.y_scale_).astype(np.float32)
    steps = estimator.config_.inner_steps if steps is None else _checks.check_int(steps, "steps")
    ia, ma = _pad([a for a, _ in splits], _bucket(max(len(a) for a, _ in splits)))
    ie, _ = _pad([e for _, e in splits], _bucket(max(len(e) for _, e in splits)))
    raw, rejected = _adapt_and_predict(
        estimator.params_, estimator._static, jnp.asarray(Xs[ia]), jnp.asarray(ys[ia] * ma),
        jnp.asarray(ma), jnp.asarray(Xs[ie]), estimator.config_, steps,
    )
    raw = np.asarray(raw, np.float64)
    raw = np.concatenate([raw[c, : len(e)] for c, (_, e) in enumerate(splits)])
    pooled_raw = estimator._raw(X[eval_rows])
    info = {"rows": eval_rows, "rejected": int(np.asarray(rejected).sum())}
    if hasattr(estimator, "classes_"):
        pred = estimator.classes_[(raw > 0).astype(int)]
        info.update(logit=raw, pooled_logit=pooled_raw,
                    pooled=estimator.classes_[(pooled_raw > 0).astype(int)])
    else:
        pred = raw * estimator.y_scale_ + estimator.y_mean_
        info["pooled"] = pooled_raw * estimator.y_scale_ + estimator.y_mean_
    y_eval = np.asarray(y)[eval_rows] if hasattr(estimator, "classes_") else y_loss[eval_rows]
    out = (pred, y_eval, None if w is None else w[eval_rows])
    return (*out, info) if return_info else out


def _losses(estimator, pred, y_eval, info) -> tuple[float, float]:
    """(adapted, pooled) mean loss on the evaluation rows: squared error for regression,
    the logistic loss (as in training) for classification."""
    if hasattr(estimator, "classes_") and "logit" in info:
        y01 = (y_eval == estimator.classes_[1]).astype(float)

        def logloss(f):
            return float(np.mean(np.logaddexp(0.0, f) - y01 * f))

        return logloss(info["logit"]), logloss(info["pooled_logit"])
    return (float(np.mean((pred - y_eval) ** 2)),
            float(np.mean((info["pooled"] - y_eval) ** 2)))


@dataclass
class TuneResult:
    """What ``tune`` found.  ``cv_results_``: one row per setting with the mean and s.e.
    over folds of the adapted and pooled held-out loss, seconds per fit, the share of
    inner steps the safeguard rejected and the number of divergence warnings."""

    best_params_: dict
    best_estimator_: object
    cv_results_: pd.DataFrame
    scoring: str
    fold_scores_: pd.DataFrame = field(repr=False, default=None)

    def table(self) -> pd.DataFrame:
        """``cv_results_`` sorted by the selection score (best first)."""
        return self.cv_results_.sort_values(f"{self.scoring}_mean").reset_index(drop=True)


def tune(estimator, X, y, groups, param_grid, *, cv=5, adapt_fraction=0.5, scoring="adapted",
         refit=True, seed=0, verbose=False) -> TuneResult:
    """Choose hyperparameters by held-out clusters, scoring the loss after adaptation.

    Args:
        estimator: an unfitted ``ClusterRegressor``/``ClusterClassifier`` (or any estimator
            with ``fit(X, y, groups=...)`` and ``predict``; without ``adapt`` it is scored
            pooled).
        X (n, d), y (n,), groups (n,): the data; folds hold out whole clusters.
        param_grid: a dict (or list of dicts) of lists, as ``sklearn.model_selection.
            ParameterGrid``, e.g. ``{"pooled_weight": [0.25, 0.5, 0.75], "inner_steps":
            [1, 5], "inner_lr": [0.01, 0.1]}``.
        cv: number of cluster folds (``GroupKFold``, shuffled by ``seed``) or a splitter
            with ``split(X, y, groups)``.
        adapt_fraction: share of each held-out cluster's rows (the first ones) to adapt on.
        scoring: "adapted" (loss after the inner steps, the default) or "pooled".
        refit: refit the best setting on all clusters (``best_estimator_``).
        seed: the seed of the fold shuffle.

    Returns a ``TuneResult``.  Equivalent with scikit-learn (loss -> R^2 score)::

        import sklearn
        sklearn.set_config(enable_metadata_routing=True)
        est = ClusterRegressor().set_fit_request(groups=True).set_score_request(groups=True)
        GridSearchCV(est, grid, cv=GroupKFold(5)).fit(X, y, groups=g)
    """
    X = _checks.check_array_2d(X, "X")
    g = _checks.check_groups(groups, X.shape[0], min_groups=2)
    scoring = _checks.check_choice(scoring, ["adapted", "pooled"], "scoring")
    _checks.check_bool(refit, "refit")
    if isinstance(param_grid, dict) and not param_grid:
        raise ValueError("param_grid is empty: give at least one parameter with a list of "
                         "values, e.g. {'inner_lr': [0.01, 0.1]}")
    try:
        grid = list(ParameterGrid(param_grid))
    except TypeError as err:
        raise TypeError(f"param_grid must be a dict of lists (or a list of such dicts): "
                        f"{err}") from None
    valid = estimator.get_params()
    for p in grid:
        for name in p:
            if name not in valid:
                raise ValueError(f"param_grid names {name!r}, which is not a parameter of "
                                 f"{type(estimator).__name__}; valid: {sorted(valid)}")
    n_clusters = len(np.unique(g))
    if isinstance(cv, (int, np.integer)) and not isinstance(cv, bool):
        k = _checks.check_int(cv, "cv", minimum=2)
        if k > n_clusters:
            raise ValueError(f"cv={k} folds but only {n_clusters} clusters: a fold holds out "
                             "whole clusters, so use cv <= the number of clusters")
        splitter = GroupKFold(n_splits=k, shuffle=True,
                              random_state=_checks.check_int(seed, "seed"))
    elif hasattr(cv, "split") and not isinstance(cv, str):
        splitter = cv
    else:
        raise TypeError(f"cv must be an integer >= 2 or a splitter with split(X, y, groups), "
                        f"got {cv!r}")
    splits = list(splitter.split(X, y, g))
    y_arr = np.asarray(y)
    rows = []
    for i, p in enumerate(grid):
        for f, (tr, te) in enumerate(splits):
            est = clone(estimator).set_params(**p)
            t0 = time.perf_counter()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", RFPConvergenceWarning)
                est.fit(X[tr], y_arr[tr], groups=g[tr])
                secs = time.perf_counter() - t0
                pred, y_eval, _, info = adapted_predictions(est, X[te], y_arr[te], g[te],
                                                            adapt_fraction, return_info=True)
            adapted, pooled = _losses(est, pred, y_eval, info)
            n_warn = sum(issubclass(w.category, RFPConvergenceWarning) for w in caught)
            for w in caught:
                if not issubclass(w.category, RFPConvergenceWarning):
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            rows.append({"setting": i, "fold": f, "adapted": adapted, "pooled": pooled,
                         "seconds": secs, "warnings": n_warn,
                         "rejected_share": getattr(est, "inner_rejected_share_", 0.0)})
            if verbose:
                print(f"setting {i + 1}/{len(grid)} {p} fold {f + 1}/{len(splits)}: adapted "
                      f"{adapted:.4g} pooled {pooled:.4g} ({secs:.1f} s)", flush=True)
    folds = pd.DataFrame(rows)

    def se(x):
        return float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else np.nan

    agg = folds.groupby("setting").agg(
        adapted_mean=("adapted", "mean"), adapted_se=("adapted", se),
        pooled_mean=("pooled", "mean"), pooled_se=("pooled", se),
        seconds=("seconds", "mean"), rejected_share=("rejected_share", "mean"),
        warnings=("warnings", "sum"))
    params = pd.DataFrame([{k: (str(v) if isinstance(v, (tuple, list)) else v)
                            for k, v in p.items()} for p in grid])
    table = pd.concat([params, agg.reset_index(drop=True)], axis=1)
    score = table[f"{scoring}_mean"].to_numpy()
    if not np.isfinite(score).any():
        raise FloatingPointError("every setting gave a non-finite held-out loss; lower the "
                                 "step sizes in param_grid")
    best = int(np.nanargmin(np.where(np.isfinite(score), score, np.nan)))
    best_params = grid[best]
    best_est = None
    if refit:
        best_est = clone(estimator).set_params(**best_params).fit(X, y_arr, groups=g)
    return TuneResult(best_params, best_est, table, scoring, folds)
