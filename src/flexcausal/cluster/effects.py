"""The effect of a cluster-level treatment, with RFP (or any learner) as outcome model.

Power & Ghosh (2025), Sec. 3: with treatment assigned to whole clusters, estimating an
effect means predicting each cluster's counterfactual outcomes from the *other* arm's
clusters, i.e. predicting new clusters, which is what RFP is trained for.  Two estimators
of the average treatment effect over individuals, theta = E[Y(1) - Y(0)]:

* ``method="regression"`` (outcome regression / imputation): mu_1 is fitted on the treated
  clusters, mu_0 on the controls, and
      theta = (1/N) sum_i [ d_i (y_i - mu_0(x_i)) + (1 - d_i) (mu_1(x_i) - y_i) ],
  every prediction being for clusters the model never saw.  Standard errors by the cluster
  bootstrap with refits (``n_boot``; clusters resampled within arm x stratum).
* ``method="aipw"`` (doubly robust, cross-fitted): folds of whole clusters (stratified by
  arm); mu_0, mu_1 fitted without the fold predict its rows, e = P(d = 1 | stratum) is the
  design's assignment share in the cluster's stratum (or given), and
      psi_i = mu_1 - mu_0 + d (y - mu_1) / e - (1 - d)(y - mu_0) / (1 - e),  theta = mean psi,
  with the cluster-robust variance sum_c (sum_{i in c} (psi_i - theta))^2 C / ((C - 1) N^2)
  (Chernozhukov et al. 2018, cluster-robust DML score); ``n_boot`` adds a cluster
  bootstrap of the scores (percentile interval).

Outcome models: an estimator with ``fit(X, y[, groups])`` and ``predict`` (cloned for each
fit; ``ClusterRegressor``, ``LocalLinear``, scikit-learn regressors) fed the ``controls``
columns, or a ``fc.gam`` formula string such as ``"y ~ w + x1 + krls(w, x1) + re(g)"``
(random effects of unseen clusters predict at 0).
"""

from __future__ import annotations

import inspect
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold

from .. import _checks

__all__ = ["ClusterEffect", "cluster_ate"]


@dataclass
class ClusterEffect:
    """Result of ``cluster_ate``: the estimate, its standard error and interval."""

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    method: str
    n_clusters: int
    n_obs: int
    level: float
    n_boot: int
    mu0: np.ndarray = field(repr=False)
    mu1: np.ndarray = field(repr=False)
    scores: np.ndarray | None = field(repr=False, default=None)
    boot: np.ndarray | None = field(repr=False, default=None)

    def tidy(self) -> pd.DataFrame:
        """One-row table: estimate, std.error, conf.low, conf.high, method, clusters, n."""
        return pd.DataFrame([{"term": "ATE", "estimate": self.estimate, "std.error": self.se,
                              "conf.low": self.ci_low, "conf.high": self.ci_high,
                              "method": self.method, "clusters": self.n_clusters,
                              "n": self.n_obs}])


def _fit_predict(model, train: pd.DataFrame, new: pd.DataFrame, outcome, controls, cluster):
    """Fit ``model`` on ``train`` and predict ``new`` (rows of other clusters)."""
    if isinstance(model, str):
        from ..gkrls.model import gam

        fit = gam(model, data=train)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*unseen levels")
            return np.asarray(fit.predict(new), dtype=np.float64)
    est = clone(model)
    X, y = train[controls].to_numpy(np.float64), train[outcome].to_numpy(np.float64)
    if "groups" in inspect.signature(est.fit).parameters:
        est.fit(X, y, groups=train[cluster].to_numpy())
    else:
        est.fit(X, y)
    return np.asarray(est.predict(new[controls].to_numpy(np.float64)), dtype=np.float64)


def _arm_prediction(model, df, train_rows, new_rows, arm, outcome, treatment, controls,
                    cluster):
    """mu_arm at ``new_rows`` from the model fitted on the clusters of ``arm`` among
    ``train_rows``."""
    d = df[treatment].to_numpy()
    rows = train_rows[d[train_rows] == arm]
    if len(np.unique(df[cluster].to_numpy()[rows])) < 2:
        raise ValueError(f"a fit of the treatment == {arm} outcome model has fewer than 2 "
                         "clusters: use fewer folds or more clusters")
    return _fit_predict(model, df.iloc[rows], df.iloc[new_rows], outcome, controls, cluster)


