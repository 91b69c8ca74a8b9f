"""Input validation shared by every estimator: fail early, name the culprit.

All public entry points call these helpers once, at the boundary, so that the
numerical code below can assume clean float64 arrays.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd


def check_choice(value, options: Sequence[str], argname: str) -> str:
    """Return ``value`` lower-cased if it is one of ``options``, else raise ValueError."""
    if not isinstance(value, str):
        raise TypeError(f"{argname} must be a string, one of {list(options)}; got {value!r}")
    low = value.lower()
    if low not in [o.lower() for o in options]:
        raise ValueError(f"unknown {argname} {value!r}; expected one of {list(options)}")
    return low


def check_dataframe(data, argname: str = "data") -> pd.DataFrame:
    """Accept a DataFrame (or a dict of columns) with at least one row."""
    if isinstance(data, dict):
        data = pd.DataFrame(data)
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"{argname} must be a pandas DataFrame, got {type(data).__name__}")
    if len(data) == 0:
        raise ValueError(f"{argname} is empty (0 rows)")
    return data


def check_columns_present(data: pd.DataFrame, columns: Iterable[str], argname: str = "data"):
    """Raise a ValueError listing the columns the formula names but ``data`` lacks."""
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise ValueError(
            f"{argname} has no column(s) {missing} named in the formula; "
            f"available columns: {list(data.columns)}"
        )


def is_categorical(series: pd.Series) -> bool:
    """Factor-like columns: categorical, string/object or boolean dtype."""
    return (
        isinstance(series.dtype, pd.CategoricalDtype)
        or pd.api.types.is_object_dtype(series)
        or pd.api.types.is_string_dtype(series)
        or pd.api.types.is_bool_dtype(series)
    )


def check_column_values(data: pd.DataFrame, column: str):
    """No NaN/None in any used column, and no +-inf in numeric ones."""
    series = data[column]
    n_missing = int(series.isna().sum())
    if n_missing:
        raise ValueError(
            f"column {column!r} has {n_missing} NaN/missing values; drop or impute them first"
        )
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        n_inf = int(np.isinf(series.to_numpy(dtype=float)).sum())
        if n_inf:
            raise ValueError(f"column {column!r} has {n_inf} infinite values")


def numeric_column(data: pd.DataFrame, column: str, context: str) -> np.ndarray:
    """The column as float64, or TypeError if it is not numeric."""
    series = data[column]
    if is_categorical(series) or not pd.api.types.is_numeric_dtype(series):
        raise TypeError(
            f"column {column!r} used in {context} must be numeric, got dtype {series.dtype}"
        )
    return series.to_numpy(dtype=np.float64)


def check_array_2d(X, argname: str = "X") -> np.ndarray:
    """A finite, non-empty 2-D float64 array."""
    arr = as_float_array(X, argname)
    if arr.ndim == 1:
        raise ValueError(f"{argname} must be 2-D (n_samples, n_features); got 1-D. Reshape it.")
    if arr.ndim != 2:
        raise ValueError(f"{argname} must be 2-D, got {arr.ndim}-D")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{argname} is empty: shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{argname} contains NaN or infinite values")
    return arr


def check_seed(seed) -> np.random.Generator:
    """Turn an int / None / Generator into a numpy Generator."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, (int, np.integer)):
        return np.random.default_rng(seed)
    raise TypeError(f"seed must be an int, None or numpy Generator, got {type(seed).__name__}")


def check_target_1d(y, n_rows: int, argname: str = "y") -> np.ndarray:
    """A finite numeric 1-D float64 array with ``n_rows`` entries ((n, 1) is flattened)."""
    arr = as_float_array(y, argname)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{argname} must be 1-D (n_samples,), got shape {arr.shape}")
    if len(arr) != n_rows:
        raise ValueError(f"{argname} has {len(arr)} entries but X has {n_rows} rows")
    arr = arr.astype(np.float64, copy=False)
    n_bad = int((~np.isfinite(arr)).sum())
    if n_bad:
        raise ValueError(f"{argname} contains {n_bad} NaN or infinite values")
    return arr


