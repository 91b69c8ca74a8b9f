"""``re(g)`` (also ``s(g, bs="re")``): i.i.d. Gaussian intercepts per level."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .. import schema as sc
from .base import Term


class RandomEffectTerm(Term):
    """``re(g)``: i.i.d. Gaussian intercept per level; mgcv ``bs="re"`` (identity penalty)."""

    kind = "re"

    def __init__(self, column: str):
        super().__init__()
        self.columns = [column]
        self.label = f"re({column})"

    def setup(self, data: pd.DataFrame) -> None:
        col = self.columns[0]
        series = data[col]
        if pd.api.types.is_float_dtype(series):
            raise TypeError(
                f"re({col}): column {col!r} is float; random intercepts need a grouping "
                "factor (string, categorical or integer codes)"
            )
        if isinstance(series.dtype, pd.CategoricalDtype):
            levels = [str(c) for c in series.cat.categories if (series == c).any()]
        else:
            uniq = pd.unique(series)
            levels = [str(v) for v in sorted(uniq)]
        if len(levels) < 2:
            raise ValueError(f"re({col}): column {col!r} has {len(levels)} level; need >= 2")
        self.levels = levels
        self.n_coef = len(levels)
        self.coef_names = [f"{self.label}.{j + 1}" for j in range(self.n_coef)]
        self.penalties = [np.eye(self.n_coef)]  # indicator rows: ||X||_inf = 1, no rescaling

    def encode(self, data: pd.DataFrame) -> np.ndarray:
        col = self.columns[0]
        values = data[col]
        if pd.api.types.is_float_dtype(values) and np.all(np.mod(values, 1) == 0):
            values = values.astype(np.int64)  # integer codes moved by an effect: 3.0 is '3'
        codes = pd.Index(self.levels).get_indexer(values.astype(str))
        if (codes < 0).any():
            unseen = sorted(set(values.astype(str)) - set(self.levels))
            warnings.warn(
                f"re({col}): unseen levels {unseen}; predicting with their random effect at 0",
                stacklevel=4,
            )
        return codes.astype(np.float64)[:, None]

    def expand(self, enc: np.ndarray) -> np.ndarray:
        codes = enc[:, 0].astype(np.int64)
        out = np.zeros((codes.size, self.n_coef))
        seen = codes >= 0
        out[np.flatnonzero(seen), codes[seen]] = 1.0
        return out

    def state(self) -> dict:
        return {"column": self.columns[0], "levels": self.levels}

    def arrays(self) -> dict:
        return {}

    @property
    def penalty_ranks(self) -> list[int]:
        return [self.n_coef]

    @classmethod
    def from_state(cls, state: dict, arrays: dict, path: str = "term",
                   n_obs: int | None = None) -> RandomEffectTerm:
        sp = f"{path}.state"
        sc.keys(state, {"column", "levels"}, sp)
        sc.text(state["column"], f"{sp}.column", identifier=True)
        levels = sc.strings(state["levels"], f"{sp}.levels", unique=True, min_len=2,
                            max_len=10_000)
        if arrays:
            raise sc.Invalid(f"{path} has unexpected arrays {sorted(arrays)}")
        term = cls(state["column"])
        term.levels = levels
        term.n_coef = len(levels)
        term.coef_names = [f"{term.label}.{j + 1}" for j in range(term.n_coef)]
        term.penalties = [np.eye(term.n_coef)]
        return term
