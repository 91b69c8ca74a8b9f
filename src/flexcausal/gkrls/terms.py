"""Model terms. Each turns data into basis columns and (for smooths) one penalty.

A term is set up once on the training data (``setup``), then maps any data frame to
a compact per-row encoding (``encode``: standardized kernel inputs, level codes, x)
that the row-block streamer slices and expands into basis columns (``expand``).
Penalties follow mgcv ``smoothCon(scale.penalty=TRUE)``: S <- S * ||X||_inf^2 / ||S||_1.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd

from .._checks import check_choice, check_positive, check_seed
from .._frames import numeric_column
from .kernel import SKETCHES, STANDARDIZE, KernelSketch, Standardizer, build_sketch
from .kernel import gaussian_kernel as _kernel
from .spline import cr_basis, cr_penalty, place_knots, sum_to_zero_householder


def term_slices(terms) -> dict[str, slice]:
    """Coefficient positions of each term, in model order."""
    out, start = {}, 0
    for term in terms:
        out[term.label] = slice(start, start + term.n_coef)
        start += term.n_coef
    return out


def rescale_penalty(S: np.ndarray, max_row_abs_sum: float) -> np.ndarray:
    """mgcv smoothCon: maXX = ||X||_inf^2, maS = ||S||_1 / maXX, S <- S / maS."""
    maS = np.abs(S).sum(axis=0).max() / max_row_abs_sum**2
    return S / maS


class Term:
    """Interface shared by all terms; ``penalty`` is None for unpenalized terms."""

    kind = "term"
    label: str
    n_coef: int
    penalty: np.ndarray | None = None
    coef_names: list[str]
    columns: list[str]

    def encode(self, data: pd.DataFrame) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def expand(self, enc: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    @property
    def penalty_rank(self) -> int:
        if self.penalty is None:
            return 0
        vals = np.linalg.eigvalsh(self.penalty)
        return int((vals > vals.max() * 1e-10).sum())

    def finish(self, max_row_abs_sum: float) -> None:
        """Called after the first pass over the data with the basis' ||X||_inf."""


class ParametricTerms(Term):
    """Intercept, numeric columns and treatment-coded factors, through formulaic."""

    kind = "parametric"

    def __init__(self, rhs: str):
        self.rhs = rhs
        self.label = "parametric"

    def setup(self, data: pd.DataFrame, rng=None) -> None:
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
            if var in data.columns and not _is_number_like(data[var]):
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

    # No state()/from_state(): a saved model stores these columns as data
    # (parametric_store.py), so loading a file never evaluates formula code.


