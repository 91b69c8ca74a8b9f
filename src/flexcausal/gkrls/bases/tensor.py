"""mgcv's tensor product smooths ``te()`` and ``ti()`` (pure basis mathematics).

Reproduces mgcv 1.8-41 ``smooth.construct.tensor.smooth.spec``, ``tensor.prod.penalties``,
``tensor.prod.model.matrix``, ``Predict.matrix.tensor.smooth`` and the steps
``smoothCon(..., absorb.cons=TRUE, scale.penalty=TRUE)`` / ``PredictMat`` apply to them
(Wood 2006, Biometrics 62(4), "Low-rank scale-invariant tensor product smooths";
Wood 2017, *Generalized Additive Models*, Sec. 5.6).

For margins j = 1..m with bases X_j (n x d_j) and penalties S~_j:

1. **Margins.** ``te``: each margin is its unconstrained basis (``smooth.construct``).
   ``ti`` (mgcv ``mc = TRUE`` for every margin): each margin first has its own
   sum-to-zero constraint absorbed as ``smoothCon(absorb.cons=TRUE)`` does, X_j <- X_j Z_j,
   S~_j <- Z_j'S~_j Z_j, Z_j from the Householder reflection of colMeans(X_j)
   (``spline.sum_to_zero_householder``); rank_j <- min(rank_j, d_j), null_j <- null_j - 1.
   (smoothCon also rescales that margin's penalty; step 3 makes the scale irrelevant.)
2. **np = TRUE reparametrization** (one-dimensional margins whose coefficients are not
   already function values: mgcv skips margins flagged ``noterp``, e.g. ``cr``, whose
   coefficients are the values at the knots): with P_j the margin's basis (constrained,
   for ``ti``) at d_j points evenly spread over [min x, max x] (R ``seq``),
   XP_j = P_j^{-1} = V diag(1/s) U' from the SVD P_j = U diag(s) V', and
   X_j <- X_j XP_j, S~_j <- XP_j'S~_j XP_j: the coefficients become the function's values
   at those points. If s_min / s_max < eps^0.66 mgcv warns and leaves the margin alone.
3. **Normalisation:** S~_j <- S~_j / (largest eigenvalue of S~_j).
4. **Products.** X = X_1 (*) ... (*) X_m, the row-wise Kronecker product (column
   (i_1, ..., i_m) = prod_j X_j[:, i_j], the first margin's index slowest), and
   S_j = I_{d_1} x ... x S~_j x ... x I_{d_m} (symmetrised (S + S')/2), one penalty and
   one smoothing parameter per margin, all acting on the same coefficients (the REML
   core handles such overlapping penalties, reparam.py). rank(S_j) = rank_j prod_{i!=j}
   d_i; the null space of sum_j S_j has dimension prod_j null_j.
5. **smoothCon** (``TensorSmooth``): S_j <- S_j / maS_j, maS_j = ||S_j||_1 / ||X||_inf^2 on
   the unconstrained X (``S.scale``); for ``te`` the sum-to-zero constraint
   colMeans(X) b = 0 is absorbed (X <- X Z, S_j <- Z'S_j Z, ranks min(rank_j, p - 1),
   null space dimension - 1); ``ti`` is identifiable through its margins and gets none.

``TensorBasis`` (steps 1-4) follows the engine's ``Basis`` protocol (terms/smooth.py:
``n_raw``, ``raw_penalties``, ``raw_ranks``, ``own_constraint``, ``fit``, ``design``), so a
``SmoothTerm`` applies step 5 itself; ``TensorSmooth`` applies it here, for callers and
tests that want mgcv's finished smooth without a data frame.

Marginal bases follow the small ``Marginal`` protocol below: ``CRMargin`` (mgcv
``bs="cr"``, the default margin of ``te``) is built on spline.py; ``TPMargin`` adapts
bases/tprs.TPRS (``bs="tp"``). State is JSON-able (``state``) plus float64 arrays
(``arrays``); ``from_state`` looks classes up by name in ``MARGINS`` and validates every
shape; nothing is evaluated.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from .. import schema as sc
from ..spline import sum_to_zero_householder
from .cr import CRBasis

SVD_TOL = np.finfo(float).eps ** 0.66  # mgcv: reparameterization unstable below this
MAX_MARGINS = 10


class Marginal(Protocol):
    """One margin of a tensor product (mgcv ``smooth.construct`` of the marginal smooth).

    ``fit`` sets the basis up on the (n, n_dims) covariates in place; ``design`` gives the
    *unconstrained* basis at new covariates (d = ``k`` columns); ``penalty`` its single
    penalty (k x k) of rank ``rank`` with a null space of dimension ``null_dim``.
    ``interpolating``: the coefficients are already function values (mgcv ``noterp``),
    so the np reparametrization is skipped.
    """

    kind: str
    n_dims: int
    interpolating: bool
    k: int
    penalty: np.ndarray
    rank: int
    null_dim: int

    def fit(self, X: np.ndarray) -> None: ...

    def design(self, X: np.ndarray) -> np.ndarray: ...

    def state(self) -> dict: ...

    def arrays(self) -> dict: ...


class CRMargin(CRBasis):
    """mgcv ``s(x, bs="cr", k)`` as a margin (the ``s()`` basis of bases/cr.py): values
    at the knots as coefficients (``noterp``), penalty int f''^2 of rank k - 2."""

    interpolating = True

    def __init__(self, k: int = 5):
        if isinstance(k, bool) or int(k) != k or k < 3:
            raise ValueError(f"bs='cr' needs an integer k >= 3, got {k!r}")
        super().__init__(int(k))
        self.rank, self.null_dim = self.k - 2, 2
        self.knots: np.ndarray | None = None

    def _set_penalty(self) -> None:
        super()._set_penalty()
        self.penalty = self.raw_penalties[0]

    def design(self, X: np.ndarray) -> np.ndarray:
        return super().design(np.asarray(X, dtype=float))


class TPMargin:
    """mgcv ``s(x..., bs="tp", k, m)`` as a margin: the unconstrained thin plate
    regression spline of bases/tprs.py (imported when used)."""

    kind = "tp"
    interpolating = False

    def __init__(self, k: int | None = None, m: int | None = None, n_dims: int = 1):
        self.k_arg, self.m_arg, self.n_dims = k, m, int(n_dims)
        self.tprs = None

    def _set(self, tprs) -> None:
        from .tps import null_space_dim

        self.tprs = tprs
        self.k = tprs.k
        self.null_dim = null_space_dim(tprs.d, tprs.m)
        self.rank = self.k - self.null_dim
        self.penalty = tprs.raw_penalty

    def fit(self, X: np.ndarray) -> None:
        from .tprs import TPRS

        self._set(TPRS.fit(X, k=self.k_arg, m=self.m_arg))

    def design(self, X: np.ndarray) -> np.ndarray:
        return self.tprs.raw_design(X)

    def state(self) -> dict:
        return {"kind": self.kind, "tprs": self.tprs.state()}

    def arrays(self) -> dict:
        return self.tprs.arrays()

    @classmethod
    def from_state(cls, state: dict, arrays: dict) -> TPMargin:
        from .tprs import TPRS

        sc.keys(state, {"kind", "tprs"}, "margin")
        tprs = TPRS.from_state(state["tprs"], arrays)
        margin = cls(tprs.k, tprs.m, tprs.d)
        margin._set(tprs)
        return margin


MARGINS: dict[str, type] = {"cr": CRMargin, "tp": TPMargin}


# ----------------------------------------------------------------- the pieces
def r_seq(lo: float, hi: float, n: int) -> np.ndarray:
    """R ``seq(lo, hi, length.out = n)``: c(lo, lo + (1:(n-2)) * ((hi - lo)/(n-1)), hi)."""
    if n == 1:
        return np.array([lo])
    if lo == hi:
        return np.full(n, lo)
    by = (hi - lo) / (n - 1)
    return np.concatenate([[lo], lo + np.arange(1, n - 1) * by, [hi]])


def row_kronecker(mats: Sequence[np.ndarray]) -> np.ndarray:
    """Row-wise Kronecker product (mgcv ``tensor.prod.model.matrix``): column
    (i_1, ..., i_m) = prod_j X_j[:, i_j], the first matrix's index varying slowest."""
    T = mats[0]
    for M in mats[1:]:
        T = (T[:, :, None] * M[:, None, :]).reshape(T.shape[0], -1)
    return T


