"""Penalized smooths built the way mgcv's ``smoothCon`` builds them, for any basis.

A ``Basis`` (cr, tp, tensor products, ...) gives the unconstrained columns and raw
penalties of a smooth of d covariates. ``SmoothTerm`` then applies what mgcv applies to
every smooth (mgcv 1.8-41 ``smoothCon(absorb.cons=TRUE, scale.penalty=TRUE)``):

1. penalty rescaling: S_j <- S_j ||X||_inf^2 / ||S_j||_1 on the raw basis X;
2. the sum-to-zero identifiability constraint C = colMeans(X) (unless the basis carries
   its own, like ``ti``), absorbed by the Householder reflection of C' (Z: X <- X Z,
   S_j <- Z'S_j Z);
3. ``by=``: a numeric ``by`` multiplies the columns row-wise and, when not constant,
   drops the constraint (the smooth is then identifiable); a factor ``by`` gives one
   smooth per level (indicator times the constrained columns), labelled
   ``s(x):flevel``, each with its own smoothing parameters.
"""

from __future__ import annotations

import copy
from typing import Protocol

import numpy as np
import pandas as pd

from ..._frames import numeric_column
from .. import schema as sc
from ..bases.constraint import sum_to_zero_map
from .base import Term, is_number_like, rescale_penalty

ROW_BLOCK = 50_000


class Basis(Protocol):
    """The unconstrained basis of one smooth (mgcv ``smooth.construct``)."""

    kind: str
    n_raw: int  # columns before the constraint
    raw_penalties: list[np.ndarray]
    raw_ranks: list[int]
    own_constraint: bool  # True: the basis is already identifiable (``ti``)

    def fit(self, X: np.ndarray) -> None: ...

    def design(self, X: np.ndarray) -> np.ndarray: ...

    def state(self) -> dict: ...

    def arrays(self) -> dict: ...