def check_labels(values, n_rows: int, argname: str) -> np.ndarray:
    """Per-row labels: 1-D (a single column is flattened), one per row, none missing."""
    arr = np.asarray(values)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{argname} must be 1-D (n_samples,), got shape {arr.shape}")
    if len(arr) != n_rows:
        raise ValueError(f"{argname} has {len(arr)} entries but X has {n_rows} rows")
    n_missing = int(pd.isna(pd.Series(arr)).sum())
    if n_missing:
        raise ValueError(f"{argname} has {n_missing} missing (NaN/None) labels")
    return arr


def check_groups(groups, n_rows: int, min_groups: int = 2, argname: str = "groups") -> np.ndarray:
    """Cluster labels: present, 1-D, one per row, no missing values, >= ``min_groups`` levels."""
    if groups is None:
        raise ValueError(
            f"{argname} is required: pass the cluster label of each row, e.g. fit(X, y, groups=g)"
        )
    if np.ndim(groups) != 1:
        raise ValueError(f"{argname} must be 1-D (n_samples,), got shape {np.shape(groups)}")
    arr = check_labels(groups, n_rows, argname)
    n_levels = len(pd.unique(pd.Series(arr)))
    if n_levels < min_groups:
        raise ValueError(
            f"{argname} has {n_levels} distinct cluster(s); need at least {min_groups}"
        )
    return arr


def check_unit_interval(value, argname: str) -> float:
    """A real number in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{argname} must be a number in [0, 1], got {type(value).__name__}")
    if not (np.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"{argname} must be in [0, 1], got {value}")
    return float(value)


def check_int(value, argname: str, minimum: int = 0) -> int:
    """An integer >= ``minimum`` (bools rejected)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{argname} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{argname} must be >= {minimum}, got {value}")
    return int(value)


