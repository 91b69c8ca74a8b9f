"""The parametric part of a formula (intercept, numeric columns, factors) via formulaic."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd

from .base import Term, is_number_like


class ParametricTerms(Term):
    """Intercept, numeric columns and treatment-coded factors, through formulaic."""

    kind = "parametric"

    def __init__(self, rhs: str):
        super().__init__()
        self.rhs = rhs
        self.label = "parametric"

    def setup(self, data: pd.DataFrame) -> None:
        from formulaic import model_matrix

        try:
            with np.errstate(all="ignore"):  # NaN/inf are reported below / by na_action
                mm = model_matrix(self.rhs, data, na_action="raise")
        except Exception as exc:  # formulaic evaluation errors -> say which term and why
            raise ValueError(
                f"cannot build the parametric part {self.rhs!r} of the formula: "
                f"{_plain_message(exc)}"
            ) from exc
        self.spec = mm.model_spec
        self._names = list(mm.columns)
        self.columns = sorted(self.spec.variables_by_source.get("data", set()))
        self.levels = {
            var: list(map(str, state["categories"]))
            for var, (kind, state) in self.spec.encoder_state.items()
            if getattr(kind, "value", kind) == "categorical"
        }
        self.coef_names = ["(Intercept)" if n == "Intercept" else n for n in self._names]
        self.n_coef = len(self._names)
        bad = np.flatnonzero(~np.isfinite(np.asarray(mm, dtype=np.float64)).all(axis=0))
        if bad.size:
            raise ValueError(
                f"parametric column(s) {[self.coef_names[j] for j in bad]} have NaN or infinite "
                "values (e.g. log of a value <= 0); transform the data first"
            )

    @property
    def numeric_columns(self) -> list[str]:
        """Data columns entering the parametric part as numbers (not as factors)."""
        return [
            var for var, (kind, _) in self.spec.encoder_state.items()
            if getattr(kind, "value", kind) == "numerical" and var in self.columns
        ]

    def encode(self, data: pd.DataFrame) -> np.ndarray:
        for var, levels in self.levels.items():
            if var in data.columns:
                unseen = set(map(str, pd.unique(data[var]))) - set(levels)
                if unseen:
                    raise ValueError(
                        f"column {var!r} has levels {sorted(unseen)} not seen when fitting; "
                        "a fixed effect has no estimate for them: drop those rows (or model "
                        f"the column as re({var}), which predicts unseen levels at 0)"
                    )
        for var in self.numeric_columns:
            if var in data.columns and not is_number_like(data[var]):
                raise TypeError(
                    f"column {var!r} was numeric when fitting but has dtype "
                    f"{data[var].dtype} here; convert it to numbers"
                )
        from formulaic.errors import DataMismatchWarning

        try:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                # e.g. C(g) meets a level not seen when fitting: an error, as for g itself
                warnings.simplefilter("error", DataMismatchWarning)
                mm = self.spec.get_model_matrix(data, na_action="raise")
        except DataMismatchWarning as exc:
            levels = str(exc).split(": ", 1)[-1].split(". They are")[0]
            raise ValueError(
                f"the parametric part {self.rhs!r} meets categories not seen when fitting: "
                f"{levels}; a fixed effect has no estimate for them: drop those rows"
            ) from None
        except Exception as exc:
            raise ValueError(
                f"cannot build the parametric part {self.rhs!r} for these data: "
                f"{_plain_message(exc)}"
            ) from exc
        return np.asarray(mm, dtype=np.float64)

    def expand(self, enc: np.ndarray) -> np.ndarray:
        return enc

    # A saved model stores these columns as data (parametric_store.py), so loading a
    # file never evaluates formula code: state/arrays/from_state live there.
    def state(self) -> dict:
        raise NotImplementedError("the parametric part is saved by parametric_store")

    def arrays(self) -> dict:
        raise NotImplementedError("the parametric part is saved by parametric_store")

    @classmethod
    def from_state(cls, state, arrays, path="term", n_obs=None):
        raise NotImplementedError("use parametric_store.StoredParametricTerms.from_state")


def _plain_message(exc: Exception) -> str:
    """formulaic's message without its terminal colour codes and marker characters."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    return " ".join(text.replace("\u29db", "").replace("\u29da", "").split())


def formula_variables(rhs: str, columns=None) -> list[str]:
    """Data columns a formulaic right-hand side needs; ValueError if it does not parse.

    formulaic does not list names it also knows as functions (``log``, ``scale``, ``abs``);
    with the data's ``columns`` given, such a name used as a variable (not called) that is
    a column counts too (``y ~ x + log`` with a column ``log``).
    """
    from formulaic import Formula

    from ..formula import bare_names, called_functions

    try:
        required = Formula(rhs).required_variables
    except Exception as exc:  # formulaic parse errors -> our message
        raise ValueError(
            f"cannot parse the parametric part {rhs!r} of the formula: {_plain_message(exc)}"
        ) from exc
    functions = set(called_functions(rhs))  # e.g. abs in abs(x): not a column
    out = {v for v in required if isinstance(v, str) and v not in functions}
    if columns is not None:
        out |= {v for v in bare_names(rhs) if v in set(columns)}
    return sorted(out)
