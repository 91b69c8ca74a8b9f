"""Data-frame inputs: columns present, unique, without NaN, and in plain dtypes.

Nullable / Arrow-backed / sparse / object columns are normalised to plain numpy
dtypes (or categoricals) once, at the boundary; dates, complex numbers and mixed
value types are refused with a message saying what to do. Also: the response column
as float64, and one pandas column as float64 (for ``_checks.as_float_array``).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd


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


# --------------------------------------------------------------- plain dtypes
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


# ------------------------------------------------------- numeric columns (iv, cluster)
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