def _plain_message(exc: Exception) -> str:
    """formulaic's message without its terminal colour codes and marker characters."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    return " ".join(text.replace("\u29db", "").replace("\u29da", "").split())


def _is_number_like(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)


def formula_variables(rhs: str, columns=None) -> list[str]:
    """Data columns a formulaic right-hand side needs; ValueError if it does not parse.

    formulaic does not list names it also knows as functions (``log``, ``scale``, ``abs``);
    with the data's ``columns`` given, such a name used as a variable (not called) that is
    a column counts too (``y ~ x + log`` with a column ``log``).
    """
    from formulaic import Formula

    from .formula import bare_names, called_functions

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


class KRLSTerm(Term):
    """``krls(x1, x2, ...)``: the gKRLS Gaussian-kernel smooth (R: ``s(..., bs="gKRLS")``)."""

    kind = "krls"

    def __init__(
        self,
        columns,
        sketch="subsampling",
        multiplier=5,
        size=None,
        indices=None,
        standardize="mahalanobis",
        bandwidth=None,
        seed=0,
    ):
        if not columns:
            raise ValueError("krls() needs at least one column, e.g. krls(x1, x2)")
        self.columns = list(columns)
        self.sketch = check_choice(sketch, SKETCHES, "krls() sketch")
        self.standardize = check_choice(standardize, STANDARDIZE, "krls() standardize")
        if size is not None and (
            isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1
        ):
            raise ValueError(f"krls() size must be a positive integer, got {size!r}")
        if (isinstance(multiplier, bool) or not isinstance(multiplier, (int, float, np.number))
                or not np.isfinite(multiplier) or multiplier <= 0):
            raise ValueError(f"krls() multiplier must be a positive number, got {multiplier!r}")
        if bandwidth is not None:
            try:
                check_positive(bandwidth, "krls() bandwidth")
            except (TypeError, ValueError):
                raise ValueError(
                    f"krls() bandwidth must be positive (a finite number > 0) or None, got "
                    f"{bandwidth!r}"
                ) from None
        if isinstance(seed, bool) or not (
            seed is None or isinstance(seed, (int, np.integer, np.random.Generator))
        ):
            raise TypeError(f"krls() seed must be an int >= 0, None or a numpy Generator, "
                            f"got {seed!r}")
        if isinstance(seed, (int, np.integer)) and seed < 0:
            raise ValueError(f"krls() seed must be >= 0, got {seed}")
        self.multiplier, self.size, self.indices = multiplier, size, indices
        self.bandwidth_arg, self.seed = bandwidth, seed
        self.label = f"krls({','.join(self.columns)})"

    def _raw(self, data: pd.DataFrame) -> np.ndarray:
        """Numeric columns as is; factors one-hot over all training levels (gKRLS)."""
        parts = []
        for col in self.columns:
            if col in self.levels:
                values = data[col].astype(str).to_numpy()
                onehot = (values[:, None] == np.asarray(self.levels[col])[None, :]).astype(float)
                parts.append(onehot)
            else:
                parts.append(data[col].to_numpy(dtype=np.float64)[:, None])
        return np.hstack(parts)

    def setup(self, data: pd.DataFrame, rng=None) -> None:
        self.levels = {}
        for col in self.columns:
            series = data[col]
            if isinstance(series.dtype, pd.CategoricalDtype):
                self.levels[col] = [str(c) for c in series.cat.categories]
            elif not pd.api.types.is_numeric_dtype(series):
                raise TypeError(
                    f"column {col!r} in {self.label} must be numeric, got dtype "
                    f"{series.dtype}; to use a factor inside the kernel (one-hot, as R "
                    "gKRLS), convert it with data[col].astype('category')"
                )
        raw = self._raw(data)
        constant = [c for c in self.columns if c not in self.levels and np.ptp(data[c]) == 0]
        if constant and len(constant) < len(self.columns):
            warnings.warn(
                f"column(s) {constant} in {self.label} are constant: they have no effect in "
                "the kernel (and their marginal effects are 0); drop them from krls()",
                UserWarning, stacklevel=4,
            )
        self.standardizer = Standardizer.fit(raw, self.standardize)
        Xs = self.standardizer.transform(raw)
        self.bandwidth = float(Xs.shape[1] if self.bandwidth_arg is None else self.bandwidth_arg)
        self.sketch_ = build_sketch(
            Xs,
            self.bandwidth,
            self.sketch,
            self.size,
            self.multiplier,
            self.indices,
            check_seed(self.seed),
        )
        self.n_coef = self.sketch_.weights.shape[1]
        self.coef_names = [f"{self.label}.{j + 1}" for j in range(self.n_coef)]

    def encode(self, data: pd.DataFrame) -> np.ndarray:
        for col in self.columns:
            if col not in self.levels and not _is_number_like(data[col]):
                raise TypeError(
                    f"column {col!r} in {self.label} was numeric when fitting but has dtype "
                    f"{data[col].dtype} here; convert it to numbers"
                )
        for col, levels in self.levels.items():
            unseen = set(data[col].astype(str)) - set(levels)
            if unseen:
                warnings.warn(
                    f"column {col!r} in {self.label} has unseen levels {sorted(unseen)}; "
                    "they get a zero one-hot row in the kernel (as R gKRLS)",
                    stacklevel=4,
                )
        return self.standardizer.transform(self._raw(data))

    def expand(self, enc: np.ndarray) -> np.ndarray:
        return _kernel(enc, self.sketch_.anchors, self.bandwidth) @ self.sketch_.weights

    def finish(self, max_row_abs_sum: float) -> None:
        self.penalty = rescale_penalty(np.eye(self.n_coef), max_row_abs_sum)

    def state(self) -> dict:
        return {
            "columns": self.columns,
            "sketch": self.sketch,
            "multiplier": self.multiplier,
            "size": self.size,
            "standardize": self.standardize,
            "bandwidth": self.bandwidth,
            "bandwidth_arg": self.bandwidth_arg,
            "seed": self.seed if isinstance(self.seed, (int, type(None))) else None,
            "levels": self.levels,
            "size_before": self.sketch_.size_before,
        }

    def arrays(self) -> dict:
        sk = self.sketch_
        out = {
            "mean": self.standardizer.mean,
            "whiten": self.standardizer.whiten,
            "anchors": sk.anchors,
            "weights": sk.weights,
            "eigenvalues": sk.eigenvalues,
            "penalty": self.penalty,
        }
        if sk.indices is not None:
            out["indices"] = sk.indices
        return out

    @classmethod
    def from_state(cls, state: dict, arrays: dict, prefix: str) -> KRLSTerm:
        term = cls(
            state["columns"],
            sketch=state["sketch"],
            multiplier=state["multiplier"],
            size=state["size"],
            standardize=state["standardize"],
            bandwidth=state["bandwidth_arg"],
            seed=state["seed"],
        )
        term.levels = state["levels"]
        term.bandwidth = state["bandwidth"]
        term.standardizer = Standardizer(arrays[prefix + "mean"], arrays[prefix + "whiten"])
        term.sketch_ = KernelSketch(
            arrays[prefix + "anchors"],
            arrays[prefix + "weights"],
            arrays.get(prefix + "indices"),
            state["size_before"],
            arrays[prefix + "eigenvalues"],
        )
        term.n_coef = term.sketch_.weights.shape[1]
        term.coef_names = [f"{term.label}.{j + 1}" for j in range(term.n_coef)]
        term.penalty = arrays[prefix + "penalty"]
        return term


class RandomEffectTerm(Term):
    """``re(g)``: i.i.d. Gaussian intercept per level; mgcv ``bs="re"`` (identity penalty)."""

    kind = "re"

    def __init__(self, column: str):
        self.columns = [column]
        self.label = f"re({column})"

    def setup(self, data: pd.DataFrame, rng=None) -> None:
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
        self.penalty = np.eye(self.n_coef)  # indicator rows: ||X||_inf = 1, no rescaling

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

    @classmethod
    def from_state(cls, state: dict, arrays: dict, prefix: str) -> RandomEffectTerm:
        term = cls(state["column"])
        term.levels = state["levels"]
        term.n_coef = len(term.levels)
        term.coef_names = [f"{term.label}.{j + 1}" for j in range(term.n_coef)]
        term.penalty = np.eye(term.n_coef)
        return term


class CRSplineTerm(Term):
    """``s(x, bs="cr", k=10)``: mgcv cubic regression spline with sum-to-zero constraint."""

    kind = "cr"

    def __init__(self, column: str, k: int = 10, bs: str = "cr"):
        if check_choice(bs, ("cr",), "s() bs") != "cr":  # pragma: no cover
            raise ValueError(bs)
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 3:
            raise ValueError(f"s({column}): k must be an integer >= 3, got {k!r}")
        self.columns = [column]
        self.k = int(k)
        self.label = f"s({column})"

    def setup(self, data: pd.DataFrame, rng=None) -> None:
        x = numeric_column(data, self.columns[0], self.label)
        n_unique = np.unique(x).size
        if self.k > n_unique:
            raise ValueError(
                f"{self.label}: k={self.k} but column {self.columns[0]!r} has only "
                f"{n_unique} unique value(s); use k <= {n_unique}"
                + ("" if n_unique >= 3 else " (and k >= 3: too few values for a spline; "
                   "use the column as a parametric term or factor instead)")
            )
        self.knots = place_knots(x, self.k)
        raw = cr_basis(x, self.knots)
        self.Z = sum_to_zero_householder(raw.sum(axis=0))
        S = rescale_penalty(cr_penalty(self.knots), np.abs(raw).sum(axis=1).max())
        self.penalty = self.Z.T @ S @ self.Z
        self.n_coef = self.k - 1
        self.coef_names = [f"{self.label}.{j + 1}" for j in range(self.n_coef)]

    def encode(self, data: pd.DataFrame) -> np.ndarray:
        return numeric_column(data, self.columns[0], self.label)[:, None]

    def expand(self, enc: np.ndarray) -> np.ndarray:
        return cr_basis(enc[:, 0], self.knots) @ self.Z

    @property
    def penalty_rank(self) -> int:
        return self.k - 2

    def state(self) -> dict:
        return {"column": self.columns[0], "k": self.k}

    def arrays(self) -> dict:
        return {"knots": self.knots, "Z": self.Z, "penalty": self.penalty}

    @classmethod
    def from_state(cls, state: dict, arrays: dict, prefix: str) -> CRSplineTerm:
        term = cls(state["column"], k=state["k"])
        term.knots, term.Z = arrays[prefix + "knots"], arrays[prefix + "Z"]
        term.penalty = arrays[prefix + "penalty"]
        term.n_coef = term.k - 1
        term.coef_names = [f"{term.label}.{j + 1}" for j in range(term.n_coef)]
        return term


TERM_CLASSES = {
    cls.kind: cls for cls in (ParametricTerms, KRLSTerm, RandomEffectTerm, CRSplineTerm)
}


def check_enough_rows(terms, n_rows: int, scale_known: bool) -> None:
    """ValueError when there are fewer rows than unpenalized coefficients (parametric
    columns plus the linear part of each ``s()``), or no row left for the scale."""
    if sum(t.n_coef for t in terms) == 0:
        raise ValueError("the model has no coefficients: the formula removes the intercept "
                         "('0' or '-1') and has no other term")
    n_par = sum(t.n_coef for t in terms if isinstance(t, ParametricTerms))
    n_lin = sum(1 for t in terms if isinstance(t, CRSplineTerm))
    n_unpen = n_par + n_lin
    need = n_unpen + (0 if scale_known else 1)
    if n_rows < need:
        what = f"{n_par} parametric column(s)" + (
            f" + the linear part of {n_lin} s() term(s)" if n_lin else "")
        scale = "" if scale_known else " (one more to estimate the scale)"
        raise ValueError(
            f"too few rows: {n_rows} (with positive weight) for {n_unpen} unpenalized "
            f"coefficient(s) ({what}); need at least {need}{scale}. "
            "Use more data or fewer parametric terms (e.g. a factor with many levels -> "
            "re(g))"
        )