class SmoothTerm(Term):
    """A smooth of ``columns`` on a ``Basis``, with mgcv's constraint, scaling and by."""

    kind = "smooth"
    BASES: dict = {}  # basis kind -> class with fit/design/state/arrays/from_state

    def __init__(self, columns: list[str], basis, label: str, by: str | None = None,
                 by_level: str | None = None):
        super().__init__()
        self.columns = list(columns)
        self.basis = basis
        self.base_label = label
        self.by, self.by_level = by, by_level
        self.label = label if by is None else (
            f"{label}:{by}" if by_level is None else f"{label}:{by}{by_level}")
        self.reads = self.columns + ([by] if by is not None else [])

    # ------------------------------------------------------------------ by=
    def resolve(self, data: pd.DataFrame) -> list[Term]:
        if self.by is None or self.by_level is not None:
            return [self]
        series = data[self.by]
        if is_number_like(series) and not isinstance(series.dtype, pd.CategoricalDtype):
            return [self]
        if isinstance(series.dtype, pd.CategoricalDtype):
            levels = [str(c) for c in series.cat.categories]
            if series.cat.ordered and len(levels) > 1:
                levels = levels[1:]  # mgcv: an ordered by-factor drops its first level
        else:
            levels = [str(v) for v in sorted(pd.unique(series.astype(str)))]
        out = []
        for lev in levels:
            term = copy.deepcopy(self)
            term.by_level = lev
            term.label = f"{self.base_label}:{self.by}{lev}"
            out.append(term)
        return out

    def _by_values(self, data: pd.DataFrame) -> np.ndarray | None:
        if self.by is None:
            return None
        if self.by_level is not None:
            return (data[self.by].astype(str).to_numpy() == self.by_level).astype(float)
        return numeric_column(data, self.by, f"{self.label} by")

    # --------------------------------------------------------------- lifecycle
    def _covariates(self, data: pd.DataFrame) -> np.ndarray:
        return np.column_stack([numeric_column(data, c, self.label) for c in self.columns])

    def setup(self, data: pd.DataFrame) -> None:
        X = self._covariates(data)
        try:
            self.basis.fit(X)
        except ValueError as exc:
            message = str(exc)
            if len(self.columns) == 1:
                message = message.replace("the column", f"column {self.columns[0]!r}")
            raise ValueError(f"{self.label}: {message}") from None
        n = X.shape[0]
        colsum = np.zeros(self.basis.n_raw)
        rowmax = 0.0
        for s in range(0, n, ROW_BLOCK):  # ||X||_inf and colMeans of the raw basis
            B = self.basis.design(X[s:s + ROW_BLOCK])
            colsum += B.sum(axis=0)
            rowmax = max(rowmax, float(np.abs(B).sum(axis=1).max()))
        by = self._by_values(data)
        constrain = not self.basis.own_constraint
        if by is not None and self.by_level is None and np.std(by) > abs(np.mean(by)) * 2.2e-13:
            constrain = False  # numeric by: identifiable without the constraint (smoothCon)
        k = self.basis.n_raw
        # mgcv: C = colMeans(X), reflected on its non-zero entries only (bases/constraint)
        self.Z = sum_to_zero_map(colsum / n) if constrain else np.eye(k)
        self.penalties = []
        for S in self.basis.raw_penalties:
            self.penalties.append(self.Z.T @ rescale_penalty(S, rowmax) @ self.Z)
        self._ranks = [min(r, self.Z.shape[1]) for r in self.basis.raw_ranks]
        self.n_coef = self.Z.shape[1]
        self.coef_names = [f"{self.label}.{j + 1}" for j in range(self.n_coef)]

    @property
    def penalty_ranks(self) -> list[int]:
        return list(self._ranks)

    def encode(self, data: pd.DataFrame) -> np.ndarray:
        X = self._covariates(data)
        by = self._by_values(data)
        return X if by is None else np.column_stack([X, by])

    def expand(self, enc: np.ndarray) -> np.ndarray:
        d = len(self.columns)
        out = self.basis.design(enc[:, :d]) @ self.Z
        if self.by is not None:
            out *= enc[:, d:d + 1]
        return out

    # ------------------------------------------------------------- persistence
    def state(self) -> dict:
        return {"columns": self.columns, "label": self.base_label, "by": self.by,
                "by_level": self.by_level, "ranks": self._ranks,
                "basis": self.basis.state()}

    def arrays(self) -> dict:
        out = {"Z": self.Z, **{f"S{j}": S for j, S in enumerate(self.penalties)}}
        out.update({f"b_{k}": v for k, v in self.basis.arrays().items()})
        return out

    @classmethod
    def from_state(cls, state, arrays, path="term", n_obs=None) -> SmoothTerm:
        p = f"{path}.state"
        sc.keys(state, {"columns", "label", "by", "by_level", "ranks", "basis"}, p)
        columns = sc.strings(state["columns"], f"{p}.columns", identifier=True, min_len=1,
                             max_items=100, max_len=sc.MAX_NAME)
        label = sc.text(state["label"], f"{p}.label", max_len=10_000)
        by = None if state["by"] is None else sc.text(state["by"], f"{p}.by",
                                                      identifier=True)
        level = None if state["by_level"] is None else sc.text(
            state["by_level"], f"{p}.by_level", max_len=10_000)
        basis_state = state["basis"]
        sc.keys(basis_state, set(basis_state) | {"kind"}, f"{p}.basis")
        kind = sc.choice(basis_state["kind"], tuple(cls.BASES), f"{p}.basis.kind")
        basis_arrays = {k[2:]: v for k, v in arrays.items() if k.startswith("b_")}
        try:
            basis = cls.BASES[kind].from_state(basis_state, basis_arrays)
        except sc.Invalid:
            raise
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            raise sc.where(f"{p}.basis", str(exc)) from exc
        if basis.n_dims != len(columns):
            raise sc.where(f"{p}.columns", f"{len(columns)} columns for a "
                           f"{basis.n_dims}-dimensional basis")
        term = cls(columns, basis, label, by, level)
        Z = sc.array_of(arrays, "Z", (basis.n_raw, None))
        m = Z.shape[1]
        if not 1 <= m <= basis.n_raw:
            raise sc.Invalid(f"array Z of {path} has {m} columns")
        n_pen = len(basis.raw_penalties)
        term.penalties = [sc.array_of(arrays, f"S{j}", (m, m)) for j in range(n_pen)]
        ranks = state["ranks"]
        if (not isinstance(ranks, list) or len(ranks) != n_pen
                or not all(isinstance(r, int) and not isinstance(r, bool) and 0 < r <= m
                           for r in ranks)):
            raise sc.where(f"{p}.ranks", "must be one rank in [1, n_coef] per penalty")
        term.Z, term._ranks, term.n_coef = Z, list(ranks), m
        term.coef_names = [f"{term.label}.{j + 1}" for j in range(m)]
        expected = {"Z", *(f"S{j}" for j in range(n_pen)),
                    *(f"b_{k}" for k in basis.arrays())}
        if set(arrays) != expected:
            raise sc.Invalid(f"{path} has arrays {sorted(arrays)}, expected {sorted(expected)}")
        return term
