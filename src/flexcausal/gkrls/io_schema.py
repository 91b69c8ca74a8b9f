"""The schema of a saved model's JSON header and arrays, checked by ``load``.

Every key, type, range and allowed value of the header, the format version, and each
array's dtype and shape against the header; ``_check_model`` returns the terms and
scalars to build the model from. A defect raises ``_Invalid`` (a ValueError) naming
where in the header it is.
"""

from __future__ import annotations

import math
import re

import numpy as np

from .. import __version__
from .families import FAMILIES
from .kernel import SKETCHES, STANDARDIZE
from .parametric_store import StoredParametricTerms
from .terms import CRSplineTerm, KRLSTerm, RandomEffectTerm

FORMAT_VERSION = 1

MAX_NAME = 256
MAX_LIST = 1_000_000

_VERSION = re.compile(r"\d{1,6}\.\d{1,6}\.\d{1,6}([.+-]?[A-Za-z0-9.+-]{0,40})?")
_TOP_KEYS = {"format", "flexcausal_version", "class", "formula", "family", "link",
             "offset_columns", "method", "response", "block_rows", "coef_names", "sp_names",
             "terms", "scalars"}
_SCALARS = ("scale_", "reml_scale_", "reml_", "n_obs_", "deviance_", "r2_adj_",
            "null_deviance_", "converged_", "n_iter_")
_KRLS_KEYS = {"columns", "sketch", "multiplier", "size", "standardize", "bandwidth",
              "bandwidth_arg", "seed", "levels", "size_before"}
_GLOBAL_ARRAYS = ("coef", "Vp", "Ve", "edf_coef", "sp")


class _Invalid(ValueError):
    """A reason why a file is not a valid model (wrapped by ``load``)."""


# ----------------------------------------------------------------- schema helpers
def _where(path: str, message: str) -> _Invalid:
    return _Invalid(f"header {path}: {message}")


def _keys(obj, required: set[str], path: str, optional: frozenset = frozenset()) -> dict:
    if not isinstance(obj, dict):
        raise _where(path, f"must be an object, got {type(obj).__name__}")
    missing, unknown = required - set(obj), set(obj) - required - optional
    if missing:
        raise _where(path, f"missing key(s) {sorted(missing)}")
    if unknown:
        raise _where(path, f"unknown key(s) {sorted(k[:40] for k in unknown)}")
    return obj


