"""Double/debiased machine learning with gKRLS learners, through the ``doubleml`` package.

The gKRLS paper (Sec. 6, the Gulzar et al. 2020 application) runs DML-PLR and DML-ATE
(Chernozhukov et al. 2018) with a formula learner, a kernel on the coordinates plus the
controls linear, ``~ controls + krls(lat, lon)``: 5 folds drawn by cluster and the
cluster-robust standard error of Chiang et al. (2022). This module only sets
``doubleml`` up for that; the estimation, scores and variances are doubleml's own
(``DoubleMLPLR``, ``DoubleMLIRM``, ``DoubleMLData(..., cluster_cols=)``).

    import flexcausal as fc
    obj = fc.dml.plr(df, y="y", d="treat", formula="~ x1 + x2 + krls(lat, lon)",
                     cluster="district", n_folds=5, n_rep=1, seed=0)
    fc.dml.tidy(obj)    # estimate, std_error (cluster-robust), CI, p-value

How doubleml calls learners: ``x = data[x_cols].to_numpy()`` (floats, no names), and each
fold fits a ``clone`` of the learner on ``x[train]`` (``_dml_cv_predict``); so a
``GAMRegressor``/``GAMClassifier`` here gets ``columns=x_cols``. Folds: with ``cluster``,
whole clusters are dealt to folds (KFold over the cluster labels, as doubleml's
``DoubleMLClusterResampling``), so no cluster spans training and test rows; without it,
KFold over rows (IRM: stratified by the treatment, as doubleml). All folds are drawn
here from ``seed`` and handed over with ``set_sample_splitting`` (doubleml itself draws
them from NumPy's global random state). Needs ``pip install flexcausal[dml]``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import KFold, StratifiedKFold

from ._checks import check_int
from ._frames import check_columns_present, check_dataframe
from .gkrls.sklearn_gam import GAMClassifier, GAMRegressor, formula_columns, right_hand_side

try:
    import doubleml
except ImportError as exc:  # pragma: no cover - the dml extra is in the lock
    raise ImportError("flexcausal.dml needs the doubleml package: "
                      "pip install 'flexcausal[dml]'") from exc

__all__ = ["cluster_folds", "irm", "make_data", "plr", "tidy"]

_CLUSTER_CODES = "_cluster_"  # doubleml's cluster column: integer codes of ``cluster``


def _column(data: pd.DataFrame, name, what: str) -> str:
    if not isinstance(name, str):
        raise TypeError(f"{what} must be a column name (str), got {name!r}")
    if name not in data.columns:
        raise ValueError(f"data has no column {name!r} (the {what}); available columns: "
                         f"{list(data.columns)}")
    return name


def _numeric_columns(data: pd.DataFrame, names: list[str], what: str) -> None:
    for col in names:
        series = data[col]
        if not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)):
            raise TypeError(f"{what} column {col!r} has dtype {series.dtype}: doubleml hands "
                            "learners a float array, so code it as numbers first (e.g. "
                            f"pd.factorize(data[{col!r}])[0], then re({col}) or C({col}) in "
                            "the formula)")
        n_bad = int(series.isna().sum())
        if n_bad:
            raise ValueError(f"{what} column {col!r} has {n_bad} NaN/missing values; drop or "
                             "impute them first")


def _cluster_codes(data: pd.DataFrame, cluster: str, n_folds: int) -> np.ndarray:
    values = data[cluster]
    n_missing = int(values.isna().sum())
    if n_missing:
        raise ValueError(f"cluster column {cluster!r} has {n_missing} missing values")
    codes, levels = pd.factorize(values, sort=True)
    if len(levels) < max(2, n_folds):
        raise ValueError(f"cluster column {cluster!r} has {len(levels)} level(s); "
                         f"cluster-robust inference with folds of whole clusters needs at "
                         f"least n_folds={n_folds} clusters (and at least 2)")
    return codes.astype(np.int64)


def make_data(data, y: str, d: str, x, cluster: str | None = None,
              n_folds: int = 5) -> doubleml.DoubleMLData:
    """``doubleml.DoubleMLData`` for outcome ``y``, treatment ``d``, covariates ``x`` (list),
    and, with ``cluster``, its integer codes as doubleml's cluster variable (a column
    ``_cluster_``, so the cluster column itself may also be a covariate, e.g. for re()).
    ``n_folds``: the folds to come, as the cluster count must reach it."""
    data = check_dataframe(data)
    y, d = _column(data, y, "outcome y"), _column(data, d, "treatment d")
    if isinstance(x, str) or not all(isinstance(c, str) for c in x):
        raise TypeError(f"x must be a list of column names, got {x!r}")
    x = list(x)
    if not x:
        raise ValueError("x (the covariates) is empty")
    check_columns_present(data, x)
    clash = sorted({y, d} & set(x))
    if clash:
        raise ValueError(f"the covariates x include the outcome/treatment {clash}; the "
                         "learners' formula must not name them")
    _numeric_columns(data, [y, d], "outcome/treatment")
    _numeric_columns(data, x, "covariate")
    frame = pd.DataFrame({c: data[c].to_numpy() for c in dict.fromkeys([y, d, *x])})
    cluster_cols = None
    if cluster is not None:
        cluster = _column(data, cluster, "cluster variable")
        if cluster in (y, d):
            raise ValueError(f"cluster {cluster!r} is the outcome or the treatment")
        name = _CLUSTER_CODES
        while name in frame.columns:
            name = f"_{name}_"
        frame[name] = _cluster_codes(data, cluster, n_folds)
        cluster_cols = [name]
    return doubleml.DoubleMLData(frame, y_col=y, d_cols=d, x_cols=x, cluster_cols=cluster_cols)


def cluster_folds(clusters, n_folds: int, n_rep: int, seed: int):
    """Folds of whole clusters: ``(all_smpls, all_smpls_cluster)`` for doubleml's
    ``set_sample_splitting``. Each repetition deals the sorted cluster labels to
    ``n_folds`` folds with ``KFold(shuffle=True)`` seeded from ``seed`` (the scheme of
    doubleml's ``DoubleMLClusterResampling``, reproducible)."""
    clusters = np.asarray(clusters)
    labels = np.unique(clusters)
    all_smpls, all_smpls_cluster = [], []
    for state in _rep_states(seed, n_rep):
        smpls, smpls_cluster = [], []
        for train, test in KFold(n_folds, shuffle=True, random_state=state).split(labels):
            rows_test = np.isin(clusters, labels[test])
            smpls.append((np.flatnonzero(~rows_test), np.flatnonzero(rows_test)))
            smpls_cluster.append(([labels[train]], [labels[test]]))
        all_smpls.append(smpls)
        all_smpls_cluster.append(smpls_cluster)
    return all_smpls, all_smpls_cluster


def _rep_states(seed: int, n_rep: int) -> list[int]:
    """One KFold random_state per repetition, from ``seed``."""
    return [int(s) for s in np.random.SeedSequence(seed).generate_state(n_rep)]


def _row_folds(n: int, n_folds: int, n_rep: int, seed: int, strata=None):
    splitter = StratifiedKFold if strata is not None else KFold
    target = np.zeros(n) if strata is None else strata
    return [[(train, test) for train, test in
             splitter(n_folds, shuffle=True, random_state=state).split(np.zeros(n), target)]
            for state in _rep_states(seed, n_rep)]


def _learner(learner, default, x_cols: list[str], name: str):
    """The learner for doubleml: a GAM estimator reads doubleml's x by ``x_cols``."""
    if learner is None:
        if default is None:
            raise ValueError(f"give formula= (gKRLS learners) or the learner {name}=")
        learner = default
    if isinstance(learner, type):
        raise TypeError(f"{name} must be an estimator instance, not the class {learner!r}")
    learner = clone(learner)
    if isinstance(learner, (GAMRegressor, GAMClassifier)):
        if learner.columns is None:
            learner.set_params(columns=list(x_cols))
        elif not isinstance(learner.columns, str) and list(learner.columns) != list(x_cols):
            raise ValueError(f"{name}.columns={learner.columns!r} differ from the "
                             f"covariates x={x_cols!r} doubleml passes, in that order")
    return learner


def _setup(data, y, d, formula, x, cluster, n_folds, n_rep, seed):
    data = check_dataframe(data)
    n_folds = check_int(n_folds, "n_folds", minimum=2)
    n_rep = check_int(n_rep, "n_rep", minimum=1)
    seed = check_int(seed, "seed", minimum=0)
    if formula is not None:
        rhs = right_hand_side(formula, "formula")
        needed = formula_columns(f"_y_ ~ {rhs}", data.columns)
        check_columns_present(data, needed)
        named = sorted({y, d} & set(needed))
        if named:
            raise ValueError(f"the formula {formula!r} names the outcome/treatment {named}; "
                             "the nuisance learners use the covariates only")
        if x is None:
            x = needed
    if x is None:
        raise ValueError("give formula= or the covariates x=[...] that the learners use")
    dml_data = make_data(data, y, d, x, cluster, n_folds)
    return dml_data, n_folds, n_rep, seed


def _split(obj, dml_data, n_folds, n_rep, seed, stratify: bool):
    if dml_data.is_cluster_data:
        smpls, smpls_cluster = cluster_folds(dml_data.cluster_vars[:, 0], n_folds, n_rep, seed)
        obj.set_sample_splitting(smpls, smpls_cluster)
    else:
        strata = dml_data.d if stratify else None
        obj.set_sample_splitting(_row_folds(dml_data.n_obs, n_folds, n_rep, seed, strata))
    return obj


def plr(data, y: str, d: str, formula: str | None = None, *, x=None, ml_l=None, ml_m=None,
        cluster: str | None = None, n_folds: int = 5, n_rep: int = 1, seed: int = 0,
        score: str = "partialling out", fit: bool = True, n_jobs_cv=None):
    """DML for the partially linear model y = theta d + g(x) + e (``doubleml.DoubleMLPLR``).

    With ``formula`` (a right-hand side such as ``"~ x1 + x2 + krls(lat, lon)"``) both
    nuisance functions E[y | x] and E[d | x] are ``GAMRegressor(formula)`` (Gaussian, as
    the paper's DML-PLR, Sec. 6); ``ml_l``/``ml_m`` override them with any scikit-learn
    regressor (``ml_m`` may be a classifier for a 0/1 treatment). ``x`` lists the
    covariates doubleml passes to the learners (default: the columns the formula reads).
    ``cluster``: a column of cluster labels: folds of whole clusters and doubleml's
    cluster-robust variance (Chiang et al. 2022). ``n_rep`` repetitions of the fold draw
    (doubleml aggregates them by the median), all folds from ``seed``. Returns the
    doubleml object, fitted unless ``fit=False``; ``tidy(obj)`` is the summary table.
    """
    dml_data, n_folds, n_rep, seed = _setup(data, y, d, formula, x, cluster, n_folds, n_rep,
                                            seed)
    x_cols = list(dml_data.x_cols)
    default = None if formula is None else GAMRegressor(formula)
    obj = doubleml.DoubleMLPLR(dml_data, _learner(ml_l, default, x_cols, "ml_l"),
                               _learner(ml_m, default, x_cols, "ml_m"), n_folds=n_folds,
                               n_rep=n_rep, score=score, draw_sample_splitting=False)
    _split(obj, dml_data, n_folds, n_rep, seed, stratify=False)
    return obj.fit(n_jobs_cv=n_jobs_cv) if fit else obj


def irm(data, y: str, d: str, formula: str | None = None, *, x=None, ml_g=None, ml_m=None,
        cluster: str | None = None, n_folds: int = 5, n_rep: int = 1, seed: int = 0,
        score: str = "ATE", fit: bool = True, n_jobs_cv=None, **irm_options):
    """DML for the average treatment effect of a 0/1 treatment (``doubleml.DoubleMLIRM``,
    the paper's DML-ATE: E[y | d, x] by ``GAMRegressor(formula)`` on each arm, the
    propensity score by ``GAMClassifier(formula)``, logistic, Sec. 6).

    Arguments as ``plr``; ``ml_g`` (outcome regression) and ``ml_m`` (a classifier)
    override the formula learners; ``score`` "ATE" or "ATTE"; ``irm_options`` go to
    ``DoubleMLIRM`` (e.g. ``ps_processor_config``, ``normalize_ipw``). Without
    ``cluster`` the folds are stratified by the treatment, as doubleml draws them.
    Returns the doubleml object (fitted unless ``fit=False``).
    """
    dml_data, n_folds, n_rep, seed = _setup(data, y, d, formula, x, cluster, n_folds, n_rep,
                                            seed)
    x_cols = list(dml_data.x_cols)
    reg = None if formula is None else GAMRegressor(formula)
    clf = None if formula is None else GAMClassifier(formula)
    obj = doubleml.DoubleMLIRM(dml_data, _learner(ml_g, reg, x_cols, "ml_g"),
                               _learner(ml_m, clf, x_cols, "ml_m"), n_folds=n_folds,
                               n_rep=n_rep, score=score, draw_sample_splitting=False,
                               **irm_options)
    _split(obj, dml_data, n_folds, n_rep, seed, stratify=True)
    return obj.fit(n_jobs_cv=n_jobs_cv) if fit else obj


def tidy(obj, level: float = 0.95) -> pd.DataFrame:
    """One row per treatment of a fitted doubleml object: ``estimate``, ``std_error``
    (cluster-robust when the data have a cluster variable), ``statistic``, ``p_value``,
    ``ci_low``/``ci_high`` (``obj.confint(level=level)``), ``n_obs``, ``n_folds``,
    ``n_rep``, ``n_clusters`` (NaN without clusters), ``se_type``."""
    if getattr(obj, "framework", None) is None:
        raise ValueError("the doubleml object is not fitted yet; call obj.fit() first")
    with warnings.catch_warnings():  # doubleml 0.11 on pandas 3: set_index(inplace=True)
        warnings.filterwarnings("ignore", message="The inplace keyword in DataFrame.set_index")
        ci = obj.confint(level=level)
    dml_data = obj._dml_data
    clustered = bool(dml_data.is_cluster_data)
    n_clusters = (len(np.unique(dml_data.cluster_vars[:, 0])) if clustered else np.nan)
    return pd.DataFrame({
        "term": list(dml_data.d_cols),
        "estimate": np.asarray(obj.coef, dtype=float),
        "std_error": np.asarray(obj.se, dtype=float),
        "statistic": np.asarray(obj.t_stat, dtype=float),
        "p_value": np.asarray(obj.pval, dtype=float),
        "ci_low": ci.iloc[:, 0].to_numpy(dtype=float),
        "ci_high": ci.iloc[:, 1].to_numpy(dtype=float),
        "n_obs": dml_data.n_obs,
        "n_folds": obj.n_folds,
        "n_rep": obj.n_rep,
        "n_clusters": n_clusters,
        "se_type": "cluster" if clustered else "iid",
    })
