"""The parametric part of a saved model, stored as data instead of formula code.

A fitted model builds its parametric columns with formulaic, which evaluates the
formula's Python expressions. A saved model must not run code when it is loaded, so
``describe_parametric`` writes down what the columns *are*:

* ``factors``: the distinct factors of the formula, each either
  ``{"kind": "numeric", "expr": <tree>}`` (a column or a transform like ``I(x**2)``
  or ``np.log(x)``, as a restricted expression tree, see ``safe_eval``) or
  ``{"kind": "categorical", "column": "f", "levels": [...]}`` with its coding matrix
  (levels x coded columns: treatment, sum, ... contrasts alike) stored as an array;
* ``columns``: one entry per model-matrix column, ``{"scale": s, "parts": [[k, j], ...]}``:
  the column is s times the product of factor k's values (numeric) or column j of its
  coding matrix (categorical), in formulaic's order; no parts is the intercept.

``StoredParametricTerms`` rebuilds the model matrix from that description (no formulaic,
no ``eval``). ``describe_parametric`` checks the description against formulaic's own
column names and against the training encoding before anything is written, and refuses
(ValueError) formulas it cannot describe exactly: stateful transforms (``center``,
``scale``, ``poly``, ``bs``...), functions outside the ``safe_eval`` whitelist, and
categorical factors that are not a plain column or ``C(column, ...)``.
"""

from __future__ import annotations

import ast
import functools
import operator

import numpy as np
import pandas as pd

from . import safe_eval
from .terms import Term

MAX_COLUMNS = 100_000
MAX_PARTS = 16
MAX_LEVELS = 1_000_000


def _kind(kind) -> str:
    return str(getattr(kind, "value", kind)).lower()


def _categorical_column(expr: str) -> str:
    """The data column behind a categorical factor: ``f`` or ``C(f, ...)``."""
    node = ast.parse(expr, mode="eval").body
    if isinstance(node, ast.Name):
        return node.id
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "C"
            and node.args and isinstance(node.args[0], ast.Name)):
        return node.args[0].id
    raise ValueError(f"categorical factor {expr!r} is not a column or C(column, ...)")


def describe_parametric(term, training_encoding: np.ndarray | None,
                        training_data: pd.DataFrame | None) -> tuple[dict, dict]:
    """State (JSON) and arrays that rebuild ``term``'s columns without formulaic."""
    if isinstance(term, StoredParametricTerms):
        return term.state(), term.arrays()
    spec, names = term.spec, list(term._names)
    factors: list[dict] = []
    index: dict[tuple, int] = {}
    arrays: dict[str, np.ndarray] = {}
    columns: list[dict] = []
    built: list[str] = []
    try:
        for structure in spec.structure:
            for scoped in structure.scoped_terms:
                if not scoped.factors:
                    columns.append({"scale": float(scoped.scale), "parts": []})
                    built.append("Intercept")
                    continue
                pieces = []  # per factor: list of (column name, part)
                for sf in scoped.factors:
                    expr = str(sf.factor.expr)
                    kind, state = spec.encoder_state[expr]
                    if _kind(kind) == "numerical":
                        key = ("numeric", expr)
                        if key not in index:
                            index[key] = len(factors)
                            factors.append({"kind": "numeric",
                                            "expr": safe_eval.compile_expression(expr)})
                        pieces.append([(expr, [index[key], 0])])
                    elif _kind(kind) == "categorical":
                        contrasts = state["contrasts"]
                        coding = contrasts.get_coding_matrix(reduced_rank=sf.reduced)
                        fmt = contrasts.contrasts.get_factor_format(
                            contrasts.levels, reduced_rank=sf.reduced)
                        key = ("categorical", expr, bool(sf.reduced))
                        if key not in index:
                            index[key] = len(factors)
                            factors.append({
                                "kind": "categorical",
                                "column": _categorical_column(expr),
                                "levels": [str(v) for v in coding.index],
                            })
                            arrays[f"coding{index[key]}"] = np.asarray(coding, dtype=np.float64)
                        pieces.append([(fmt.format(name=expr, field=field), [index[key], j])
                                       for j, field in enumerate(coding.columns)])
                    else:
                        raise ValueError(f"factor {expr!r} of kind {_kind(kind)!r}")
                # formulaic: row-wise Kronecker product, the last factor varying slowest
                combos = [[]]
                for options in pieces:
                    combos = [c + [o] for o in options for c in combos]
                for combo in combos:
                    built.append(":".join(name for name, _ in combo))
                    columns.append({"scale": float(scoped.scale),
                                    "parts": [part for _, part in combo]})
    except (ValueError, KeyError, TypeError, AttributeError, SyntaxError) as exc:
        raise ValueError(
            f"cannot save this model: its parametric formula part cannot be stored as data "
            f"({exc}). Saved models keep numeric columns, factors and the transforms "
            f"{safe_eval._allowed()}; compute other transforms as data columns before "
            "fitting."
        ) from exc
    if built != names:
        raise ValueError(
            "cannot save this model: the parametric columns could not be described "
            f"exactly (formulaic built {names}, the description gives {built})"
        )
    state = {"names": names, "factors": factors, "columns": columns}
    stored = StoredParametricTerms.from_state(state, arrays, "")
    if training_encoding is not None and training_data is not None:
        rebuilt = stored.encode(training_data)
        if rebuilt.shape != training_encoding.shape or not np.array_equal(
                rebuilt, training_encoding, equal_nan=True):
            raise ValueError(
                "cannot save this model: the stored description of the parametric columns "
                "does not reproduce them on the training data"
            )
    return state, arrays


