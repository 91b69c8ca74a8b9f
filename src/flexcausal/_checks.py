"""Input validation shared by every estimator: fail early, name the culprit.

All public entry points call these helpers once, at the boundary, so that the
numerical code below can assume clean float64 arrays. Data-frame columns are checked
and made plain in ``_frames``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ._frames import _series_to_float


def check_choice(value, options: Sequence[str], argname: str) -> str:
    """Return ``value`` lower-cased if it is one of ``options``, else raise ValueError."""
    if not isinstance(value, str):
        raise TypeError(f"{argname} must be a string, one of {list(options)}; got {value!r}")
    low = value.lower()
    if low not in [o.lower() for o in options]:
        raise ValueError(f"unknown {argname} {value!r}; expected one of {list(options)}")
    return low


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


# ------------------------------------------------------------- matrices and scalars
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


# ------------------------------------------------------- numeric arrays (iv, cluster)
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
