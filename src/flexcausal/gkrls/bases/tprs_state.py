"""Validation of a saved thin plate regression spline (``TPRS.state()``/``arrays()``).

Saved files may be untrusted: every key, type, bound and shape is checked, arrays must
be finite float64 with the block structure ``tprs_setup`` produces (UZ = [A, 0; 0, D]
with D diagonal and positive; the raw penalty symmetric, zero on the M polynomial
columns). Nothing is evaluated; anything else raises ValueError.
"""

from __future__ import annotations

import numpy as np

from .tps import effective_m, null_space_dim

_STATE_KEYS = {"kind", "d", "m", "k", "n_knots", "max_knots", "seed"}
_ARRAY_KEYS = {"shift", "knots", "UZ", "col_means", "raw_penalty", "penalty_scale"}
MAX_DIM, MAX_M, MAX_K, MAX_KNOTS = 10, 10, 100_000, 1_000_000


def _int(state: dict, key: str, lo: int, hi: int) -> int:
    v = state[key]
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise ValueError(f"tp basis: state[{key!r}] must be an integer, got {type(v).__name__}")
    if not lo <= v <= hi:
        raise ValueError(f"tp basis: state[{key!r}]={v} is outside [{lo}, {hi}]")
    return int(v)


def _array(arrays: dict, key: str, shape: tuple) -> np.ndarray:
    a = arrays[key]
    if not isinstance(a, np.ndarray) or a.dtype != np.float64:
        raise ValueError(f"tp basis: array {key!r} must be a float64 ndarray")
    if a.shape != shape:
        raise ValueError(f"tp basis: array {key!r} has shape {a.shape}, expected {shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"tp basis: array {key!r} has non-finite values")
    return a.copy()


def _exact_keys(got, expected: set, what: str) -> None:
    if not isinstance(got, dict):
        raise ValueError(f"tp basis: {what} must be a dict")
    if set(got) != expected:
        raise ValueError(f"tp basis: {what} keys {sorted(map(str, got))} != {sorted(expected)}")


def validated(state: dict, arrays: dict) -> dict:
    """Keyword arguments for ``TPRS(...)`` after checking ``state`` and ``arrays``."""
    _exact_keys(state, _STATE_KEYS, "state")
    _exact_keys(arrays, _ARRAY_KEYS, "arrays")
    if state["kind"] != "tp":
        raise ValueError(f"tp basis: state['kind'] is {state['kind']!r}, expected 'tp'")
    d = _int(state, "d", 1, MAX_DIM)
    m = _int(state, "m", 1, MAX_M)
    if effective_m(d, m) != m:
        raise ValueError(f"tp basis: m={m} does not satisfy 2m > d={d}")
    M = null_space_dim(d, m)
    k = _int(state, "k", M + 1, MAX_K)
    n_u = _int(state, "n_knots", k, MAX_KNOTS)
    max_knots = _int(state, "max_knots", 1, 2**31 - 1)
    seed = _int(state, "seed", -(2**31) + 1, 2**31 - 1)
    shift = _array(arrays, "shift", (d,))
    knots = _array(arrays, "knots", (n_u, d))
    UZ = _array(arrays, "UZ", (n_u + M, k))
    col_means = _array(arrays, "col_means", (k,))
    S = _array(arrays, "raw_penalty", (k, k))
    scale = _array(arrays, "penalty_scale", (1,))[0]
    poly = UZ[n_u:, k - M :]
    if (np.any(UZ[:n_u, k - M :]) or np.any(UZ[n_u:, : k - M])
            or np.any(poly - np.diag(np.diag(poly))) or not np.all(np.diag(poly) > 0)):
        raise ValueError("tp basis: array 'UZ' lacks the [A, 0; 0, diag] block structure")
    if np.any(S[k - M :]) or np.any(S[:, k - M :]):
        raise ValueError("tp basis: 'raw_penalty' must be zero on the polynomial columns")
    if np.abs(S - S.T).max() > 1e-10 * max(np.abs(S).max(), 1e-300):
        raise ValueError("tp basis: 'raw_penalty' is not symmetric")
    if not np.any(col_means):
        raise ValueError("tp basis: 'col_means' is all zero")
    if not scale > 0:
        raise ValueError("tp basis: 'penalty_scale' must be positive")
    return {"d": d, "m": m, "k": k, "max_knots": max_knots, "seed": seed, "shift": shift,
            "knots": knots, "UZ": UZ, "col_means": col_means, "raw_penalty": S,
            "penalty_scale": float(scale)}