class StoredParametricTerms(Term):
    """Parametric columns rebuilt from a saved description (see the module docstring)."""

    kind = "parametric"

    def __init__(self, names: list[str], factors: list[dict], columns: list[dict],
                 codings: dict[int, np.ndarray]):
        super().__init__()
        self.label = "parametric"
        self._names = list(names)
        self.factors = factors
        self.column_parts = columns
        self.codings = codings
        self.coef_names = ["(Intercept)" if n == "Intercept" else n for n in self._names]
        self.n_coef = len(self._names)
        used: set[str] = set()
        self.levels: dict[str, list[str]] = {}
        for factor in factors:
            if factor["kind"] == "numeric":
                used |= safe_eval.validate(factor["expr"])
            else:
                used.add(factor["column"])
                self.levels[factor["column"]] = factor["levels"]
        self.columns = sorted(used)

    def encode(self, data: pd.DataFrame) -> np.ndarray:
        n = len(data)
        values: list[np.ndarray] = []
        for factor in self.factors:
            if factor["kind"] == "numeric":
                values.append(safe_eval.evaluate(factor["expr"], data))
                continue
            col = factor["column"]
            codes = pd.Index(factor["levels"]).get_indexer(data[col].astype(str))
            if (codes < 0).any():
                unseen = sorted(set(data[col].astype(str)) - set(factor["levels"]))
                raise ValueError(f"column {col!r} has levels {unseen} not seen when fitting")
            values.append(codes)
        out = np.empty((n, self.n_coef), order="F")  # the layout formulaic's matrix has
        for j, column in enumerate(self.column_parts):
            parts = [
                values[k] if self.factors[k]["kind"] == "numeric" else self.codings[k][values[k], c]
                for k, c in column["parts"]
            ]
            product = np.ones(n) if not parts else functools.reduce(operator.mul, parts)
            out[:, j] = column["scale"] * product
        return out

    def setup(self, data: pd.DataFrame) -> None:
        raise TypeError("a parametric part loaded from a file is already set up; refit "
                        "the model from its formula instead")

    def expand(self, enc: np.ndarray) -> np.ndarray:
        return enc

    def state(self) -> dict:
        return {"names": self._names, "factors": self.factors, "columns": self.column_parts}

    def arrays(self) -> dict:
        return {f"coding{k}": v for k, v in self.codings.items()}

    @classmethod
    def from_state(cls, state, arrays: dict, path: str = "term",
                   n_obs: int | None = None) -> StoredParametricTerms:
        """Validate a saved description (plain data; nothing is parsed or evaluated)."""
        if not isinstance(state, dict):
            raise ValueError("parametric state must be an object")
        if "rhs" in state:
            raise ValueError("parametric state in the old layout (formula code 'rhs'), which "
                             "is not evaluated on load; refit the model and save it again")
        if set(state) != {"names", "factors", "columns"}:
            raise ValueError(f"parametric state keys {sorted(state)} are not "
                             "['columns', 'factors', 'names']")
        names, factors, columns = state["names"], state["factors"], state["columns"]
        if not (isinstance(names, list) and len(names) <= MAX_COLUMNS
                and all(isinstance(n, str) and len(n) <= 10_000 for n in names)):
            raise ValueError("parametric names must be a list of strings")
        if len(set(names)) != len(names):
            raise ValueError("parametric names are not unique")
        if not (isinstance(factors, list) and len(factors) <= MAX_COLUMNS):
            raise ValueError("parametric factors must be a list")
        codings: dict[int, np.ndarray] = {}
        for k, factor in enumerate(factors):
            if not isinstance(factor, dict) or factor.get("kind") not in ("numeric",
                                                                          "categorical"):
                raise ValueError(f"parametric factor {k} has no valid kind")
            if factor["kind"] == "numeric":
                if set(factor) != {"kind", "expr"}:
                    raise ValueError(f"numeric factor {k} keys {sorted(factor)}")
                safe_eval.validate(factor["expr"])
                continue
            if set(factor) != {"kind", "column", "levels"}:
                raise ValueError(f"categorical factor {k} keys {sorted(factor)}")
            col, levels = factor["column"], factor["levels"]
            if not (isinstance(col, str) and 0 < len(col) <= safe_eval.MAX_NAME):
                raise ValueError(f"categorical factor {k}: column must be a name")
            if not (isinstance(levels, list) and 0 < len(levels) <= MAX_LEVELS
                    and all(isinstance(v, str) for v in levels)
                    and len(set(levels)) == len(levels)):
                raise ValueError(f"categorical factor {k}: levels must be unique strings")
            coding = arrays.get(f"coding{k}")
            if coding is None:
                raise ValueError(f"categorical factor {k}: missing array coding{k}")
            if coding.dtype != np.float64 or coding.ndim != 2 or coding.shape[0] != len(levels):
                raise ValueError(f"array coding{k} must be float64 of shape "
                                 f"({len(levels)}, m), got {coding.dtype} {coding.shape}")
            if not np.all(np.isfinite(coding)):
                raise ValueError(f"array coding{k} has non-finite values")
            codings[k] = coding
        if not (isinstance(columns, list) and len(columns) == len(names)):
            raise ValueError("parametric columns must be a list with one entry per name")
        for j, column in enumerate(columns):
            if not isinstance(column, dict) or set(column) != {"scale", "parts"}:
                raise ValueError(f"parametric column {j} must have keys ['parts', 'scale']")
            scale, parts = column["scale"], column["parts"]
            if isinstance(scale, bool) or not isinstance(scale, (int, float)) \
                    or not np.isfinite(scale) or abs(scale) > 1e12:
                raise ValueError(f"parametric column {j}: scale must be a finite number")
            if not isinstance(parts, list) or len(parts) > MAX_PARTS:
                raise ValueError(f"parametric column {j}: parts must be a list "
                                 f"(at most {MAX_PARTS})")
            for part in parts:
                ok = (isinstance(part, list) and len(part) == 2
                      and all(isinstance(v, int) and not isinstance(v, bool) for v in part)
                      and 0 <= part[0] < len(factors))
                if ok:
                    k, c = part
                    limit = codings[k].shape[1] if k in codings else 1
                    ok = 0 <= c < limit
                if not ok:
                    raise ValueError(f"parametric column {j}: bad part {part!r}")
            if (not parts) != (names[j] == "Intercept"):
                raise ValueError(f"parametric column {j}: only 'Intercept' has no parts")
        return cls(names, factors, columns, codings)
