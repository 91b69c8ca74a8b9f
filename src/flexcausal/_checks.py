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
    arr = np.asarray(X)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{argname} must be numeric, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
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
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{argname} must be 1-D (n_samples,), got shape {arr.shape}")
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{argname} must be numeric, got dtype {arr.dtype}")
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
