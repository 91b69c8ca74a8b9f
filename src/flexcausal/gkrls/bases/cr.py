"""``s(x, bs="cr", k=10)``: mgcv's cubic regression spline basis (spline.py)."""

from __future__ import annotations

import numpy as np

from .. import schema as sc
from ..spline import cr_basis, cr_penalty, place_knots


class CRBasis:
    """Knots at quantiles of the unique x; one penalty (integrated f''^2), rank k - 2."""

    kind = "cr"
    n_dims = 1
    max_dims = 1
    own_constraint = False

    def __init__(self, k: int = 10):
        self.k = int(k)
        self.n_raw = self.k

    @classmethod
    def from_options(cls, d: int, k: int | None = None, m=None) -> CRBasis:
        if m is not None:
            raise ValueError("bs='cr' has no order m (it is a cubic spline); drop m=")
        return cls(10 if k is None else k)

    def fit(self, X: np.ndarray) -> None:
        n_unique = np.unique(X[:, 0]).size
        if self.k > n_unique:
            raise ValueError(
                f"k={self.k} but the column has only {n_unique} unique value(s); use k <= "
                f"{n_unique}" + ("" if n_unique >= 3 else " (and k >= 3: too few values for "
                                 "a spline; use the column as a parametric term or factor)"))
        self.knots = place_knots(X[:, 0], self.k)
        self._set_penalty()

    def _set_penalty(self) -> None:
        self.raw_penalties = [cr_penalty(self.knots)]
        self.raw_ranks = [self.k - 2]

    def design(self, X: np.ndarray) -> np.ndarray:
        return cr_basis(X[:, 0], self.knots)

    def state(self) -> dict:
        return {"kind": self.kind, "k": self.k}

    def arrays(self) -> dict:
        return {"knots": self.knots}

    @classmethod
    def from_state(cls, state: dict, arrays: dict) -> CRBasis:
        sc.keys(state, {"kind", "k"}, "basis")
        basis = cls(sc.integer(state["k"], "basis.k", 3, 100_000))
        knots = sc.array_of(arrays, "knots", (basis.k,))
        if not np.all(np.diff(knots) > 0):
            raise sc.Invalid("array knots is not strictly increasing")
        basis.knots = knots
        basis._set_penalty()
        return basis
