"""What a fitted model keeps of its training frame: its own copies, never the caller's.

A fitted ``GAM`` needs its training rows after ``fit``: ``marginal_effects``/
``interactions``/``plot_effects`` default to them, and ``vcov("cluster", cluster=name)``
looks the cluster column up by name. Keeping a reference (or a shallow copy, or arrays
that are views) would let later edits of the caller's frame or arrays change those
results, so the model keeps deep copies, of only what it can use:

* the model's columns (response, term, offset and weight columns): deep copies, as is;
* other columns that can be cluster ids: integer, boolean, categorical and date/time
  columns copied; strings and other objects as categoricals (codes + levels, compact);
  float columns only when every value is a whole number (ids read as floats);
* other float columns (continuous measurements, never cluster ids) are not kept: pass
  such a cluster variable as values, ``cluster=data["col"]``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd


def _cluster_candidate(series: pd.Series) -> pd.Series | None:
    """A compact copy of a column that is not in the model, or None to drop it."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(dtype) \
            or pd.api.types.is_integer_dtype(dtype) or pd.api.types.is_datetime64_any_dtype(dtype) \
            or pd.api.types.is_timedelta64_dtype(dtype):
        return series.copy(deep=True)
    if pd.api.types.is_complex_dtype(dtype):
        return None
    if pd.api.types.is_float_dtype(dtype):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        finite = values[np.isfinite(values)]
        return series.copy(deep=True) if np.array_equal(finite, np.round(finite)) else None
    try:  # strings and other objects: codes + levels
        codes, uniques = pd.factorize(series)
        return pd.Series(pd.Categorical.from_codes(codes, categories=uniques),
                         name=series.name)
    except (TypeError, ValueError):  # unhashable or odd values: not a cluster id
        return None


def owned_training_frame(data: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """A new frame that shares no memory with ``data`` (see the module docstring)."""
    wanted = set(columns)
    duplicated = data.columns.duplicated(keep=False)
    kept: dict = {}
    for j, name in enumerate(data.columns):
        series = data.iloc[:, j].reset_index(drop=True)
        if name in wanted and not duplicated[j]:
            kept[name] = series.copy(deep=True)
        elif not duplicated[j]:  # an ambiguous name cannot be looked up anyway
            column = _cluster_candidate(series)
            if column is not None:
                kept[name] = column
    out = pd.DataFrame(kept, index=pd.RangeIndex(len(data)), copy=False)
    out.index = data.index.copy()
    return out