def _propensity(df, propensity, treatment, cluster, strata) -> np.ndarray:
    n = len(df)
    if isinstance(propensity, str) and propensity == "strata":
        if strata is None:
            raise ValueError("propensity='strata' needs strata= (the column of the "
                             "randomization strata); or pass propensity= as a column/array")
        cl = df.groupby(cluster, sort=False)[[treatment, strata]].first()
        share = cl.groupby(strata)[treatment].mean()
        e = df[strata].map(share).to_numpy(np.float64)
    elif isinstance(propensity, str):
        if propensity not in df.columns:
            raise ValueError(f"propensity column {propensity!r} is not in data")
        e = _checks.check_number_vector(df[propensity], n, "propensity")
    else:
        e = _checks.check_number_vector(propensity, n, "propensity")
    if np.any((e <= 0) | (e >= 1)):
        raise ValueError("the propensity must lie strictly between 0 and 1 for every row (a "
                         "stratum with all clusters treated or none identifies no effect)")
    return e


def _cluster_index(df, cluster):
    codes, labels = pd.factorize(df[cluster], sort=True)
    return codes, len(labels)


def _boot_clusters(rng, cl_arm_stratum: np.ndarray) -> np.ndarray:
    """Resampled cluster indices (with replacement) within each arm x stratum cell."""
    out = []
    for cell in np.unique(cl_arm_stratum):
        members = np.flatnonzero(cl_arm_stratum == cell)
        out.append(rng.choice(members, len(members), replace=True))
    return np.concatenate(out)