def kronecker_penalties(S: Sequence[np.ndarray]) -> list[np.ndarray]:
    """mgcv ``tensor.prod.penalties``: S_j = I x .. x S~_j x .. x I, symmetrised."""
    if len(S) == 1:
        return [S[0]]
    out = []
    for j in range(len(S)):
        M = S[0] if j == 0 else np.eye(S[0].shape[0])
        for i in range(1, len(S)):
            M = np.kron(M, S[i] if i == j else np.eye(S[i].shape[0]))
        out.append(0.5 * (M + M.T))
    return out


def np_reparametrization(margin, x: np.ndarray, Z: np.ndarray | None) -> np.ndarray | None:
    """XP = P^{-1} (mgcv: V diag(1/s) U'), P the (constrained) margin at d points evenly
    spread over [min x, max x]; None (with mgcv's warning) when P is near singular."""
    d = margin.k if Z is None else Z.shape[1]
    pts = r_seq(float(np.min(x)), float(np.max(x)), d)
    P = margin.design(pts[:, None])
    if Z is not None:
        P = P @ Z
    U, s, Vt = np.linalg.svd(P)
    if s[-1] / s[0] < SVD_TOL:
        warnings.warn("reparameterization unstable for margin: not done", UserWarning,
                      stacklevel=3)
        return None
    return Vt.T @ (U.T / s[:, None])


