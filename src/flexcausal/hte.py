"""Heterogeneous treatment effects: the R-learner with gKRLS nuisance and effect models.

Nie, X. & Wager, S. (2021), "Quasi-oracle estimation of heterogeneous treatment effects",
*Biometrika* 108(2), 299-319; with gKRLS learners as in Chang & Goplerud (2024, gKRLS
paper, Sec. 6 and Supplement E.2).

Model (Robinson 1988): Y = b(X) + D tau(X) + eps with E[eps | X, D] = 0, so that with
m(x) = E[Y | X = x] and e(x) = E[D | X = x],

    Y - m(X) = (D - e(X)) tau(X) + eps.                                        (1)

For a binary D and unconfoundedness, tau(x) = E[Y(1) - Y(0) | X = x] is the CATE and
e(x) the propensity score. The R-learner

1. cross-fits the nuisances: rows are split into K folds; for fold k, m and e are fitted
   by gKRLS (``fc.gam``) on the other folds and predicted on fold k, giving
   out-of-fold m_i and e_i (Nie & Wager, Sec. 2, "cross-fitting");
2. minimises the R-loss over tau (Nie & Wager, eq. 4):

       sum_i [(Y_i - m_i) - (D_i - e_i) tau(X_i)]^2 + penalty(tau).            (2)

Because the loss is squared, for D_i != e_i

    [(Y_i - m_i) - (D_i - e_i) tau(X_i)]^2 = (D_i - e_i)^2 [Ytilde_i - tau(X_i)]^2,
    Ytilde_i = (Y_i - m_i) / (D_i - e_i),

(factor (D_i - e_i) out of the bracket), so (2) is *exactly* a weighted penalized least
squares regression of the pseudo-outcome Ytilde on X with weights w_i = (D_i - e_i)^2;
rows with D_i = e_i contribute 0 to (2) and get w_i = 0. That regression is a Gaussian
``fc.gam`` with ``weights=w`` and the effect formula (a gKRLS kernel by default), whose
penalty is chosen by REML: with Var(eps | X, D) = sigma^2, Var(Ytilde_i) = sigma^2 / w_i,
which is what a Gaussian GAM with prior weights w assumes. The identity holds only for
the squared loss (a GLM effect model would not give (2)).
"""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from ._checks import check_choice, check_int
from ._frames import check_column_values, check_dataframe, is_categorical, response_values
from .folds import make_folds
from .gkrls.effects import marginal_effects
from .gkrls.formula import parse_formula
from .gkrls.model import GAM
from .gkrls.terms import formula_variables
from .progress import progress_bar

__all__ = ["RLearner", "rlearner"]

TREATMENT_TYPES = ("auto", "binary", "continuous")
MIN_FOLD_ROWS = 10  # each fold predicts its rows from models fitted on the others
_OVERLAP = 0.01  # propensities outside [0.01, 0.99] are reported (limited overlap)


def _quote(name: str) -> str:
    """A column name as a formula token (backticks for names that are not identifiers)."""
    return name if name.isidentifier() else f"`{name}`"