def cluster_ate(data, model, *, outcome="y", treatment="d", cluster="g", controls=None,
                strata=None, method="aipw", propensity="strata", n_folds=2, n_boot=0,
                level=0.95, seed=0) -> ClusterEffect:
    """Average effect of a cluster-level binary treatment (see the module docstring).

    Args:
        data: DataFrame with the outcome, treatment (0/1, constant within cluster), cluster,
            controls (and strata) columns.
        model: outcome model: an estimator (cloned per fit) or a ``fc.gam`` formula.
        controls: the columns fed to an estimator (cluster- and individual-level).
        strata: column of randomization strata (clusters resampled within them; the
            propensity "strata" is the treated share of the stratum's clusters).
        method: "aipw" (cross-fitted doubly robust, default) or "regression".
        propensity: "strata", a column name, or an array of P(d = 1) per row ("aipw").
        n_folds: folds of whole clusters for "aipw" (stratified by arm).
        n_boot: cluster-bootstrap replications (refits for "regression"; scores for
            "aipw").  "regression" needs n_boot >= 2 for a standard error.
        level: confidence level of the interval.
        seed: seed of the folds and the bootstrap.
    """
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    method = _checks.check_choice(method, ["aipw", "regression"], "method")
    cols = [outcome, treatment, cluster] + ([strata] if strata is not None else [])
    if not isinstance(model, str):
        if controls is None or isinstance(controls, str) or len(controls) == 0:
            raise ValueError("controls (a list of column names) is required with an "
                             "estimator as outcome model")
        if not (hasattr(model, "fit") and hasattr(model, "predict")):
            raise TypeError("model must be an estimator with fit and predict, or a fc.gam "
                            f"formula string; got {type(model).__name__}")
        cols += list(controls)
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise ValueError(f"columns {missing} are not in data")
    df = data.reset_index(drop=True)
    y = _checks.check_target_1d(df[outcome], len(df), outcome)
    d = df[treatment].to_numpy()
    if not np.isin(d, [0, 1]).all():
        raise ValueError(f"treatment column {treatment!r} must be 0/1")
    codes, C = _cluster_index(df, cluster)
    per_cluster = pd.Series(d).groupby(codes).nunique()
    if (per_cluster > 1).any():
        bad = int((per_cluster > 1).sum())
        raise ValueError(f"treatment varies within {bad} cluster(s): cluster_ate is for a "
                         "treatment assigned to whole clusters")
    d_cl = pd.Series(d).groupby(codes).first().to_numpy()
    if min(d_cl.sum(), C - d_cl.sum()) < 2:
        raise ValueError("need at least 2 treated and 2 control clusters")
    n_boot = _checks.check_int(n_boot, "n_boot", minimum=0)
    level = float(_checks.check_unit_interval(level, "level"))
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    z = stats.norm.ppf(0.5 + level / 2)
    rng = _checks.check_seed(_checks.check_int(seed, "seed"))
    st_cl = (pd.Series(df[strata].to_numpy()).groupby(codes).first().to_numpy()
             if strata is not None else np.zeros(C))
    cell = pd.factorize(pd.Series(list(zip(d_cl, st_cl, strict=True))))[0]
    all_rows = np.arange(len(df))
    controls = list(controls) if controls is not None else None
    args = (outcome, treatment, controls, cluster)

    if method == "regression":
        mu0, mu1 = np.empty(len(df)), np.empty(len(df))
        treated, control = all_rows[d == 1], all_rows[d == 0]
        mu0[treated] = _arm_prediction(model, df, control, treated, 0, *args)
        mu1[control] = _arm_prediction(model, df, treated, control, 1, *args)
        mu0[control], mu1[treated] = y[control], y[treated]
        est = float(np.mean(mu1 - mu0))
        boot = None
        se = lo = hi = np.nan
        if n_boot >= 2:
            boot = np.empty(n_boot)
            for b in range(n_boot):
                pick = _boot_clusters(rng, cell)
                parts = [df.iloc[np.flatnonzero(codes == c)].assign(**{cluster: j})
                         for j, c in enumerate(pick)]
                bdf = pd.concat(parts, ignore_index=True)
                boot[b] = cluster_ate(bdf, model, outcome=outcome, treatment=treatment,
                                      cluster=cluster, controls=controls, strata=None,
                                      method="regression", n_boot=0).estimate
            se = float(boot.std(ddof=1))
            lo, hi = np.quantile(boot, [0.5 - level / 2, 0.5 + level / 2])
        return ClusterEffect(est, se, float(lo), float(hi), "regression", C, len(df), level,
                             n_boot, mu0, mu1, None, boot)

    e = _propensity(df, propensity, treatment, cluster, strata)
    k = _checks.check_int(n_folds, "n_folds", minimum=2)
    if k > min(d_cl.sum(), C - d_cl.sum()):
        raise ValueError(f"n_folds={k} exceeds the number of clusters in the smaller arm "
                         f"({int(min(d_cl.sum(), C - d_cl.sum()))})")
    fold_cl = np.empty(C, dtype=np.int64)
    for f, (_, te) in enumerate(StratifiedKFold(k, shuffle=True, random_state=int(
            rng.integers(2**31 - 1))).split(np.zeros(C), d_cl)):
        fold_cl[te] = f
    fold = fold_cl[codes]
    mu0, mu1 = np.empty(len(df)), np.empty(len(df))
    for f in range(k):
        held, train_rows = all_rows[fold == f], all_rows[fold != f]
        mu0[held] = _arm_prediction(model, df, train_rows, held, 0, *args)
        mu1[held] = _arm_prediction(model, df, train_rows, held, 1, *args)
    psi = mu1 - mu0 + d * (y - mu1) / e - (1 - d) * (y - mu0) / (1 - e)
    est = float(psi.mean())
    N = len(df)
    totals = np.bincount(codes, weights=psi - est, minlength=C)
    se = float(np.sqrt(np.sum(totals**2) * C / (C - 1)) / N)
    lo, hi = est - z * se, est + z * se
    boot = None
    if n_boot >= 2:
        sums = np.bincount(codes, weights=psi, minlength=C)
        sizes = np.bincount(codes, minlength=C)
        boot = np.empty(n_boot)
        for b in range(n_boot):
            pick = _boot_clusters(rng, cell)
            boot[b] = sums[pick].sum() / sizes[pick].sum()
        lo, hi = np.quantile(boot, [0.5 - level / 2, 0.5 + level / 2])
    return ClusterEffect(est, se, float(lo), float(hi), "aipw", C, N, level, n_boot, mu0, mu1,
                         psi, boot)