def _int(value, path: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _where(path, f"must be an integer, got {type(value).__name__}")
    if not lo <= value <= hi:
        raise _where(path, f"{value} is outside [{lo}, {hi}]")
    return value


def _number(value, path: str, lo: float = -math.inf, hi: float = math.inf,
            finite: bool = True, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _where(path, f"must be a number, got {type(value).__name__}")
    value = float(value)
    if finite and not math.isfinite(value):
        raise _where(path, f"must be finite, got {value}")
    if positive and not value > 0:
        raise _where(path, f"must be positive, got {value}")
    if math.isfinite(value) and not lo <= value <= hi:
        raise _where(path, f"{value} is outside [{lo}, {hi}]")
    return value


def _string(value, path: str, max_len: int = MAX_NAME, identifier: bool = False) -> str:
    if not isinstance(value, str):
        raise _where(path, f"must be a string, got {type(value).__name__}")
    if not value or len(value) > max_len:
        raise _where(path, f"must have 1 to {max_len} characters")
    if identifier and not value.isidentifier():
        raise _where(path, f"{value[:40]!r} is not a column name")
    return value


def _choice(value, options, path: str) -> str:
    if not isinstance(value, str) or value not in options:
        raise _where(path, f"{str(value)[:40]!r} is not one of {list(options)}")
    return value


def _strings(value, path: str, identifier: bool = False, unique: bool = False,
             min_len: int = 0, max_items: int = MAX_LIST, max_len: int = 10_000) -> list[str]:
    if not isinstance(value, list):
        raise _where(path, f"must be a list, got {type(value).__name__}")
    if not min_len <= len(value) <= max_items:
        raise _where(path, f"must have {min_len} to {max_items} entries, has {len(value)}")
    for i, item in enumerate(value):
        _string(item, f"{path}[{i}]", max_len=max_len, identifier=identifier)
    if unique and len(set(value)) != len(value):
        raise _where(path, "entries are not unique")
    return value


def _array(arrays: dict, key: str, shape: tuple, kind: str = "f") -> np.ndarray:
    """``arrays[key]`` with ``kind`` ('f' float64, 'i' int64) and ``shape`` (None = any)."""
    arr = arrays.get(key)
    if arr is None:
        raise _Invalid(f"array {key!r} is missing")
    dtype = np.float64 if kind == "f" else np.int64
    if arr.dtype != dtype:
        raise _Invalid(f"array {key!r} has dtype {arr.dtype}, expected {np.dtype(dtype)}")
    if len(shape) != arr.ndim or any(s is not None and s != a
                                     for s, a in zip(shape, arr.shape, strict=True)):
        want = tuple("*" if s is None else s for s in shape)
        raise _Invalid(f"array {key!r} has shape {arr.shape}, expected {want}")
    if kind == "f" and not np.all(np.isfinite(arr)):
        raise _Invalid(f"array {key!r} has NaN or infinite values")
    return arr


# ----------------------------------------------------------------- the schema
def _check_model(meta: dict, arrays: dict) -> dict:
    """Validate the header and arrays; returns the terms and scalars to build from."""
    from .model import METHODS

    if not isinstance(meta, dict):
        raise _Invalid("the header is not a JSON object")
    if "format" not in meta:
        raise _Invalid("the header has no 'format' version")
    fmt = meta["format"]
    if isinstance(fmt, bool) or not isinstance(fmt, int):
        raise _where("format", f"must be an integer, got {str(fmt)[:40]!r}")
    if fmt != FORMAT_VERSION:
        raise _Invalid(f"it has model format {fmt}; this flexcausal ({__version__}) reads "
                       f"model format {FORMAT_VERSION}")
    written = meta.get("flexcausal_version")
    if not isinstance(written, str) or not _VERSION.fullmatch(written):
        raise _where("flexcausal_version", f"{str(written)[:40]!r} is not a version")
    if written.split(".")[0] != __version__.split(".")[0]:
        raise _Invalid(f"it was written by flexcausal {written}, incompatible with "
                       f"{__version__}")
    _keys(meta, _TOP_KEYS, "(top level)")
    _choice(meta["class"], ("GAM",), "class")
    formula = _string(meta["formula"], "formula", max_len=100_000)
    if not all(ch.isprintable() or ch in " \t\n" for ch in formula):
        raise _where("formula", "contains control characters")
    family = _choice(meta["family"], tuple(FAMILIES), "family")
    _choice(meta["link"], FAMILIES[family].links, "link")
    _choice(meta["method"], METHODS, "method")
    _string(meta["response"], "response", identifier=True)
    _strings(meta["offset_columns"], "offset_columns", identifier=True, max_items=1000,
             max_len=MAX_NAME)
    _int(meta["block_rows"], "block_rows", 1, 10**9)
    scalars = _check_scalars(meta["scalars"])

    raw_terms = meta["terms"]
    if not isinstance(raw_terms, list) or not 1 <= len(raw_terms) <= 10_000:
        raise _where("terms", "must be a list of 1 to 10000 terms")
    expected = set(_GLOBAL_ARRAYS)
    terms = []
    for i, entry in enumerate(raw_terms):
        path = f"terms[{i}]"
        _keys(entry, {"kind", "state"}, path)
        kind = _choice(entry["kind"], ("parametric",) if i == 0 else ("krls", "re", "cr"),
                       f"{path}.kind")
        prefix = f"t{i}_"
        if kind == "parametric":
            try:
                term = StoredParametricTerms.from_state(entry["state"], arrays, prefix)
            except _Invalid:
                raise
            except (ValueError, TypeError) as exc:
                raise _where(f"{path}.state", str(exc)) from exc
            expected |= {f"{prefix}{k}" for k in term.arrays()}
        elif kind == "krls":
            term = _check_krls(entry["state"], arrays, prefix, path, scalars["n_obs_"])
            expected |= {f"{prefix}{k}" for k in ("mean", "whiten", "anchors", "weights",
                                                  "eigenvalues", "penalty")}
            if f"{prefix}indices" in arrays:
                expected.add(f"{prefix}indices")
        elif kind == "re":
            term = _check_re(entry["state"], path)
        else:
            term = _check_cr(entry["state"], arrays, prefix, path)
            expected |= {f"{prefix}knots", f"{prefix}Z", f"{prefix}penalty"}
        terms.append(term)
    missing, extra = expected - set(arrays), set(arrays) - expected
    if missing:
        raise _Invalid(f"missing array(s) {sorted(missing)}")
    if extra:
        raise _Invalid(f"unexpected array(s) {sorted(k[:40] for k in extra)}")

    labels = [t.label for t in terms]
    if len(set(labels)) != len(labels):
        raise _where("terms", "two terms have the same label")
    names = [n for t in terms for n in t.coef_names]
    smooths = [t.label for t in terms if t.penalty is not None]
    if meta["coef_names"] != names:
        raise _where("coef_names", "do not match the terms' coefficients")
    if meta["sp_names"] != smooths:
        raise _where("sp_names", "do not match the smooth terms")
    p = len(names)
    _array(arrays, "coef", (p,))
    _array(arrays, "edf_coef", (p,))
    _array(arrays, "Vp", (p, p))
    _array(arrays, "Ve", (p, p))
    sp = _array(arrays, "sp", (len(smooths),))
    if np.any(sp <= 0):
        raise _Invalid("array 'sp' has non-positive smoothing parameters")
    return {"terms": terms, "scalars": scalars}


def _check_scalars(raw) -> dict:
    _keys(raw, set(_SCALARS), "scalars")
    out = {
        "scale_": _number(raw["scale_"], "scalars.scale_", positive=True),
        "reml_scale_": _number(raw["reml_scale_"], "scalars.reml_scale_", positive=True),
        "reml_": _number(raw["reml_"], "scalars.reml_"),
        "n_obs_": _int(raw["n_obs_"], "scalars.n_obs_", 1, 10**13),
        "deviance_": _number(raw["deviance_"], "scalars.deviance_"),
        "r2_adj_": _number(raw["r2_adj_"], "scalars.r2_adj_", finite=False),
        "null_deviance_": _number(raw["null_deviance_"], "scalars.null_deviance_"),
        "n_iter_": _int(raw["n_iter_"], "scalars.n_iter_", 0, 10**9),
    }
    if not isinstance(raw["converged_"], bool):
        raise _where("scalars.converged_", "must be true or false")
    out["converged_"] = raw["converged_"]
    return out


def _check_levels(value, path: str, min_len: int) -> list[str]:
    return _strings(value, path, unique=True, min_len=min_len, max_len=10_000)


def _check_krls(state, arrays, prefix, path, n_obs) -> KRLSTerm:
    _keys(state, _KRLS_KEYS, f"{path}.state")
    sp = f"{path}.state"
    columns = _strings(state["columns"], f"{sp}.columns", identifier=True, min_len=1,
                       max_items=10_000, max_len=MAX_NAME)
    _choice(state["sketch"], SKETCHES, f"{sp}.sketch")
    _choice(state["standardize"], STANDARDIZE, f"{sp}.standardize")
    _number(state["multiplier"], f"{sp}.multiplier", hi=1e9, positive=True)
    if state["size"] is not None:
        _int(state["size"], f"{sp}.size", 1, 10**9)
    _number(state["bandwidth"], f"{sp}.bandwidth", hi=1e300, positive=True)
    if state["bandwidth_arg"] is not None:
        _number(state["bandwidth_arg"], f"{sp}.bandwidth_arg", hi=1e300, positive=True)
    if state["seed"] is not None:
        _int(state["seed"], f"{sp}.seed", 0, 2**64 - 1)
    size_before = _int(state["size_before"], f"{sp}.size_before", 1, 10**9)
    levels = state["levels"]
    if not isinstance(levels, dict) or not set(levels) <= set(columns):
        raise _where(f"{sp}.levels", "must map kernel columns to their levels")
    for col, lev in levels.items():
        _check_levels(lev, f"{sp}.levels.{col}", min_len=1)
    width = sum(len(levels[c]) if c in levels else 1 for c in columns)
    whiten = _array(arrays, f"{prefix}whiten", (width, None))
    q = whiten.shape[1]
    if not 1 <= q <= width:
        raise _Invalid(f"array {prefix}whiten has {q} columns for {width} inputs")
    _array(arrays, f"{prefix}mean", (width,))
    anchors = _array(arrays, f"{prefix}anchors", (None, q))
    m = anchors.shape[0]
    weights = _array(arrays, f"{prefix}weights", (m, None))
    k = weights.shape[1]
    if not 1 <= k <= size_before or m < 1:
        raise _Invalid(f"array {prefix}weights has shape {weights.shape} for a sketch of "
                       f"{size_before}")
    _array(arrays, f"{prefix}eigenvalues", (size_before,))
    _array(arrays, f"{prefix}penalty", (k, k))
    if f"{prefix}indices" in arrays:
        idx = _array(arrays, f"{prefix}indices", (m,), kind="i")
        if idx.min() < 0 or idx.max() >= n_obs:
            raise _Invalid(f"array {prefix}indices is outside [0, {n_obs})")
    try:
        return KRLSTerm.from_state(state, arrays, prefix)
    except (ValueError, TypeError) as exc:
        raise _where(sp, str(exc)) from exc


def _check_re(state, path) -> RandomEffectTerm:
    sp = f"{path}.state"
    _keys(state, {"column", "levels"}, sp)
    _string(state["column"], f"{sp}.column", identifier=True)
    _check_levels(state["levels"], f"{sp}.levels", min_len=2)
    return RandomEffectTerm.from_state(state, {}, "")


def _check_cr(state, arrays, prefix, path) -> CRSplineTerm:
    sp = f"{path}.state"
    _keys(state, {"column", "k"}, sp)
    _string(state["column"], f"{sp}.column", identifier=True)
    k = _int(state["k"], f"{sp}.k", 3, 100_000)
    knots = _array(arrays, f"{prefix}knots", (k,))
    if not np.all(np.diff(knots) > 0):
        raise _Invalid(f"array {prefix}knots is not strictly increasing")
    _array(arrays, f"{prefix}Z", (k, k - 1))
    _array(arrays, f"{prefix}penalty", (k - 1, k - 1))
    return CRSplineTerm.from_state(state, arrays, prefix)