def check_positive(value, argname: str) -> float:
    """A finite real number > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{argname} must be a positive number, got {type(value).__name__}")
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{argname} must be a finite number > 0, got {value}")
    return float(value)


# ---------------------------------------------------------------- data frames
_DATETIME_HINT = (
    "convert it to a number first, e.g. days since the start "
    "((data[{c!r}] - data[{c!r}].min()).dt.days) or the year (data[{c!r}].dt.year), "
    "or to a factor with data[{c!r}].astype(str)"
)


def _datetime_error(column: str, dtype, argname: str) -> TypeError:
    return TypeError(
        f"column {column!r} of {argname} has dtype {dtype} (dates/times/periods are not "
        f"numbers); {_DATETIME_HINT.format(c=column)}"
    )


def check_unique_columns(data: pd.DataFrame, columns: Iterable[str], argname: str = "data"):
    """Raise a ValueError if any of ``columns`` appears more than once in ``data``."""
    counts = pd.Index(data.columns).value_counts()
    dup = sorted({str(c) for c in columns if counts.get(c, 0) > 1})
    if dup:
        raise ValueError(
            f"{argname} has duplicate column name(s) {dup}; rename or drop the duplicates "
            "(e.g. data.loc[:, ~data.columns.duplicated()])"
        )


def _plain_categories(values: pd.Index) -> list:
    """Category labels as plain Python/numpy scalars (no NA-aware or Arrow dtypes)."""
    if values.dtype.kind in "mM" or isinstance(values.dtype, pd.PeriodDtype):
        return [str(v) for v in values]
    return list(values.to_numpy(dtype=object))


def plain_column(series: pd.Series, column: str, argname: str = "data",
                 drop_unused_levels: bool = True) -> pd.Series:
    """``series`` with nullable / Arrow-backed dtypes replaced by their plain equivalents.

    Int*/UInt* -> int64, Float* -> float64, boolean -> bool, string (any storage, incl.
    pandas' ``str`` and ``pd.ArrowDtype(pa.string())``) -> object of str, Arrow dictionary
    -> categorical. Categoricals lose unused levels (R ``drop.unused.levels``). Object
    columns holding only numbers / only booleans become numeric / bool; mixed value types
    and date/time dtypes raise a TypeError saying what to do. Call after the NaN check.
    """
    dtype = series.dtype
    if dtype.kind in "mM" or isinstance(dtype, (pd.PeriodDtype, pd.IntervalDtype)):
        raise _datetime_error(column, dtype, argname)
    if isinstance(dtype, pd.SparseDtype):
        series = series.sparse.to_dense()
        dtype = series.dtype
    if isinstance(dtype, pd.ArrowDtype) and dtype.kind == "O":  # dictionary-encoded etc.
        try:
            series = series.astype("category")
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"column {column!r} of {argname} has unsupported dtype {dtype}; convert it "
                "to a number, a string or a category"
            ) from exc
        dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        if drop_unused_levels:
            series = series.cat.remove_unused_categories()
        cats = series.cat.categories
        if isinstance(cats.dtype, pd.api.extensions.ExtensionDtype) or cats.dtype.kind in "mM":
            series = series.cat.rename_categories(_plain_categories(cats))
        return series
    if dtype.kind == "c":
        raise TypeError(f"column {column!r} of {argname} is complex ({dtype}); use real numbers")
    if isinstance(dtype, pd.api.extensions.ExtensionDtype):
        if pd.api.types.is_bool_dtype(dtype):
            target = np.bool_
        elif dtype.kind in "iu":
            target = np.int64
        elif dtype.kind == "f":
            target = np.float64
        elif pd.api.types.is_string_dtype(dtype):
            target = object
        else:
            raise TypeError(
                f"column {column!r} of {argname} has unsupported dtype {dtype}; convert it "
                "to a number, a string or a category"
            )
        return pd.Series(series.to_numpy(dtype=target), index=series.index, name=series.name)
    if pd.api.types.is_object_dtype(dtype):
        return _plain_object(series, column, argname)
    return series


def _plain_object(series: pd.Series, column: str, argname: str) -> pd.Series:
    kind = pd.api.types.infer_dtype(series, skipna=True)
    if kind == "string":
        return series
    if kind == "boolean":
        return series.astype(np.bool_)
    if kind == "integer":
        return pd.Series(series.to_numpy(dtype=np.int64), index=series.index, name=series.name)
    if kind in ("floating", "mixed-integer-float", "decimal"):
        return pd.Series(series.to_numpy(dtype=np.float64), index=series.index,
                         name=series.name)
    if kind in ("datetime", "datetime64", "date", "timedelta", "timedelta64", "time", "period"):
        raise _datetime_error(column, f"object ({kind} values)", argname)
    types = sorted({type(v).__name__ for v in series})
    raise TypeError(
        f"column {column!r} of {argname} mixes value types {types}; make it one type: "
        f"data[{column!r}].astype(str) for a factor, or pd.to_numeric(data[{column!r}]) "
        "for a number"
    )


def plain_frame(data: pd.DataFrame, columns: Iterable[str], argname: str = "data",
                drop_unused_levels: bool = True) -> pd.DataFrame:
    """A shallow copy of ``data`` whose ``columns`` are checked and made plain.

    Each column must be unique in ``data``, have no NaN/None (no +-inf if numeric) and a
    supported dtype (see ``plain_column``). The caller's frame is never modified.
    """
    columns = list(dict.fromkeys(columns))
    check_unique_columns(data, columns, argname)
    out = data.copy(deep=False)
    for col in columns:
        check_column_values(out, col)
        series = out[col]
        plain = plain_column(series, col, argname, drop_unused_levels)
        if plain is not series:
            out[col] = plain
            check_column_values(out, col)  # object -> float may reveal +-inf
    return out


# ------------------------------------------------------------- matrices and scalars
def dependent_columns(X: np.ndarray, tol: float = 1e-7, block_rows: int = 100_000) -> list[int]:
    """Columns of ``X`` that are (numerically) linear combinations of earlier columns.

    As R's ``lm`` (LINPACK ``dqrdc2``, tolerance 1e-7): a column is dependent when its
    residual after projecting on the kept earlier columns has norm < ``tol`` times its
    own norm. All-zero columns are dependent. R of a row-blocked QR of the
    unit-norm columns (never more than ``block_rows`` rows at once) carries the geometry.
    """
    X = np.asarray(X, dtype=np.float64)
    n, p = X.shape
    if p == 0:
        return []
    norms = np.sqrt(sum(np.einsum("ij,ij->j", X[s:s + block_rows], X[s:s + block_rows])
                        for s in range(0, n, block_rows)))
    scale = np.where(norms > 0, norms, 1.0)
    if np.all(norms > 0) and _clearly_full_rank(X, scale, block_rows):
        return []
    R = np.zeros((0, p))
    for s in range(0, n, block_rows):
        stacked = np.vstack([R, X[s:s + block_rows] / scale])
        R = np.linalg.qr(stacked, mode="r")
    dependent, basis = [], np.zeros((R.shape[0], 0))
    for j in range(p):
        if norms[j] == 0:
            dependent.append(j)
            continue
        v = R[:, j].copy()
        for _ in range(2):  # Gram-Schmidt, twice is enough
            v -= basis @ (basis.T @ v)
        r = float(np.linalg.norm(v))
        if r < tol:
            dependent.append(j)
        else:
            basis = np.column_stack([basis, v / r])
    return dependent


def _clearly_full_rank(X: np.ndarray, scale: np.ndarray, block_rows: int) -> bool:
    """Fast screen on the Gram matrix of the unit-norm columns: True when every column's
    squared residual on the earlier ones exceeds 1e-8 (far above the Gram's rounding,
    far below R's 1e-7 on the residual itself being at stake); False means "ask the QR"."""
    from scipy.linalg import solve_triangular

    n, p = X.shape
    G = np.zeros((p, p))
    for s in range(0, n, block_rows):
        Xb = X[s:s + block_rows] / scale
        G += Xb.T @ Xb
    L = np.zeros((p, p))
    for j in range(p):
        z = solve_triangular(L[:j, :j], G[:j, j], lower=True) if j else np.zeros(0)
        r2 = G[j, j] - z @ z
        if not r2 > 1e-8:
            return False
        L[j, :j], L[j, j] = z, np.sqrt(r2)
    return True


def check_bool(value, argname: str) -> bool:
    """A Python/numpy bool (not a string, number or None)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{argname} must be True or False, got {value!r}")
    return bool(value)


def check_nonnegative(value, argname: str) -> float:
    """A finite real number >= 0 (bools rejected)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{argname} must be a non-negative number, got {value!r}")
    if not (np.isfinite(value) and value >= 0):
        raise ValueError(f"{argname} must be a finite number >= 0, got {value}")
    return float(value)


def check_number_vector(values, n_rows: int, argname: str) -> np.ndarray:
    """Per-row finite numbers (a Series, list or 1-D array; an (n, 1) array is flattened)."""
    if isinstance(values, (pd.Series, pd.Index, pd.api.extensions.ExtensionArray)):
        series = pd.Series(values)
        if not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)):
            raise TypeError(f"{argname} must be numeric, got dtype {series.dtype}")
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    arr = np.asarray(values)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.dtype == object:
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"{argname} must be numeric; it holds non-numbers") from None
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise TypeError(f"{argname} must be numeric, got dtype {arr.dtype}")
    if arr.ndim != 1 or arr.shape[0] != n_rows:
        raise ValueError(f"{argname} must have one value per row ({n_rows}), got shape "
                         f"{arr.shape}")
    arr = arr.astype(np.float64)
    n_bad = int((~np.isfinite(arr)).sum())
    if n_bad:
        raise ValueError(f"{argname} contains NaN or infinite values ({n_bad} of {n_rows})")
    return arr


