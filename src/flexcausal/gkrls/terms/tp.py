"""``s(x1, ..., bs="tp", k=, m=)``: mgcv's thin-plate regression spline (the default basis
of ``s()``), the Basis adapter over ``bases/tprs.py`` (Wood 2003, JRSS-B 65(1); mgcv
``smooth.construct.tp.smooth.spec``). SmoothTerm adds smoothCon's constraint and scaling."""

from __future__ import annotations

import numpy as np

from ..bases.tprs import MAX_DIM, TPRS


class TPBasis:
    kind = "tp"
    max_dims = MAX_DIM
    own_constraint = False

    def __init__(self, d: int, k: int | None = None, m: int | None = None):
        self.n_dims, self.k, self.m = d, k, m

    @classmethod
    def from_options(cls, d: int, k: int | None = None, m=None) -> TPBasis:
        if m is not None and (isinstance(m, bool) or not isinstance(m, (int, np.integer))
                              or m < 1):
            raise ValueError(f"m must be a positive integer, got {m!r}")
        return cls(d, k, m)

    def fit(self, X: np.ndarray) -> None:
        self._set(TPRS.fit(X, k=self.k, m=self.m))

    def _set(self, tprs: TPRS) -> None:
        self.tprs = tprs
        self.n_raw = tprs.k
        self.raw_penalties = [tprs.raw_penalty]
        self.raw_ranks = [tprs.penalty_rank]

    def design(self, X: np.ndarray) -> np.ndarray:
        return self.tprs.raw_design(X)

    def state(self) -> dict:
        return self.tprs.state()

    def arrays(self) -> dict:
        return self.tprs.arrays()

    @classmethod
    def from_state(cls, state: dict, arrays: dict) -> TPBasis:
        tprs = TPRS.from_state(state, arrays)
        basis = cls(tprs.d, tprs.k, tprs.m)
        basis._set(tprs)
        return basis
