"""The term protocol: what every model term (parametric part, kernel, spline, random
effect, tensor product, ...) implements, whatever its number of penalties.

A term is set up once on the training data (``setup``), then maps any data frame to a
compact per-row encoding (``encode``: standardized kernel inputs, level codes, x) that
the row-block map/reduce (backend.py) slices and expands into basis columns
(``expand``). ``penalties`` holds any number of n_coef x n_coef matrices, each with its
own smoothing parameter (mgcv ``smooth$S``; one for ``s()``/``krls()``/``re()``, one per
margin for ``te()``). A saved term is ``state()`` (JSON-able) plus ``arrays()``
(float64), rebuilt by ``from_state``, which validates everything and evaluates nothing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np
import pandas as pd


def term_slices(terms) -> dict[str, slice]:
    """Coefficient positions of each term, in model order."""
    out, start = {}, 0
    for term in terms:
        out[term.label] = slice(start, start + term.n_coef)
        start += term.n_coef
    return out


def relabel_for_predictor(term, k: int) -> None:
    """mgcv's names for a term of linear predictor k >= 1 (multinom): ``s.1(x)`` with
    coefficients ``s.1(x).1``, ..., ``(Intercept).1``, ``z.1``; the parametric part is
    labelled ``parametric.1``. Used when fitting and again when loading a saved model
    (saved terms keep their unnumbered state)."""
    if term.kind == "parametric":
        term.coef_names = [f"{n}.{k}" for n in term.coef_names]
        term.label = f"parametric.{k}"
        return
    head, _, rest = term.label.partition("(")
    term.label = f"{head}.{k}({rest}"
    term.coef_names = [f"{term.label}.{j + 1}" for j in range(term.n_coef)]


def rescale_penalty(S: np.ndarray, max_row_abs_sum: float) -> np.ndarray:
    """mgcv smoothCon: maXX = ||X||_inf^2, maS = ||S||_1 / maXX, S <- S / maS."""
    maS = np.abs(S).sum(axis=0).max() / max_row_abs_sum**2
    return S / maS


def matrix_rank(S: np.ndarray, tol: float = 1e-10) -> int:
    """Numerical rank of a symmetric PSD matrix (eigenvalues above tol * max)."""
    vals = np.linalg.eigvalsh(0.5 * (S + S.T))
    return int((vals > max(vals.max(), 0.0) * tol).sum())


def is_number_like(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)


class Term(ABC):
    """One additive part of the linear predictor: ``n_coef`` columns, any penalties."""

    kind: ClassVar[str]  # registry key, also written in saved files
    label: str
    columns: list[str]  # data columns the term reads
    n_coef: int
    coef_names: list[str]
    penalties: list[np.ndarray]

    def __init__(self) -> None:
        self.penalties = []

    # ---------------------------------------------------------------- lifecycle
    @abstractmethod
    def setup(self, data: pd.DataFrame) -> None:
        """Learn the basis from the training data (knots, sketch, levels, ...)."""

    @abstractmethod
    def encode(self, data: pd.DataFrame) -> np.ndarray:
        """Compact per-row encoding (n, width) of the columns the term reads."""

    @abstractmethod
    def expand(self, enc: np.ndarray) -> np.ndarray:
        """Basis columns (rows, n_coef) for a block of encoded rows."""

    def resolve(self, data: pd.DataFrame) -> list[Term]:
        """The terms this one stands for on these data (a factor ``by=`` gives one per
        level); most terms stand for themselves."""
        return [self]

    def finish(self, max_row_abs_sum: float) -> None:  # noqa: B027 - optional hook
        """Called after the first pass over the rows with the term's ||X||_inf (terms
        whose penalty scaling needs the whole data, e.g. the kernel)."""

    # --------------------------------------------------------------- persistence
    @abstractmethod
    def state(self) -> dict:
        """Small JSON-able description (no arrays)."""

    @abstractmethod
    def arrays(self) -> dict[str, np.ndarray]:
        """The term's float64 arrays, by name."""

    @classmethod
    @abstractmethod
    def from_state(cls, state: dict, arrays: dict, path: str = "term",
                   n_obs: int | None = None) -> Term:
        """Rebuild from ``state``/``arrays`` of an untrusted file: validate every key,
        type and shape (raise ``schema.Invalid``), never evaluate anything."""

    # ----------------------------------------------------------------- penalties
    @property
    def penalty_ranks(self) -> list[int]:
        return [matrix_rank(S) for S in self.penalties]

    @property
    def n_penalties(self) -> int:
        """Number of smoothing parameters (known after ``setup``)."""
        return len(self.penalties)

    @property
    def sp_names(self) -> list[str]:
        """One name per smoothing parameter, as mgcv names ``sp``: the label, or the
        label followed by 1, 2, ... for several penalties (``te(x,z)1``)."""
        if self.n_penalties == 1:
            return [self.label]
        return [f"{self.label}{j + 1}" for j in range(self.n_penalties)]

    def null_space(self) -> np.ndarray:
        """Orthonormal basis (n_coef, m) of the directions no penalty reaches."""
        if not self.penalties:
            return np.eye(self.n_coef)
        total = sum(S / np.abs(S).max() for S in self.penalties)
        vals, vecs = np.linalg.eigh(0.5 * (total + total.T))
        return vecs[:, vals <= max(vals.max(), 0.0) * 1e-9]

    @property
    def null_space_dim(self) -> int:
        return int(self.null_space().shape[1])