def check_square_matrix(V, p: int, argname: str = "vcov") -> np.ndarray:
    """A finite p x p float64 matrix."""
    try:
        arr = np.asarray(V, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{argname} must be a {p} x {p} numeric matrix") from None
    if arr.shape != (p, p):
        raise ValueError(f"{argname} must be a {p} x {p} matrix, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{argname} contains NaN or infinite values")
    return arr


# ------------------------------------------------------------- model responses
def response_values(data: pd.DataFrame, column: str) -> np.ndarray:
    """The response as float64: numbers, or booleans as 0/1 (as R); else a TypeError."""
    series = data[column]
    if pd.api.types.is_bool_dtype(series):
        return series.to_numpy(dtype=np.float64)
    if is_categorical(series) or not pd.api.types.is_numeric_dtype(series):
        raise TypeError(
            f"the response column {column!r} must be numeric (or boolean), got dtype "
            f"{series.dtype}; "
            f"for a two-level factor use e.g. (data[{column!r}] == 'yes').astype(int) with "
            "family='binomial'"
        )
    return series.to_numpy(dtype=np.float64)


def check_family_start(family, y: np.ndarray, w: np.ndarray, name: str) -> None:
    """ValueError when the family's starting values are invalid (R: "cannot find valid
    starting values"), e.g. a log or inverse link on a response with values <= 0."""
    with np.errstate(all="ignore"):
        mu = family.mu_start(y, w)
        eta = family.link.link(mu)
    if not (np.all(np.isfinite(eta)) and family.valid_mu(mu)):
        bad = int((~np.isfinite(eta)).sum())
        raise ValueError(
            f"cannot find valid starting values for {family!r}: the link of the response "
            f"{name!r} is not finite for {bad} row(s) (e.g. log or inverse link with values "
            "<= 0); use another link or transform the response"
        )


def warn_noninteger_successes(family, y: np.ndarray, w: np.ndarray, name: str) -> None:
    """R's binomial warning "non-integer #successes": y * weights should count successes."""
    import warnings

    if family.name != "binomial":
        return
    k = y * w
    bad = int((np.abs(k - np.round(k)) > 1e-7 * np.maximum(1.0, np.abs(k))).sum())
    if bad:
        warnings.warn(
            f"binomial response {name!r}: y * weights is not a whole number of successes for "
            f"{bad} row(s) (R: 'non-integer #successes in a binomial glm'); for proportions "
            "pass weights= the number of trials",
            UserWarning,
            stacklevel=3,
        )


def check_smoothing_parameters(sp, labels: Sequence[str]) -> np.ndarray | None:
    """``sp=``: None, or one finite number > 0 per smooth term (in formula order, or a
    dict / Series keyed by term label); mgcv's scale."""
    if sp is None:
        return None
    labels = list(labels)
    if not labels and not isinstance(sp, str) and np.size(sp) == 0:
        return None
    if not labels:
        raise ValueError("sp= was given but the formula has no smooth terms (krls(), s(), "
                         "re()); drop sp=")
    if isinstance(sp, (dict, pd.Series)):
        keys = list(sp.keys())
        unknown = [k for k in keys if k not in labels]
        missing = [k for k in labels if k not in keys]
        if unknown or missing:
            raise ValueError(f"sp keys must be the smooth terms {labels}; unknown {unknown}, "
                             f"missing {missing}")
        sp = [sp[k] for k in labels]
    if isinstance(sp, str):
        raise TypeError(f"sp must be numbers (one per smooth term {labels}), got {sp!r}")
    try:
        arr = np.atleast_1d(np.asarray(sp, dtype=np.float64))
    except (TypeError, ValueError):
        raise TypeError(f"sp must be numbers (one per smooth term {labels}), got {sp!r}") from None
    if arr.shape != (len(labels),):
        raise ValueError(
            f"sp must be {len(labels)} positive finite number(s), one per smooth term "
            f"{labels}; got shape {arr.shape}"
        )
    bad = [f"{lab}={v}" for lab, v in zip(labels, arr, strict=True)
           if not (np.isfinite(v) and v > 0)]
    if bad:
        raise ValueError(f"sp must be positive finite numbers (mgcv scale), got {bad}")
    return arr


# ------------------------------------------------------- numeric arrays (iv, cluster)
def _series_to_float(series: pd.Series, label: str) -> np.ndarray:
    """One pandas column as float64: numbers, bools (0/1) and nullable Int/Float/boolean
    (pd.NA -> NaN); anything else (strings, categories, dates, mixed objects) is a TypeError."""
    dtype = series.dtype
    if isinstance(dtype, pd.SparseDtype):
        series = series.sparse.to_dense()
        dtype = series.dtype
    if pd.api.types.is_object_dtype(dtype):
        kind = pd.api.types.infer_dtype(series, skipna=True)
        if kind in ("integer", "floating", "mixed-integer-float", "boolean", "decimal", "empty"):
            return series.to_numpy(dtype=np.float64, na_value=np.nan)
        raise TypeError(
            f"{label} must be numeric; it holds {kind} values such as "
            f"{series.dropna().iloc[0]!r}: convert it (pd.to_numeric, or dummy columns via "
            "pd.get_dummies for categories) first"
        )
    if getattr(dtype, "kind", "O") == "c":
        raise TypeError(f"{label} must be real-valued, got complex dtype {dtype}")
    if pd.api.types.is_bool_dtype(dtype) or (
        pd.api.types.is_numeric_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype)
    ):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    raise TypeError(
        f"{label} must be numeric, got dtype {dtype}: convert it (pd.to_numeric, or dummy "
        "columns via pd.get_dummies for categories) first"
    )


