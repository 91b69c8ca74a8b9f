"""Validators for untrusted saved-model content (JSON values and arrays).

Every check raises ``Invalid`` (a ValueError) naming where in the header the defect is.
Used by ``io_schema`` for the header and by each term's ``from_state``; nothing here
evaluates anything.
"""

from __future__ import annotations

import math

import numpy as np

MAX_NAME = 256
MAX_LIST = 1_000_000


class Invalid(ValueError):
    """A reason why a file is not a valid model (wrapped by ``load``)."""


# ----------------------------------------------------------------- schema helpers
def where(path: str, message: str) -> Invalid:
    return Invalid(f"header {path}: {message}")


def keys(obj, required: set[str], path: str, optional: frozenset = frozenset()) -> dict:
    if not isinstance(obj, dict):
        raise where(path, f"must be an object, got {type(obj).__name__}")
    missing, unknown = required - set(obj), set(obj) - required - optional
    if missing:
        raise where(path, f"missing key(s) {sorted(missing)}")
    if unknown:
        raise where(path, f"unknown key(s) {sorted(k[:40] for k in unknown)}")
    return obj


def integer(value, path: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise where(path, f"must be an integer, got {type(value).__name__}")
    if not lo <= value <= hi:
        raise where(path, f"{value} is outside [{lo}, {hi}]")
    return value


def number(value, path: str, lo: float = -math.inf, hi: float = math.inf,
            finite: bool = True, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise where(path, f"must be a number, got {type(value).__name__}")
    value = float(value)
    if finite and not math.isfinite(value):
        raise where(path, f"must be finite, got {value}")
    if positive and not value > 0:
        raise where(path, f"must be positive, got {value}")
    if math.isfinite(value) and not lo <= value <= hi:
        raise where(path, f"{value} is outside [{lo}, {hi}]")
    return value


def text(value, path: str, max_len: int = MAX_NAME, identifier: bool = False) -> str:
    if not isinstance(value, str):
        raise where(path, f"must be a string, got {type(value).__name__}")
    if not value or len(value) > max_len:
        raise where(path, f"must have 1 to {max_len} characters")
    if identifier and not value.isidentifier():
        raise where(path, f"{value[:40]!r} is not a column name")
    return value


def choice(value, options, path: str) -> str:
    if not isinstance(value, str) or value not in options:
        raise where(path, f"{str(value)[:40]!r} is not one of {list(options)}")
    return value


def strings(value, path: str, identifier: bool = False, unique: bool = False,
             min_len: int = 0, max_items: int = MAX_LIST, max_len: int = 10_000) -> list[str]:
    if not isinstance(value, list):
        raise where(path, f"must be a list, got {type(value).__name__}")
    if not min_len <= len(value) <= max_items:
        raise where(path, f"must have {min_len} to {max_items} entries, has {len(value)}")
    for i, item in enumerate(value):
        text(item, f"{path}[{i}]", max_len=max_len, identifier=identifier)
    if unique and len(set(value)) != len(value):
        raise where(path, "entries are not unique")
    return value


def array_of(arrays: dict, key: str, shape: tuple, kind: str = "f") -> np.ndarray:
    """``arrays[key]`` with ``kind`` ('f' float64, 'i' int64) and ``shape`` (None = any)."""
    arr = arrays.get(key)
    if arr is None:
        raise Invalid(f"array {key!r} is missing")
    dtype = np.float64 if kind == "f" else np.int64
    if arr.dtype != dtype:
        raise Invalid(f"array {key!r} has dtype {arr.dtype}, expected {np.dtype(dtype)}")
    if len(shape) != arr.ndim or any(s is not None and s != a
                                     for s, a in zip(shape, arr.shape, strict=True)):
        want = tuple("*" if s is None else s for s in shape)
        raise Invalid(f"array {key!r} has shape {arr.shape}, expected {want}")
    if kind == "f" and not np.all(np.isfinite(arr)):
        raise Invalid(f"array {key!r} has NaN or infinite values")
    return arr