def _names(value, argname: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if isinstance(value, (pd.Index, np.ndarray, tuple)):
        value = list(value)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise TypeError(f"{argname} must be a column name or a non-empty list of column "
                        f"names, got {value!r}")
    dup = sorted({v for v in value if value.count(v) > 1})
    if dup:
        raise ValueError(f"{argname} lists {dup} more than once")
    return value


def _rhs(formula, argname: str) -> str:
    """``"~ rhs"`` -> ``"rhs"``: the formulas here are one-sided (the response is ours)."""
    if not isinstance(formula, str):
        raise TypeError(f"{argname} must be a one-sided formula string like "
                        f"'~ x3 + krls(x1, x2)', got {type(formula).__name__}")
    lhs, tilde, rhs = formula.partition("~")
    if not tilde or lhs.strip() or not rhs.strip():
        raise ValueError(f"{argname} must be one-sided, '~ terms' (the response is set by "
                         f"rlearner), e.g. '~ x3 + krls(x1, x2)'; got {formula!r}")
    return rhs.strip()


def _formula_columns(formula: str, data: pd.DataFrame, env: dict) -> set[str]:
    parsed = parse_formula(formula, env)
    used = set(parsed.offsets) | set(formula_variables(parsed.parametric, data.columns))
    for term in parsed.smooths:
        used.update(getattr(term, "reads", term.columns))
    return used - {parsed.response}


def _check_present(data: pd.DataFrame, columns, what: str) -> None:
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise ValueError(f"data has no column(s) {missing} (named in {what}); available "
                         f"columns: {list(data.columns)}")


def _treatment_values(data: pd.DataFrame, treatment: str) -> np.ndarray:
    series = data[treatment]
    if is_categorical(series) and not pd.api.types.is_bool_dtype(series):
        raise TypeError(f"the treatment {treatment!r} must be numeric or boolean (0/1 for a "
                        f"binary treatment), got dtype {series.dtype}; code it e.g. "
                        f"(data[{treatment!r}] == 'treated').astype(int)")
    return series.to_numpy(dtype=np.float64)


def _treatment_type(d: np.ndarray, kind: str, treatment: str) -> str:
    values = np.unique(d)
    if values.size < 2:
        raise ValueError(f"the treatment {treatment!r} is constant ({values[0]:g} in every "
                         "row): the R-learner compares rows with different treatment values")
    binary = bool(np.all(np.isin(values, (0.0, 1.0))))
    shown = [f"{v:g}" for v in values[:5]] + (["..."] if values.size > 5 else [])
    if kind == "binary" and not binary:
        raise ValueError(f"treatment_type='binary' needs a 0/1 (or boolean) treatment; "
                         f"{treatment!r} takes the values {shown}")
    if kind == "auto":
        if binary:
            return "binary"
        if values.size == 2:
            raise ValueError(f"the treatment {treatment!r} takes two values {shown}: code it "
                             "0/1 (1 = treated) for a binary treatment, or pass "
                             "treatment_type='continuous' to model it as a dose")
        return "continuous"
    return kind


def _fit_gam(formula, data, family, env, what, weights=None) -> GAM:
    try:
        return GAM(formula, family=family).fit(data, weights=weights, env=env)
    except (ValueError, TypeError) as exc:
        if type(exc) not in (ValueError, TypeError):
            raise
        raise type(exc)(f"R-learner, {what}: {exc}") from exc


def rlearner(
    data,
    outcome: str,
    treatment: str,
    covariates=None,
    moderators=None,
    *,
    outcome_formula: str | None = None,
    treatment_formula: str | None = None,
    effect_formula: str | None = None,
    treatment_type: str = "auto",
    outcome_family="gaussian",
    n_folds: int = 5,
    cluster: str | None = None,
    seed: int = 0,
    progress: bool | None = None,
) -> RLearner:
    """The R-learner of Nie & Wager (2021) for conditional effects tau(x), with gKRLS
    (``fc.gam``) nuisance and effect models, as the gKRLS paper's Supplement E.2.

    See the module docstring for the maths: out-of-fold m(x) = E[Y|X], e(x) = E[D|X],
    then a weighted gKRLS regression of (Y - m)/(D - e) with weights (D - e)^2, which is
    exactly the R-loss (2) for the squared loss.

    data: DataFrame. outcome, treatment: column names. covariates: the confounders X
    (a name or list) used by the default nuisance formulas ``"~ krls(<covariates>)"``.
    moderators: the columns tau depends on, used by the default effect formula
    ``"~ krls(<moderators>)"`` (default: the covariates).
    outcome_formula, treatment_formula, effect_formula: one-sided formulas (``"~ x3 +
    krls(x1, x2) + re(state)"``) replacing those defaults; names in ``krls()`` options
    are looked up in the caller's scope, as ``fc.gam``.
    treatment_type: "binary" (0/1 or boolean: e(x) is a binomial logit gKRLS, tau the
    CATE), "continuous" (any numeric dose: e(x) is a Gaussian gKRLS and tau(x) the slope
    of a model linear in D, E[Y | X, D] = b(X) + D tau(X)), or "auto" (binary when the
    values are 0/1, continuous when there are more than two values; two other values,
    e.g. 1/2, are refused: recode them). A constant treatment is an error.
    outcome_family: family of m(x) (e.g. "binomial" for a 0/1 outcome, predicted on the
    response scale); the effect model is always Gaussian (the R-loss is squared).
    n_folds: K >= 2 folds for cross-fitting; each fold needs >= 10 rows. cluster: a
    column; whole clusters are put in one fold, never split across folds. seed: the fold
    draw (scikit-learn KFold/StratifiedKFold ``random_state``); kernel sketches follow each
    formula's ``krls(seed=)`` (default 0), so the whole fit is reproducible.
    progress: a tqdm bar over the 2K + 1 fits (None: shown only in interactive sessions;
    see ``flexcausal.progress``).

    Returns an ``RLearner``: ``cate(newdata, se=True)``, ``average()``, ``by(moderator)``,
    the fitted ``outcome_models_``, ``treatment_models_`` (one per fold) and
    ``effect_model_``, and the out-of-fold ``m_hat_``, ``e_hat_``, ``folds_``.
    """
    caller = sys._getframe(1)
    env = {**caller.f_globals, **caller.f_locals}
    data = check_dataframe(data)
    for name, argname in ((outcome, "outcome"), (treatment, "treatment")):
        if not isinstance(name, str):
            raise TypeError(f"{argname} must be a column name (str), got {name!r}")
    _check_present(data, [outcome, treatment], "outcome/treatment")
    if outcome == treatment:
        raise ValueError(f"outcome and treatment are the same column {outcome!r}")
    covariates = _names(covariates, "covariates")
    moderators = _names(moderators, "moderators") or covariates
    for cols, argname in ((covariates, "covariates"), (moderators, "moderators")):
        if cols is None:
            continue
        _check_present(data, cols, argname)
        bad = [c for c in cols if c in (outcome, treatment)]
        if bad:
            raise ValueError(f"{argname} may not contain the outcome or the treatment "
                             f"({bad}); they are modelled separately")
    kind = check_choice(treatment_type, TREATMENT_TYPES, "treatment_type")
    n_folds = check_int(n_folds, "n_folds", minimum=2)
    seed = check_int(seed, "seed", minimum=0)
    if cluster is not None:
        if not isinstance(cluster, str):
            raise TypeError(f"cluster must be a column name (str), got {cluster!r}")
        _check_present(data, [cluster], "cluster")
        check_column_values(data, cluster)

    def default(formula, cols, argname, what):
        if formula is not None:
            return _rhs(formula, argname)
        if cols is None:
            raise ValueError(f"give {what} or {argname}= (a one-sided formula such as "
                             "'~ krls(x1, x2)')")
        return f"krls({', '.join(_quote(c) for c in cols)})"

    rhs_m = default(outcome_formula, covariates, "outcome_formula", "covariates=")
    rhs_e = default(treatment_formula, covariates, "treatment_formula", "covariates=")
    rhs_tau = default(effect_formula, moderators, "effect_formula",
                      "moderators= (or covariates=)")
    pseudo = "pseudo_outcome"
    while pseudo in data.columns:
        pseudo = f"_{pseudo}"
    formulas = {"outcome": f"{_quote(outcome)} ~ {rhs_m}",
                "treatment": f"{_quote(treatment)} ~ {rhs_e}",
                "effect": f"{pseudo} ~ {rhs_tau}"}
    used = {outcome, treatment} | ({cluster} if cluster else set())
    for key, formula in formulas.items():
        cols = _formula_columns(formula, data, env)
        _check_present(data, sorted(cols), f"the {key} formula {formula!r}")
        leak = sorted(cols & ({outcome, treatment} if key == "effect" else {treatment}))
        if leak:
            raise ValueError(f"the {key} formula {formula!r} uses {leak}: the nuisance and "
                             "effect models are functions of the covariates only")
        used |= cols
    for col in sorted(used):
        check_column_values(data, col)
    y = response_values(data, outcome)
    d = _treatment_values(data, treatment)
    kind = _treatment_type(d, kind, treatment)
    groups = None if cluster is None else data[cluster].to_numpy()
    folds = make_folds(n_folds, d, kind == "binary", groups, seed)
    sizes = np.bincount(folds, minlength=n_folds)
    if sizes.min() < MIN_FOLD_ROWS:
        raise ValueError(f"n_folds={n_folds} leaves a fold with only {sizes.min()} rows "
                         f"(n = {len(d)}); the R-learner needs at least {MIN_FOLD_ROWS} rows "
                         "per fold: use fewer folds or more data")
    if kind == "binary":
        for k in range(n_folds):
            if np.unique(d[folds != k]).size < 2:
                raise ValueError(f"the training rows of fold {k + 1} have only one treatment "
                                 "value (clusters that are all treated or all control); use "
                                 "fewer folds")
    n = len(d)
    m_hat, e_hat = np.empty(n), np.empty(n)
    out_models, treat_models = [], []
    e_family = "binomial" if kind == "binary" else "gaussian"
    with progress_bar(total=2 * n_folds + 1, desc="R-learner", progress=progress) as bar:
        for k in range(n_folds):
            train, test = data.iloc[folds != k], data.iloc[folds == k]
            where = f"fold {k + 1}/{n_folds}"
            bar.set_postfix_str(f"{where}: m(x)")
            mk = _fit_gam(formulas["outcome"], train, outcome_family, env,
                          f"outcome model m(x) on the training rows of {where}")
            m_hat[folds == k] = np.asarray(mk.predict(test, type="response")).reshape(-1)
            bar.update()
            bar.set_postfix_str(f"{where}: e(x)")
            ek = _fit_gam(formulas["treatment"], train, e_family, env,
                          f"treatment model e(x) on the training rows of {where}")
            e_hat[folds == k] = np.asarray(ek.predict(test, type="response")).reshape(-1)
            bar.update()
            out_models.append(mk)
            treat_models.append(ek)
        if kind == "binary":
            extreme = int(np.sum((e_hat < _OVERLAP) | (e_hat > 1 - _OVERLAP)))
            if extreme:
                warnings.warn(f"{extreme} of {n} out-of-fold propensity scores e(x) lie "
                              f"outside [{_OVERLAP}, {1 - _OVERLAP}] (limited overlap): tau "
                              "is poorly identified there and those rows get extreme "
                              "pseudo-outcomes (with small weights)", UserWarning,
                              stacklevel=2)
        d_res, y_res = d - e_hat, y - m_hat
        weights = d_res**2
        if not np.any(weights > 0):
            raise ValueError("every out-of-fold e(x) equals the treatment: the R-loss is 0 "
                             "for any tau; the treatment is predicted perfectly by the "
                             "covariates (no overlap)")
        ytilde = np.divide(y_res, d_res, out=np.zeros(n), where=d_res != 0)
        eff_data = data.copy(deep=False)
        eff_data[pseudo] = ytilde
        bar.set_postfix_str("effect model tau(x)")
        effect = _fit_gam(formulas["effect"], eff_data, "gaussian", env,
                          "effect model tau(x) (weighted regression of the pseudo-outcome)",
                          weights=weights)
        bar.update()
    return RLearner(
        outcome=outcome, treatment=treatment, treatment_type=kind, formulas=formulas,
        folds=folds, m_hat=m_hat, e_hat=e_hat, pseudo_outcome=ytilde, weights=weights,
        outcome_models=out_models, treatment_models=treat_models, effect_model=effect,
        data=data.copy(deep=True), cluster=cluster,
    )


class RLearner:
    """A fitted R-learner (``fc.rlearner``).

    Attributes: ``effect_model_`` (the gKRLS tau(x), a ``GAM`` fitted to the
    pseudo-outcome with weights (D - e)^2), ``outcome_models_`` / ``treatment_models_``
    (the m and e fits of each fold), ``m_hat_`` / ``e_hat_`` (out-of-fold predictions),
    ``pseudo_outcome_``, ``weights_``, ``folds_`` (fold of each row, 0-based),
    ``formulas_``, ``treatment_type_``.

    Standard errors (``cate(se=True)``, ``average``, ``by``) are delta-method SEs from
    the effect model's coefficient covariance (``vcov="bayes"``: mgcv's Vp), i.e. the
    posterior uncertainty of tau given the pseudo-outcomes. Caveats: (i) they treat the
    cross-fitted m and e as known; the R-loss is Neyman-orthogonal, so nuisance errors
    enter tau only at second order (Nie & Wager 2021, Thm. 3), but in finite samples the
    SEs are somewhat optimistic; (ii) ``"bayes"`` assumes Var(Y | X, D) constant (the
    weights (D - e)^2 then are the right precision weights); use ``vcov="HC1"`` for
    heteroskedasticity or ``vcov="cluster"`` for clustered data (default: rlearner's
    ``cluster`` column; a sandwich over the pseudo-outcome regression); (iii) the
    Bayesian intervals of a penalized fit cover on average across x (Wood 2017,
    Sec. 6.10), not at every x; (iv) averages are over the given rows (conditional on
    their X): no sampling variance of X is added.
    """

    def __init__(self, *, outcome, treatment, treatment_type, formulas, folds, m_hat, e_hat,
                 pseudo_outcome, weights, outcome_models, treatment_models, effect_model,
                 data, cluster):
        self.outcome, self.treatment = outcome, treatment
        self.treatment_type_ = treatment_type
        self.formulas_ = formulas
        self.folds_ = folds
        self.n_folds = int(folds.max()) + 1
        self.m_hat_, self.e_hat_ = m_hat, e_hat
        self.pseudo_outcome_, self.weights_ = pseudo_outcome, weights
        self.outcome_models_, self.treatment_models_ = outcome_models, treatment_models
        self.effect_model_ = effect_model
        self.cluster = cluster
        self.data_ = data

    def _cluster(self, vcov, cluster):
        """``vcov="cluster"`` without ``cluster=``: the cluster column of the fit."""
        if isinstance(vcov, str) and vcov.lower() == "cluster" and cluster is None:
            if self.cluster is None:
                raise ValueError("vcov='cluster' needs cluster= (a column of the training "
                                 "data or one value per row); rlearner had no cluster")
            return self.cluster
        return cluster

    def cate(self, newdata=None, se: bool = False, vcov="bayes", cluster=None,
             level: float = 0.95):
        """tau(x) for the rows of ``newdata`` (default: the training rows). ``se=True``
        returns a DataFrame (cate, std_error, ci_low, ci_high) with normal intervals at
        ``level`` from the effect model's ``vcov`` (see the class caveats)."""
        data = self.data_ if newdata is None else newdata
        cluster = self._cluster(vcov, cluster)
        if not se:
            return np.asarray(self.effect_model_.predict(data)).reshape(-1)
        if not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1), got {level!r}")
        pred = self.effect_model_.predict(data, se=True, vcov=vcov, cluster=cluster)
        z = stats.norm.ppf(0.5 + level / 2)
        fit, sd = pred["fit"].to_numpy(), pred["se"].to_numpy()
        return pd.DataFrame({"cate": fit, "std_error": sd, "ci_low": fit - z * sd,
                             "ci_high": fit + z * sd}, index=getattr(data, "index", None))

    def average(self, data=None, vcov="bayes", cluster=None) -> pd.DataFrame:
        """The mean of tau(x) over the rows of ``data`` (default: the training rows: the
        sample average effect, an ATE for a binary treatment), with its delta-method SE
        sqrt(a' V a), a the mean of the effect model's design rows
        (``fc.marginal_effects(type="predict")``)."""
        data = self.data_ if data is None else check_dataframe(data)
        cluster = self._cluster(vcov, cluster)
        out = marginal_effects(self.effect_model_, type="predict", data=data, vcov=vcov,
                               cluster=cluster)
        out = out.drop(columns=["type"]).assign(term="average CATE")
        out.insert(1, "n", len(data))
        return out

    def by(self, moderator: str, bins: int | None = 4, data=None, vcov="bayes",
           cluster=None) -> pd.DataFrame:
        """Average CATE per level of ``moderator`` (any column of ``data``, default the
        training rows): one row per value for factors, booleans and numeric columns with at
        most ``bins`` distinct values, else per quantile bin (``pd.qcut(x, bins)``; ``bins=
        None`` keeps every value). Columns: moderator, level, n, estimate, std_error, z,
        p_value, ci_low, ci_high (SEs and t intervals as ``average``)."""
        data = self.data_ if data is None else check_dataframe(data)
        if not isinstance(moderator, str):
            raise TypeError(f"moderator must be a column name (str), got {moderator!r}")
        _check_present(data, [moderator], "moderator")
        check_column_values(data, moderator)
        if bins is not None:
            bins = check_int(bins, "bins", minimum=2)
        x = data[moderator]
        if bins is None or is_categorical(x) or x.nunique() <= bins:
            groups = x
        else:
            groups = pd.qcut(x, bins, duplicates="drop")
        codes, levels = pd.factorize(groups, sort=True)
        rows = []
        for code, level in enumerate(levels):
            part = self.average(data.iloc[np.flatnonzero(codes == code)], vcov=vcov,
                                cluster=cluster)
            part = part.drop(columns=["term"])
            part.insert(0, "moderator", moderator)
            if isinstance(level, pd.Interval):
                level = f"({level.left:.3g}, {level.right:.3g}]"
            part.insert(1, "level", str(level))
            rows.append(part)
        return pd.concat(rows, ignore_index=True)

    def __repr__(self) -> str:
        return (f"RLearner(outcome={self.outcome!r}, treatment={self.treatment!r} "
                f"({self.treatment_type_}), n={len(self.m_hat_)}, folds={self.n_folds}, "
                f"effect={self.formulas_['effect']!r})")
