"""mgcv's thin plate regression spline, ``s(x1, ..., xd, bs="tp", k, m)``.

Reproduces ``smooth.construct.tp.smooth.spec`` + ``smoothCon(..., absorb.cons=TRUE,
scale.penalty=TRUE)`` and ``PredictMat`` (mgcv 1.8-41; Wood 2003, JRSS-B 65(1)):

1. The covariates are centred, x <- x - shift with shift = colMeans(x) (R ``mean``).
2. Order m: the given m if 2m > d, else the smallest m with 2m > d + 1 (m=2 for
   d <= 2, m=3 for d = 3, 4); null space dimension M = choose(m + d - 1, d).
   Basis size k: default M + (8, 27, 100)[min(d, 3) - 1], i.e. 10 for d=1 (m=2),
   30 for d=2, 110 for d=3 (m=3); k < M + 1 is raised to M + 1.
3. Knots: the unique covariate rows. When there are more than ``max_knots`` data rows
   and more than ``max_knots`` unique rows, ``max_knots`` of the unique rows (taken in
   ``uniquecombs(x, ordered=TRUE)`` order) are drawn by ``set.seed(seed);
   sample(nu, max_knots)`` (``r_rng``/``r_compat``) and the spline is evaluated at the
   data through ``UZ``.
4. The truncated eigen-basis, UZ, X and S (``tprs_setup``), with columns scaled to unit
   root mean square.
5. ``smoothCon``: S <- S / maS, maS = ||S||_1 / ||X||_inf^2 (unconstrained X), then the
   sum-to-zero constraint colMeans(X) b = 0 absorbed by a Householder reflection
   (``constraint``). The result has k - 1 columns; the penalty has rank k - M and its
   null space (dimension M - 1) the non-constant polynomials of degree < m.

Deviations from mgcv: eigenvector signs (see ``tprs_setup``; fits are unaffected) and
exact rather than Lanczos eigenvectors (mgcv's tolerance is eps^0.7, so the two agree
to about 1e-9); an m with 2m <= d, or a k below M + 1, is replaced as mgcv does but
with a warning.
"""

from __future__ import annotations

import warnings

import numpy as np

from .constraint import penalty_scale, sum_to_zero_map
from .r_compat import r_col_means, r_mean, unique_rows_r
from .r_rng import r_sample
from .tprs_setup import eval_rows, truncated_basis
from .tprs_state import MAX_DIM, validated
from .tps import effective_m, null_space_dim, poly_powers

DEFAULT_K_EXTRA = (8, 27, 100)  # mgcv def.k: k = M + def.k[min(d, 3)]


def default_k(d: int, m: int | None = None) -> int:
    """mgcv's default basis size for ``s(..., bs="tp")`` with d covariates."""
    return null_space_dim(d, effective_m(d, m)) + DEFAULT_K_EXTRA[min(d, 3) - 1]


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_X(X, name: str = "X") -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty (n, d) array, got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{name} has missing or non-finite values")
    return X


def _knot_rows(xc: np.ndarray, k: int, max_knots: int, seed: int) -> np.ndarray | None:
    """mgcv's knot subsample of the unique rows, or None (the unique data rows are used)."""
    if xc.shape[0] <= max_knots:
        return None
    xu = unique_rows_r(xc)
    if xu.shape[0] <= max_knots or max_knots < k:  # tprs_setup ignores n_knots < k
        return None
    return xu[r_sample(xu.shape[0], max_knots, seed) - 1]