# ------------------------------------------------------------------ the basis
class TensorBasis:
    """The unconstrained tensor product basis of ``te`` (``inter=False``) or ``ti``
    (``inter=True``), steps 1-4 of the module docstring; the engine's ``Basis``
    protocol. Build with ``TensorBasis(margins, inter)`` and ``fit(X)``, X the
    (n, n_dims) covariates, margins' columns side by side in order.
    """

    kind = "tensor"

    def __init__(self, margins: Sequence, inter: bool = False, np_reparam: bool = True):
        if not 1 <= len(margins) <= MAX_MARGINS:
            raise ValueError(f"a tensor product needs 1 to {MAX_MARGINS} margins")
        self.margins = list(margins)
        self.inter, self.np_reparam = bool(inter), bool(np_reparam)
        self.own_constraint = self.inter
        self.n_dims = sum(m.n_dims for m in self.margins)
        self.Z: list[np.ndarray | None] = [None] * len(self.margins)
        self.XP: list[np.ndarray | None] = [None] * len(self.margins)

    # --------------------------------------------------------------- set up
    def _split(self, X: np.ndarray) -> list[np.ndarray]:
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != self.n_dims:
            raise ValueError(f"expected {self.n_dims} covariate column(s), got shape "
                             f"{X.shape}")
        bounds = np.cumsum([0] + [m.n_dims for m in self.margins])
        return [X[:, a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]

    def fit(self, X: np.ndarray) -> None:
        parts = self._split(X)
        S_marg, ranks, nulls = [], [], []
        for j, (margin, Xj) in enumerate(zip(self.margins, parts, strict=True)):
            margin.fit(Xj)
            S = margin.penalty
            rank, null = margin.rank, margin.null_dim
            Z = None
            if self.inter:  # mgcv mc: the margin's own sum-to-zero constraint
                Z = sum_to_zero_householder(margin.design(Xj).mean(axis=0))
                S = Z.T @ S @ Z
                rank, null = min(rank, Z.shape[1]), max(0, null - 1)
            XP = None
            if self.np_reparam and margin.n_dims == 1 and not margin.interpolating:
                XP = np_reparametrization(margin, Xj[:, 0], Z)
                if XP is not None:
                    S = XP.T @ S @ XP
            self.Z[j], self.XP[j] = Z, XP
            S_marg.append(S / np.linalg.eigvalsh(0.5 * (S + S.T))[-1])
            ranks.append(rank)
            nulls.append(null)
        self._set(S_marg, ranks, nulls)

    def _set(self, S_marg, ranks, nulls) -> None:
        self.marginal_penalties = S_marg
        dims = [S.shape[0] for S in S_marg]
        self.marginal_dims = dims
        self.n_raw = int(np.prod(dims))
        self.raw_penalties = kronecker_penalties(S_marg)
        self.raw_ranks = [int(r * self.n_raw // d) for r, d in zip(ranks, dims, strict=True)]
        self.marginal_ranks, self.marginal_nulls = list(ranks), list(nulls)
        self.null_space_dim = int(np.prod(nulls))

    # ----------------------------------------------------------- evaluation
    def marginal_designs(self, X: np.ndarray) -> list[np.ndarray]:
        """Each margin's (constrained, reparametrized) basis at X."""
        out = []
        for margin, Xj, Z, XP in zip(self.margins, self._split(X), self.Z, self.XP,
                                     strict=True):
            B = margin.design(Xj)
            if Z is not None:
                B = B @ Z
            if XP is not None:
                B = B @ XP
            out.append(B)
        return out

    def design(self, X: np.ndarray) -> np.ndarray:
        """The n_raw unconstrained tensor product columns at X (mgcv
        ``Predict.matrix.tensor.smooth``)."""
        return row_kronecker(self.marginal_designs(X))

    # ---------------------------------------------------------- persistence
    def state(self) -> dict:
        return {"kind": self.kind, "inter": self.inter, "np": self.np_reparam,
                "margins": [m.state() for m in self.margins],
                "ranks": self.marginal_ranks, "nulls": self.marginal_nulls}

    def arrays(self) -> dict:
        out = {}
        for j, margin in enumerate(self.margins):
            out.update({f"m{j}_{key}": v for key, v in margin.arrays().items()})
            out[f"S{j}"] = self.marginal_penalties[j]
            if self.Z[j] is not None:
                out[f"Z{j}"] = self.Z[j]
            if self.XP[j] is not None:
                out[f"XP{j}"] = self.XP[j]
        return out

    @classmethod
    def from_state(cls, state: dict, arrays: dict, path: str = "basis") -> TensorBasis:
        """Rebuild from ``state()``/``arrays()``: margins by name from ``MARGINS``, every
        array's shape checked against the margins; nothing is evaluated."""
        sc.keys(state, {"kind", "inter", "np", "margins", "ranks", "nulls"}, path)
        sc.choice(state["kind"], (cls.kind,), f"{path}.kind")
        for key in ("inter", "np"):
            if not isinstance(state[key], bool):
                raise sc.where(f"{path}.{key}", "must be true or false")
        specs = state["margins"]
        if not isinstance(specs, list) or not 1 <= len(specs) <= MAX_MARGINS:
            raise sc.where(f"{path}.margins", f"must be a list of 1 to {MAX_MARGINS} margins")
        margins, used = [], set()
        for j, spec in enumerate(specs):
            if not isinstance(spec, dict):
                raise sc.where(f"{path}.margins[{j}]", "must be an object")
            kind = sc.choice(spec.get("kind"), tuple(MARGINS), f"{path}.margins[{j}].kind")
            prefix = f"m{j}_"
            sub = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
            margins.append(MARGINS[kind].from_state(spec, sub))
            used.update(prefix + k for k in sub)
        basis = cls(margins, state["inter"], state["np"])
        ranks, nulls = state["ranks"], state["nulls"]
        S_marg = []
        for j, margin in enumerate(margins):
            k = margin.k
            d = k - 1 if basis.inter else k
            if basis.inter:
                basis.Z[j] = sc.array_of(arrays, f"Z{j}", (k, d))
                used.add(f"Z{j}")
            if f"XP{j}" in arrays:
                if margin.interpolating or margin.n_dims != 1 or not basis.np_reparam:
                    raise sc.Invalid(f"array XP{j} given for a margin that is not "
                                     "reparametrized")
                basis.XP[j] = sc.array_of(arrays, f"XP{j}", (d, d))
                used.add(f"XP{j}")
            S = sc.array_of(arrays, f"S{j}", (d, d))
            if not np.allclose(S, S.T, rtol=0, atol=1e-12 * np.abs(S).max()):
                raise sc.Invalid(f"array S{j} is not symmetric")
            S_marg.append(S)
            used.add(f"S{j}")
        for name, value, lo in (("ranks", ranks, 1), ("nulls", nulls, 0)):
            if (not isinstance(value, list) or len(value) != len(margins)
                    or not all(isinstance(r, int) and not isinstance(r, bool)
                               and lo <= r <= S.shape[0]
                               for r, S in zip(value, S_marg, strict=True))):
                raise sc.where(f"{path}.{name}", "must be one integer per margin, within "
                               "the margin's dimension")
        if set(arrays) != used:
            raise sc.Invalid(f"{path} has unexpected arrays "
                             f"{sorted(set(arrays) - used)[:5]}")
        basis._set(S_marg, list(ranks), list(nulls))
        return basis


def make_margins(n_vars: int, k=None, bs="cr") -> list:
    """mgcv ``te()`` defaults: one margin per covariate, bs="cr", k=5 each; ``k`` and
    ``bs`` a single value or one per margin."""
    ks = [None] * n_vars if k is None else (list(k) if np.ndim(k) else [k] * n_vars)
    bss = list(bs) if not isinstance(bs, str) else [bs] * n_vars
    if len(ks) != n_vars or len(bss) != n_vars:
        raise ValueError(f"give k and bs once or once per margin ({n_vars})")
    out = []
    for kk, b in zip(ks, bss, strict=True):
        if b == "cr":
            out.append(CRMargin(5 if kk is None else kk))
        elif b == "tp":
            out.append(TPMargin(5 if kk is None else kk))
        else:
            raise ValueError(f"unknown margin basis {b!r}; expected 'cr' or 'tp'")
    return out


# ----------------------------------------------------------- mgcv smoothCon
class TensorSmooth:
    """``smoothCon(te(...) or ti(...), absorb.cons=TRUE, scale.penalty=TRUE)``: the
    finished smooth (module docstring, step 5). ``design(cols)`` is ``PredictMat``."""

    def __init__(self, basis: TensorBasis, kind: str, Z: np.ndarray,
                 penalties: list[np.ndarray], S_scale: np.ndarray):
        self.basis, self.kind, self.Z = basis, kind, Z
        self.penalties, self.S_scale = penalties, np.asarray(S_scale, dtype=float)
        self.n_coef = Z.shape[1]
        constrained = Z.shape[1] < Z.shape[0]
        self.penalty_ranks = [min(r, self.n_coef) for r in basis.raw_ranks]
        self.null_space_dim = max(0, basis.null_space_dim - int(constrained))

    @classmethod
    def fit(cls, cols: Sequence[np.ndarray], margins: Sequence | None = None,
            kind: str = "te", k=None, bs="cr", np_reparam: bool = True) -> TensorSmooth:
        """Set up ``te``/``ti`` on covariate columns ``cols`` (one array per covariate;
        a margin of several covariates takes consecutive ones). ``margins`` default to
        ``make_margins(len(cols), k, bs)``."""
        if kind not in ("te", "ti"):
            raise ValueError(f"kind must be 'te' or 'ti', got {kind!r}")
        X = np.column_stack([np.asarray(c, dtype=float) for c in cols])
        if margins is None:
            margins = make_margins(X.shape[1], k, bs)
        basis = TensorBasis(margins, inter=kind == "ti", np_reparam=np_reparam)
        basis.fit(X)
        B = basis.design(X)
        max_row = np.abs(B).sum(axis=1).max()
        S_scale = np.array([np.abs(S).sum(axis=0).max() / max_row**2
                            for S in basis.raw_penalties])
        Z = (np.eye(basis.n_raw) if basis.inter
             else sum_to_zero_householder(B.mean(axis=0)))
        penalties = [Z.T @ (S / s) @ Z for S, s in zip(basis.raw_penalties, S_scale,
                                                       strict=True)]
        return cls(basis, kind, Z, penalties, S_scale)

    def design(self, cols: Sequence[np.ndarray]) -> np.ndarray:
        """The model matrix at new covariate values (mgcv ``PredictMat``)."""
        return self.basis.design(np.column_stack([np.asarray(c, dtype=float)
                                                  for c in cols])) @ self.Z

    def state(self) -> dict:
        return {"kind": self.kind, "basis": self.basis.state(),
                "S_scale": [float(s) for s in self.S_scale]}

    def arrays(self) -> dict:
        out = {f"b_{k}": v for k, v in self.basis.arrays().items()}
        out["Z"] = self.Z
        out.update({f"P{j}": S for j, S in enumerate(self.penalties)})
        return out

    @classmethod
    def from_state(cls, state: dict, arrays: dict, path: str = "smooth") -> TensorSmooth:
        sc.keys(state, {"kind", "basis", "S_scale"}, path)
        kind = sc.choice(state["kind"], ("te", "ti"), f"{path}.kind")
        basis = TensorBasis.from_state(
            state["basis"], {k[2:]: v for k, v in arrays.items() if k.startswith("b_")},
            f"{path}.basis")
        if basis.inter != (kind == "ti"):
            raise sc.where(f"{path}.kind", "does not match the basis")
        q = basis.n_raw
        Z = sc.array_of(arrays, "Z", (q, q if basis.inter else q - 1))
        m = Z.shape[1]
        n_pen = len(basis.raw_penalties)
        penalties = [sc.array_of(arrays, f"P{j}", (m, m)) for j in range(n_pen)]
        scale = state["S_scale"]
        if not isinstance(scale, list) or len(scale) != n_pen:
            raise sc.where(f"{path}.S_scale", "must be one number per penalty")
        scale = [sc.number(s, f"{path}.S_scale", positive=True) for s in scale]
        expected = {"Z", *(f"P{j}" for j in range(n_pen))} | {
            f"b_{k}" for k in basis.arrays()}
        if set(arrays) != expected:
            raise sc.Invalid(f"{path} has arrays {sorted(arrays)[:8]}, expected "
                             f"{sorted(expected)[:8]}")
        return cls(basis, kind, Z, penalties, np.array(scale))
