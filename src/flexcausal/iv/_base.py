"""Common API of the NPIV estimators: input validation, standardisation, weak-IV check.

Every estimator solves the nonparametric IV equation (slides, "NPIV")

    E[Y | Z] = E[h(X) | Z],

for the structural function ``h``. Exogenous covariates ``W`` enter both stages: the
structural function is ``h(X, W)`` and the first stage conditions on ``(Z, W)``. Columns
of ``W`` that already appear verbatim in ``Z`` (the demand design passes ``t`` and ``S``
as both) are used once.

``fit(treatment=X, instrument=Z, outcome=Y, covariates=W)`` validates once here; the
numerical code in the subclasses receives clean float64 arrays.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .._checks import as_float_array, check_array_2d, check_target_1d
from .._params import ParamsMixin

__all__ = ["FirstStage", "FitData", "NPIVEstimator", "WeakInstrumentWarning", "first_stage",
           "first_stage_f"]

# Staiger & Stock (1997) rule of thumb: a first-stage F below 10 signals weak instruments.
WEAK_F_THRESHOLD = 10.0


class WeakInstrumentWarning(UserWarning):
    """The excluded instruments barely predict a treatment column (first-stage F < 10)."""


def as_matrix(value, argname: str, n_rows: int | None = None) -> np.ndarray:
    """A finite float64 (n, d) array; a 1-D input is read as one column (n, 1)."""
    if value is None:
        raise ValueError(f"{argname} is required")
    arr = as_float_array(value, argname)
    if arr.ndim == 1:
        arr = arr[:, None]
    elif arr.ndim == 0 or arr.ndim > 2:
        raise ValueError(f"{argname} must be 1-D or 2-D (n_samples, n_features), got {arr.ndim}-D")
    arr = check_array_2d(arr, argname)
    if n_rows is not None and arr.shape[0] != n_rows:
        raise ValueError(
            f"{argname} has {arr.shape[0]} rows but treatment has {n_rows}; "
            "all inputs must describe the same units"
        )
    return arr


def _centred_unit(data: np.ndarray | None, n: int) -> np.ndarray:
    """Centred columns scaled to unit standard deviation; constant columns are dropped (the
    intercept spans them). Column spaces are unchanged, so projections are too, but
    regressors in wildly different units (or with a huge offset) no longer lose digits."""
    if data is None or data.shape[1] == 0:
        return np.empty((n, 0))
    centred = data - data.mean(axis=0)
    sd = np.sqrt(np.mean(centred**2, axis=0))
    keep = sd > 1e-12 * np.maximum(np.abs(data).max(axis=0), 1e-300)
    return centred[:, keep] / sd[keep]


def _orthonormal_basis(data: np.ndarray, rtol: float = 1e-10) -> np.ndarray:
    """Orthonormal basis (n, r) of the span of ``data``, whose columns have norm about
    sqrt(n): directions with singular value below ``rtol * sqrt(n)`` are numerically absent."""
    n = data.shape[0]
    if data.shape[1] == 0:
        return np.empty((n, 0))
    u, s, _ = np.linalg.svd(data, full_matrices=False)
    return u[:, s > rtol * np.sqrt(n)]


@dataclass
class FirstStage:
    """Partial first-stage statistics of each treatment column (see ``first_stage_f``)."""

    f: np.ndarray  # partial F per treatment column (nan: undefined, df_resid <= 0)
    r2: np.ndarray  # partial R^2 per treatment column (nan: nothing left after W)
    n_excluded: int  # q: instruments linearly independent of [1, W]
    df_resid: int  # n - 1 - rank(W) - q
    residual_share: np.ndarray  # RSS_r / TSS: the treatment's variance left after [1, W]


def first_stage(treatment: np.ndarray, instrument: np.ndarray, covariates=None) -> FirstStage:
    """The computation behind ``first_stage_f``, with its degrees of freedom."""
    x = np.asarray(treatment, dtype=np.float64)
    x = x[:, None] if x.ndim == 1 else x
    n = x.shape[0]
    w = _orthonormal_basis(_centred_unit(covariates, n))
    z = _centred_unit(np.asarray(instrument, dtype=np.float64).reshape(n, -1), n)
    z = z - w @ (w.T @ z)  # Frisch-Waugh: the instruments' part not in [1, W]
    qz = _orthonormal_basis(z)
    q = qz.shape[1]
    df_resid = n - 1 - w.shape[1] - q
    f_stats, r2, share = [], [], []
    for k in range(x.shape[1]):
        xc = x[:, k] - x[:, k].mean()
        tss = float(xc @ xc)
        xr = xc - w @ (w.T @ xc)
        rss_r = float(xr @ xr)
        share.append(rss_r / tss if tss > 0 else 0.0)
        if tss == 0 or rss_r <= 1e-20 * tss:  # nothing left for the instruments to explain
            f_stats.append(np.nan)
            r2.append(np.nan)
            continue
        coef = qz.T @ xr
        ess = float(coef @ coef)  # both sums of squares are >= 0 by construction
        resid = xr - qz @ coef
        rss_u = float(resid @ resid)
        r2.append(min(ess / rss_r, 1.0))
        if q == 0:
            f_stats.append(0.0)
        elif df_resid <= 0:
            f_stats.append(np.nan)
        elif rss_u <= 1e-28 * rss_r:
            f_stats.append(np.inf)
        else:
            f_stats.append((ess / q) / (rss_u / df_resid))
    return FirstStage(np.asarray(f_stats), np.asarray(r2), q, df_resid, np.asarray(share))


def first_stage_f(treatment: np.ndarray, instrument: np.ndarray, covariates=None):
    """Partial first-stage F and R^2 of each treatment column on the excluded instruments.

    Regress ``X_k`` on ``[1, W, Z]`` (unrestricted) and on ``[1, W]`` (restricted);
    ``F = ((RSS_r - RSS_u) / q) / (RSS_u / (n - p_u))`` with ``q`` = rank of the instruments
    beyond ``[1, W]`` and ``p_u`` = rank of ``[1, W, Z]``: the classical F test that the
    excluded instruments' coefficients are zero (statsmodels' ``compare_f_test``).
    Computed by Frisch-Waugh on centred, unit-scaled columns with orthonormal bases, so
    ``RSS_r - RSS_u`` is a sum of squares (never negative, whatever the units or offsets).
    Returns arrays ``(F, partial_R2)`` of length ``treatment.shape[1]``; F is 0 when no
    instrument is left beyond ``W``, and nan where undefined (``n - p_u <= 0``, or a treatment
    column with no variation left after ``[1, W]``).
    """
    stage = first_stage(treatment, instrument, covariates)
    return stage.f, stage.r2


def _check_varies(data: np.ndarray, argname: str, why: str) -> None:
    """ValueError naming the first constant column of ``data``."""
    for j in range(data.shape[1]):
        col = data[:, j]
        if np.all(col == col[0]):
            raise ValueError(f"{argname} column {j} is constant ({col[0]:g}): {why}")


def _dedupe_columns(base: np.ndarray, extra: np.ndarray) -> np.ndarray:
    """Columns of ``extra`` that are not exact copies of a column of ``base``."""
    keep = [j for j in range(extra.shape[1])
            if not any(np.array_equal(extra[:, j], base[:, i]) for i in range(base.shape[1]))]
    return extra[:, keep]


@dataclass
class FitData:
    """Validated float64 inputs. ``xw = [X, W]`` feeds h; ``zw = [Z, W']`` feeds stage 1."""

    x: np.ndarray
    z: np.ndarray
    y: np.ndarray
    w: np.ndarray | None
    xw: np.ndarray
    zw: np.ndarray


class NPIVEstimator(ParamsMixin):
    """Base class: ``fit(treatment, instrument, outcome, covariates)`` / ``predict``.

    Subclasses implement ``_fit(data: FitData)`` and ``_predict(xw: ndarray) -> ndarray``.
    Fitted attributes common to all: ``n_treatments_``, ``n_covariates_``,
    ``first_stage_f_``, ``first_stage_r2_``, ``history_`` (per-step losses; empty for the
    closed-form estimators) and ``fit_time_`` is left to callers.
    """

    # -- validation
    def _validate(self) -> None:
        """Check hyper-parameters (called at the start of fit). Subclasses extend."""

    @staticmethod
    def _check_inputs(treatment, instrument, outcome, covariates) -> FitData:
        x = as_matrix(treatment, "treatment")
        n = x.shape[0]
        z = as_matrix(instrument, "instrument", n)
        y = check_target_1d(outcome, n, "outcome")
        if n < 10:
            raise ValueError(f"need at least 10 observations, got {n}")
        _check_varies(x, "treatment", "h cannot be learned from a treatment that does not "
                      "vary; drop the column")
        _check_varies(z, "instrument", "a constant instrument carries no information about "
                      "the treatment; drop the column")
        w = None if covariates is None else as_matrix(covariates, "covariates", n)
        xw = x if w is None else np.column_stack([x, w])
        zw = z if w is None else np.column_stack([z, _dedupe_columns(z, w)])
        return FitData(x=x, z=z, y=y, w=w, xw=xw, zw=zw)

    def _check_identification(self, data: FitData) -> None:
        """Order condition and first-stage strength: raise where h cannot be identified at
        all (no instrument beyond the covariates, a treatment column that is a function of
        the covariates), warn where it is weakly identified."""
        stage = first_stage(data.x, data.z, data.w)
        self.first_stage_f_, self.first_stage_r2_ = stage.f, stage.r2
        if stage.n_excluded == 0:
            raise ValueError(
                "no excluded instrument: every instrument column is a linear combination of "
                "the covariates and the intercept, so h is not identified; pass at least one "
                "instrument that is not also a covariate"
            )
        flat = np.flatnonzero(np.isnan(stage.r2))
        if flat.size:
            raise ValueError(
                f"treatment column {flat[0]} is a linear combination of the covariates (it "
                "does not vary once they are held fixed), so its effect cannot be separated from "
                "theirs; drop it from treatment or from covariates"
            )
        d_x = data.x.shape[1]
        if stage.n_excluded < d_x:
            warnings.warn(
                f"{stage.n_excluded} excluded instrument(s) for {d_x} treatment column(s): h "
                "is not identified (order condition fails); results are driven by "
                "regularisation. Add instruments or drop treatment columns.",
                WeakInstrumentWarning,
                stacklevel=3,
            )
        if stage.df_resid <= 0:
            warnings.warn(
                f"the first stage has {data.x.shape[0]} rows but 1 + {data.z.shape[1]} "
                f"instrument + {0 if data.w is None else data.w.shape[1]} covariate columns: "
                "it reproduces the treatment exactly (no residual degrees of freedom, the "
                "first-stage F is undefined) and 2SLS collapses to the biased regression of Y "
                "on X. Use fewer instruments or more rows.",
                WeakInstrumentWarning,
                stacklevel=3,
            )
        weak = np.flatnonzero(self.first_stage_f_ < WEAK_F_THRESHOLD)
        if weak.size:
            detail = ", ".join(
                f"column {k}: F = {self.first_stage_f_[k]:.2f}, "
                f"partial R^2 = {self.first_stage_r2_[k]:.4f}"
                for k in weak
            )
            warnings.warn(
                f"weak instrument: the first stage (linear) barely predicts the treatment "
                f"({detail}; rule of thumb F >= {WEAK_F_THRESHOLD:g}). Estimates of h may be "
                "unreliable and close to the biased regression of Y on X.",
                WeakInstrumentWarning,
                stacklevel=3,
            )

    def fit(self, treatment, instrument, outcome, covariates=None):
        """Estimate h from ``treatment`` X (n, d_x), ``instrument`` Z (n, d_z), ``outcome``
        Y (n,) and optional exogenous ``covariates`` W (n, d_w). 1-D arrays are one column.
        Returns ``self``."""
        self._validate()
        data = self._check_inputs(treatment, instrument, outcome, covariates)
        self._check_identification(data)
        self.n_treatments_ = data.x.shape[1]
        self.n_covariates_ = 0 if data.w is None else data.w.shape[1]
        self.history_ = {}
        self._fit(data)
        self.is_fitted_ = True
        return self

    def predict(self, treatment, covariates=None) -> np.ndarray:
        """The structural function h(x[, w]) at new points, shape (n_new,)."""
        if not getattr(self, "is_fitted_", False):
            raise RuntimeError(f"{type(self).__name__} is not fitted yet; call fit() first")
        x = as_matrix(treatment, "treatment")
        if x.shape[1] != self.n_treatments_:
            raise ValueError(
                f"treatment has {x.shape[1]} column(s); the model was fitted with "
                f"{self.n_treatments_}"
            )
        if self.n_covariates_:
            if covariates is None:
                raise ValueError(
                    f"covariates are required: the model was fitted with {self.n_covariates_}"
                )
            w = as_matrix(covariates, "covariates", x.shape[0])
            if w.shape[1] != self.n_covariates_:
                raise ValueError(
                    f"covariates have {w.shape[1]} column(s); the model was fitted with "
                    f"{self.n_covariates_}"
                )
            x = np.column_stack([x, w])
        elif covariates is not None:
            raise ValueError("covariates were not used in fit; pass covariates=None")
        return np.asarray(self._predict(x), dtype=np.float64).reshape(-1)

    # -- to implement
    def _fit(self, data: FitData) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _predict(self, xw: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


class Standardizer:
    """Column-wise centring and scaling fitted on training data (constant columns kept)."""

    def __init__(self, data: np.ndarray, enabled: bool = True):
        """``enabled=False`` gives the identity map (raw inputs), with the same interface."""
        d = data.shape[1]
        self.mean = data.mean(axis=0) if enabled else np.zeros(d)
        std = data.std(axis=0) if enabled else np.ones(d)
        self.std = np.where(std > 0, std, 1.0)

    def __call__(self, data: np.ndarray) -> np.ndarray:
        return (data - self.mean) / self.std

    def inverse(self, data: np.ndarray) -> np.ndarray:
        return data * self.std + self.mean


def split_indices(n: int, fraction: float, rng: np.random.Generator):
    """Random split into stage-1 (``fraction`` of n) and stage-2 index sets (DFIV/KIV style)."""
    perm = rng.permutation(n)
    n1 = int(round(fraction * n))
    n1 = min(max(n1, 2), n - 2)
    return np.sort(perm[:n1]), np.sort(perm[n1:])


def check_fraction(value, argname: str) -> float:
    """A number strictly between 0 and 1."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{argname} must be a number in (0, 1), got {type(value).__name__}")
    if not (0.0 < float(value) < 1.0):
        raise ValueError(f"{argname} must be in (0, 1), got {value}")
    return float(value)