def _unique_sorted(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique rows in lexicographic order (mgcv ``Xd_strip``) and each row's index."""
    return np.unique(x + 0.0, axis=0, return_inverse=True)  # + 0.0 turns -0.0 into 0.0


class TPRS:
    """A fitted thin plate regression spline basis; build with ``TPRS.fit``."""

    kind = "tp"

    def __init__(self, *, d: int, m: int, k: int, max_knots: int, seed: int,
                 shift: np.ndarray, knots: np.ndarray, UZ: np.ndarray,
                 col_means: np.ndarray, raw_penalty: np.ndarray, penalty_scale: float):
        self.d, self.m, self.k = d, m, k
        self.max_knots, self.seed = max_knots, seed
        self.powers = poly_powers(d, m)
        self.raw_null_space_dim = self.powers.shape[0]
        self.shift, self.knots, self.UZ = shift, knots, UZ
        self.col_means, self.raw_penalty = col_means, raw_penalty
        self.penalty_scale = penalty_scale
        self.constraint = sum_to_zero_map(col_means)
        P = self.constraint.T @ (raw_penalty / penalty_scale) @ self.constraint
        self.penalty = 0.5 * (P + P.T)

    @property
    def n_coef(self) -> int:
        """Columns of the constrained basis, k - 1."""
        return self.k - 1

    @property
    def penalty_rank(self) -> int:
        """Rank of the penalty, k - M."""
        return self.k - self.raw_null_space_dim

    @property
    def null_space_dim(self) -> int:
        """Dimension of the penalty null space after the constraint, M - 1."""
        return self.raw_null_space_dim - 1

    @classmethod
    def fit(cls, X, k: int | None = None, m: int | None = None, max_knots: int = 2000,
            seed: int = 1, eigvec_signs=None) -> TPRS:
        """Set the basis up on the (n, d) covariates X, as mgcv does for ``s(x, bs="tp")``.

        ``eigvec_signs`` (k values of +-1) multiplies the normalised eigenvectors, to
        reproduce a particular mgcv run exactly (see ``tprs_setup``)."""
        X = _check_X(X)
        n, d = X.shape
        if d > MAX_DIM:
            raise ValueError(f"bs='tp' supports up to {MAX_DIM} covariates, got {d}")
        m = None if m is None else _positive_int(m, "m")
        m_eff = effective_m(d, m)
        if m is not None and m_eff != m:
            warnings.warn(f"m={m} needs 2m > d={d}; using mgcv's default m={m_eff}",
                          UserWarning, stacklevel=2)
        powers = poly_powers(d, m_eff)
        M = powers.shape[0]
        k = default_k(d, m_eff) if k is None else _positive_int(k, "k")
        if k < M + 1:
            warnings.warn(f"basis dimension k={k} increased to the minimum M+1={M + 1}",
                          UserWarning, stacklevel=2)
            k = M + 1
        max_knots = _positive_int(max_knots, "max_knots")
        if (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                or not -(2**31) < seed < 2**31):
            raise ValueError(f"seed must be an R integer, got {seed!r}")
        shift = np.array([r_mean(X[:, j]) for j in range(d)])
        xc = X - shift
        sub = _knot_rows(xc, k, max_knots, int(seed))
        knots, row_index = _unique_sorted(xc if sub is None else sub)
        if knots.shape[0] < k:
            raise ValueError(f"k={k} but the covariates have only {knots.shape[0]} unique "
                             f"combinations; use k <= {knots.shape[0]}")
        parts = truncated_basis(knots, k, m_eff, powers, eigvec_signs)
        UZ = parts["UZ"]
        if sub is None and parts["X_u"] is not None:
            Xr = parts["X_u"][row_index.ravel()]  # mgcv maps tied rows via Xd_strip
        else:
            Xr = eval_rows(xc, knots, UZ, m_eff, powers)
        w = np.sqrt((Xr**2).sum(axis=0) / n)
        if not np.all(w > 0):
            raise ValueError("a basis column is identically zero on the data")
        Xr /= w
        S = parts["S"] / np.outer(w, w)
        return cls(d=d, m=m_eff, k=k, max_knots=max_knots, seed=int(seed),
                   shift=shift, knots=knots, UZ=UZ / w, col_means=r_col_means(Xr),
                   raw_penalty=S, penalty_scale=penalty_scale(Xr, S))

    # ---------------------------------------------------------------- evaluation
    def raw_design(self, X) -> np.ndarray:
        """The k unconstrained basis columns at X (mgcv ``Predict.matrix.tprs.smooth``)."""
        X = _check_X(X, "X_new")
        if X.shape[1] != self.d:
            raise ValueError(f"expected {self.d} covariate column(s), got {X.shape[1]}")
        return eval_rows(X - self.shift, self.knots, self.UZ, self.m, self.powers)

    def design(self, X) -> np.ndarray:
        """The k - 1 constrained basis columns at X (mgcv ``PredictMat``)."""
        return self.raw_design(X) @ self.constraint

    # ---------------------------------------------------------------- persistence
    def state(self) -> dict:
        return {"kind": self.kind, "d": self.d, "m": self.m, "k": self.k,
                "n_knots": int(self.knots.shape[0]), "max_knots": self.max_knots,
                "seed": self.seed}

    def arrays(self) -> dict:
        return {"shift": self.shift, "knots": self.knots, "UZ": self.UZ,
                "col_means": self.col_means, "raw_penalty": self.raw_penalty,
                "penalty_scale": np.array([self.penalty_scale])}

    @classmethod
    def from_state(cls, state: dict, arrays: dict) -> TPRS:
        """Rebuild from ``state()``/``arrays()``; every value is checked, nothing is run."""
        return cls(**validated(state, arrays))
