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

from .._checks import check_array_2d, check_target_1d

__all__ = ["FitData", "NPIVEstimator", "WeakInstrumentWarning", "first_stage_f"]

# Staiger & Stock (1997) rule of thumb: a first-stage F below 10 signals weak instruments.
WEAK_F_THRESHOLD = 10.0


class WeakInstrumentWarning(UserWarning):
    """The excluded instruments barely predict a treatment column (first-stage F < 10)."""


def as_matrix(value, argname: str, n_rows: int | None = None) -> np.ndarray:
    """A finite float64 (n, d) array; a 1-D input is read as one column (n, 1)."""
    if value is None:
        raise ValueError(f"{argname} is required")
    arr = np.asarray(value)
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


def first_stage_f(treatment: np.ndarray, instrument: np.ndarray, covariates=None):
    """Partial first-stage F and R^2 of each treatment column on the excluded instruments.

    Regress ``X_k`` on ``[1, W, Z]`` (unrestricted) and on ``[1, W]`` (restricted);
    ``F = ((RSS_r - RSS_u) / q) / (RSS_u / (n - p_u))`` with ``q`` excluded instruments.
    Returns arrays ``(F, partial_R2)`` of length ``treatment.shape[1]``.
    """
    n = treatment.shape[0]
    base = np.ones((n, 1))
    if covariates is not None and covariates.shape[1]:
        base = np.column_stack([base, covariates])
    full = np.column_stack([base, instrument])
    p_u = np.linalg.matrix_rank(full)
    q = p_u - np.linalg.matrix_rank(base)
    f_stats, r2 = [], []
    for k in range(treatment.shape[1]):
        x = treatment[:, k]
        rss_u = np.sum((x - full @ np.linalg.lstsq(full, x, rcond=None)[0]) ** 2)
        rss_r = np.sum((x - base @ np.linalg.lstsq(base, x, rcond=None)[0]) ** 2)
        if q <= 0 or rss_r <= 0:
            f_stats.append(np.inf if rss_r <= 0 else 0.0)
            r2.append(1.0 if rss_r <= 0 else 0.0)
            continue
        dof = max(n - p_u, 1)
        f_stats.append(((rss_r - rss_u) / q) / max(rss_u / dof, 1e-300))
        r2.append(1.0 - rss_u / rss_r)
    return np.asarray(f_stats), np.asarray(r2)


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


class NPIVEstimator:
    """Base class: ``fit(treatment, instrument, outcome, covariates)`` / ``predict``.

    Subclasses implement ``_fit(data: FitData)`` and ``_predict(xw: ndarray) -> ndarray``.
    Fitted attributes common to all: ``n_treatments_``, ``n_covariates_``,
    ``first_stage_f_``, ``first_stage_r2_``, ``history_`` (per-step losses; empty for the
    closed-form estimators) and ``fit_time_`` is left to callers.
    """

    _params: tuple[str, ...] = ()

    # -- scikit-learn style parameter access
    def get_params(self, deep: bool = True) -> dict:
        return {name: getattr(self, name) for name in self._params}

    def set_params(self, **params):
        for name, value in params.items():
            if name not in self._params:
                raise ValueError(f"unknown parameter {name!r} for {type(self).__name__}")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

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
        w = None if covariates is None else as_matrix(covariates, "covariates", n)
        xw = x if w is None else np.column_stack([x, w])
        zw = z if w is None else np.column_stack([z, _dedupe_columns(z, w)])
        return FitData(x=x, z=z, y=y, w=w, xw=xw, zw=zw)

    def _check_identification(self, data: FitData) -> None:
        """Order condition and first-stage strength; warn rather than refuse."""
        w = data.w
        excluded = data.z if w is None else _dedupe_columns(w, data.z)
        self.first_stage_f_, self.first_stage_r2_ = first_stage_f(data.x, excluded, w)
        if excluded.shape[1] < data.x.shape[1]:
            warnings.warn(
                f"{excluded.shape[1]} excluded instrument(s) for {data.x.shape[1]} treatment "
                "column(s): h is not identified (order condition fails); results are "
                "driven by regularisation",
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