def as_float_array(value, argname: str) -> np.ndarray:
    """``value`` as a float64 ndarray of any shape (no finiteness or shape checks).

    Accepted: numeric arrays/lists, booleans (as 0/1), pandas Series/DataFrames with plain
    or nullable dtypes (Int64/Float64/boolean; pd.NA becomes NaN, reported by the caller's
    NaN check). Strings, objects that are not numbers, categoricals, dates and complex
    numbers raise a TypeError naming ``argname`` (and the column, for a DataFrame).
    """
    if isinstance(value, pd.DataFrame):
        if value.shape[1] == 0:
            return np.empty((len(value), 0))
        cols = [_series_to_float(value.iloc[:, j], f"{argname} column {c!r}")
                for j, c in enumerate(value.columns)]
        return np.column_stack(cols)
    if isinstance(value, (pd.Series, pd.Index, pd.api.extensions.ExtensionArray)):
        return _series_to_float(pd.Series(value), argname)
    arr = np.asarray(value)
    if arr.dtype == np.bool_ or np.issubdtype(arr.dtype, np.integer) or np.issubdtype(
        arr.dtype, np.floating
    ):
        return arr.astype(np.float64, copy=False)
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(f"{argname} must be real-valued, got complex dtype {arr.dtype}")
    if arr.dtype == object:
        flat = arr.ravel()
        bad = next((v for v in flat if not (isinstance(v, (int, float, np.integer, np.floating,
                                                          np.bool_)) or v is None or v is pd.NA)),
                   None)
        if bad is None:
            return np.array([np.nan if v is None or v is pd.NA else float(v) for v in flat],
                            dtype=np.float64).reshape(arr.shape)
        raise TypeError(
            f"{argname} must be numeric; it holds {type(bad).__name__} values such as {bad!r}"
        )
    raise TypeError(f"{argname} must be numeric, got dtype {arr.dtype}")


def check_sortable_labels(arr: np.ndarray, argname: str) -> None:
    """Raise a TypeError if the labels mix types that cannot be ordered (e.g. 1 and "a")."""
    if arr.dtype != object:
        return
    try:
        np.unique(arr)
    except TypeError:
        types = sorted({type(v).__name__ for v in arr})
        raise TypeError(
            f"{argname} mixes label types {types}; use one type, e.g. all strings "
            f"(np.asarray({argname}).astype(str))"
        ) from None


def check_int_sequence(value, argname: str, minimum: int = 1, allow_empty: bool = True):
    """A tuple of integers >= ``minimum`` (a single integer is a 1-tuple)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (value,)
    if isinstance(value, (str, bytes)) or not isinstance(value, (tuple, list, np.ndarray)):
        raise TypeError(f"{argname} must be a tuple of integers >= {minimum}, got {value!r}")
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{argname} must be a tuple of integers >= {minimum}, got {value!r}")
        if v < minimum:
            raise ValueError(f"{argname} must be a tuple of integers >= {minimum}, got {value!r}")
        out.append(int(v))
    if not out and not allow_empty:
        raise ValueError(f"{argname} must hold at least one value, got {value!r}")
    return tuple(out)


def check_grid(value, argname: str, strictly_positive: bool = True) -> np.ndarray:
    """A number or a non-empty 1-D grid of finite numbers > 0 (>= 0 if not strict)."""
    items = value if isinstance(value, (list, tuple, np.ndarray)) else [value]
    arr = np.asarray(items, dtype=object)
    what = "> 0" if strictly_positive else ">= 0"
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{argname} must be a number {what} or a non-empty 1-D list of them, "
                         f"got {value!r}")
    for v in arr:
        if isinstance(v, (bool, np.bool_)) or not isinstance(
            v, (int, float, np.integer, np.floating)
        ):
            raise TypeError(f"{argname} must be a number {what} or a 1-D list of them, got "
                            f"{value!r}")
    out = arr.astype(np.float64)
    bad = ~np.isfinite(out) | ((out <= 0) if strictly_positive else (out < 0))
    if bad.any():
        where = f" in {list(out)}" if out.size > 1 else ""
        raise ValueError(f"{argname} must be {what} and finite, got {out[bad][0]}{where}")
    return out
