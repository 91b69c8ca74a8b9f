"""Save / load fitted GAMs as one ``.npz`` file: arrays plus a JSON header. No pickle.

The header (array ``__meta__``, UTF-8 JSON) carries the format version, the flexcausal
version that wrote it, the family, each term's small state and the fit statistics;
arrays carry bases, codings and covariances. The parametric part is stored as data
(factor levels, coding matrices, numeric transforms as restricted expression trees;
see ``parametric_store``), never as formula code.

``load`` treats the file as untrusted input: it checks the zip directory and every
array header (no object arrays, nothing unpickled), validates the header against an
explicit schema (keys, types, ranges, allowed values, format version) and every array's
dtype and shape against the header, before it builds the model from the checked values.
Nothing from the file is parsed as Python or evaluated while loading.
"""

from __future__ import annotations

import json
import math
import os
import re
import zipfile

import numpy as np
import pandas as pd

from .. import __version__
from .families import FAMILIES
from .kernel import SKETCHES, STANDARDIZE
from .parametric_store import StoredParametricTerms, describe_parametric
from .terms import CRSplineTerm, KRLSTerm, RandomEffectTerm

FORMAT_VERSION = 1

MAX_META_BYTES = 64 * 2**20  # the JSON header
MAX_MEMBERS = 100_000
MAX_RATIO = 1100  # deflate cannot compress more than ~1032:1; more means lying sizes
MAX_NAME = 256
MAX_LIST = 1_000_000
MAX_INT_DIGITS = 20

_MEMBER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}\.npy")
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


# ======================================================================= save
def _json_default(value):
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def save_model(model, path) -> None:
    if not hasattr(model, "coef_"):
        raise ValueError("cannot save an unfitted model")
    arrays = {
        "coef": model.coef_.to_numpy(),
        "Vp": model._Vp,
        "Ve": model._Ve,
        "edf_coef": model.edf_coef_,
        "sp": model.sp_.to_numpy(),
    }
    train = getattr(model, "_train", None)
    terms = []
    for i, term in enumerate(model.terms):
        if term.kind == "parametric":
            state, term_arrays = describe_parametric(
                term,
                None if train is None else train["encodings"][i],
                None if train is None else train["data"],
            )
        else:
            state = term.state()
            term_arrays = term.arrays() if hasattr(term, "arrays") else {}
        terms.append({"kind": term.kind, "state": state})
        for key, value in term_arrays.items():
            arrays[f"t{i}_{key}"] = np.asarray(value)
    meta = {
        "format": FORMAT_VERSION,
        "flexcausal_version": __version__,
        "class": "GAM",
        "formula": model.formula,
        "family": model.family_.name,
        "link": model.family_.link.name,
        "offset_columns": list(model.offset_columns),
        "method": model.method,
        "response": model.response,
        "block_rows": int(model.block_rows),
        "coef_names": list(model.coef_.index),
        "sp_names": list(model.sp_.index),
        "terms": terms,
        "scalars": {k: getattr(model, k) for k in _SCALARS},
    }
    header = json.dumps(meta, default=_json_default).encode("utf-8")
    try:  # never write a file that ``load`` would refuse
        _check_model(_decode_header(header), arrays)
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"cannot save this model: it would not load back ({exc})") from exc
    arrays["__meta__"] = np.frombuffer(header, dtype=np.uint8)
    with open(path, "wb") as fh:
        np.savez_compressed(fh, **arrays)


# ======================================================================= load
def load(path):
    """Read a model written by ``GAM.save`` (``path``: a file name or a binary file object).

    The file is untrusted input. Any malformed file (not a zip/npz, truncated, corrupted,
    missing or extra arrays, wrong dtypes or shapes, object arrays, a header with unknown
    or missing keys, wrong types, out-of-range numbers, another format version or an
    incompatible flexcausal major version) raises one ``ValueError`` saying the file is
    not a valid flexcausal model, chained to the underlying cause. Missing files raise
    ``FileNotFoundError`` as usual.

    Nothing from the file is evaluated: arrays are read with ``allow_pickle=False``, and
    the parametric part is rebuilt from stored levels, coding matrices and numeric
    transforms kept as expression trees, which are checked here and evaluated only when
    the model predicts, by ``safe_eval`` (numbers, column names, + - * / **, ``I()``,
    ``abs`` and ``np.log``/``log1p``/``log2``/``log10``/``exp``/``expm1``/``sqrt``/
    ``abs``/``square``; anything else raises ValueError). Models using other transforms
    (``center()``, ``poly()``, ...) are refused when saving. The ``formula`` string is kept
    for display only; it is never parsed on load (refitting a loaded model with ``fit``
    would evaluate it like any formula, so do not refit models from untrusted files).
    """
    from .model import GAM

    name = os.fspath(path) if isinstance(path, (str, os.PathLike)) else getattr(
        path, "name", "the file")
    fh = open(path, "rb") if isinstance(path, (str, os.PathLike)) else path
    try:
        try:
            arrays = _read_arrays(fh)
            if "__meta__" not in arrays:
                raise _Invalid("it has no '__meta__' header array")
            meta = _read_meta(arrays.pop("__meta__"))
            checked = _check_model(meta, arrays)
        except Exception as exc:  # noqa: BLE001 - every defect of the file becomes one error
            reason = str(exc) if isinstance(exc, _Invalid) else f"{type(exc).__name__}: {exc}"
            raise ValueError(
                f"{name} is not a valid flexcausal model file (not a flexcausal model "
                f"written by GAM.save, or a damaged or altered one): {reason}"
            ) from exc
    finally:
        if fh is not path:
            fh.close()
    model = GAM(meta["formula"], family=meta["family"], method=meta["method"],
                link=meta["link"], block_rows=meta["block_rows"])
    model.offset_columns = list(meta["offset_columns"])
    model.response = meta["response"]
    model.terms = checked["terms"]
    model.coef_ = pd.Series(arrays["coef"], index=list(meta["coef_names"]), name="coef")
    model.sp_ = pd.Series(arrays["sp"], index=list(meta["sp_names"]), name="sp")
    model._Vp, model._Ve = arrays["Vp"], arrays["Ve"]
    model.edf_coef_ = arrays["edf_coef"]
    scalars = checked["scalars"]
    model.scale_ = scalars["scale_"]
    model.reml_scale_ = scalars["reml_scale_"]
    model.reml_ = scalars["reml_"]
    model.n_obs_ = scalars["n_obs_"]
    model.deviance_ = scalars["deviance_"]
    model.r2_adj_ = scalars["r2_adj_"]
    model.null_deviance_ = scalars["null_deviance_"]
    model.converged_ = scalars["converged_"]
    model.n_iter_ = scalars["n_iter_"]
    model._derive_term_stats()
    model._fitted = None
    model._train = None
    return model


# ----------------------------------------------------------------- zip and arrays
def _read_arrays(fh) -> dict[str, np.ndarray]:
    """Every member of the npz, after checking the directory and each .npy header."""
    with zipfile.ZipFile(fh) as zf:
        infos = zf.infolist()
        if not infos:
            raise _Invalid("the archive is empty")
        if len(infos) > MAX_MEMBERS:
            raise _Invalid(f"the archive has {len(infos)} members")
        names = [info.filename for info in infos]
        if len(set(names)) != len(names):
            raise _Invalid("the archive has duplicate members")
        compressed = sum(info.compress_size for info in infos)
        declared = sum(info.file_size for info in infos)
        if declared > MAX_RATIO * compressed + 2**20:
            raise _Invalid(f"implausible sizes: {declared} bytes declared in "
                           f"{compressed} compressed bytes")
        arrays = {}
        for info in infos:
            if not _MEMBER.fullmatch(info.filename):
                raise _Invalid(f"unexpected archive member {info.filename[:80]!r}")
            if info.flag_bits & 0x1:
                raise _Invalid(f"member {info.filename!r} is encrypted")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise _Invalid(f"member {info.filename!r} uses compression method "
                               f"{info.compress_type}")
            key = info.filename[: -len(".npy")]
            with zf.open(info) as f:
                _check_npy_header(f, info)
            with zf.open(info) as f:
                arr = np.lib.format.read_array(f, allow_pickle=False)
                if f.read(1):  # also makes zipfile verify the CRC
                    raise _Invalid(f"member {info.filename!r} has trailing data")
            if not arr.dtype.isnative:
                arr = arr.astype(arr.dtype.newbyteorder("="))
            arrays[key] = arr
    return arrays


def _check_npy_header(f, info) -> None:
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(f)
    else:
        raise _Invalid(f"member {info.filename!r} has .npy version {version}")
    if dtype.hasobject:
        raise _Invalid(f"member {info.filename!r} is an object array (pickled data)")
    if (dtype.kind, dtype.itemsize) not in (("f", 8), ("i", 8), ("u", 1)) or dtype.fields:
        raise _Invalid(f"member {info.filename!r} has dtype {dtype}")
    if len(shape) > 2:
        raise _Invalid(f"member {info.filename!r} has {len(shape)} dimensions")
    nbytes = math.prod(shape) * dtype.itemsize
    if info.file_size != f.tell() + nbytes:
        raise _Invalid(f"member {info.filename!r}: shape {shape} does not match its size")


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _Invalid(f"integer with {len(text)} digits in the header")
    return int(text)


def _unique_keys(pairs) -> dict:
    out = {}
    for key, value in pairs:
        if key in out:
            raise _Invalid(f"duplicate header key {key[:80]!r}")
        out[key] = value
    return out


def _decode_header(raw: bytes):
    return json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_keys,
                      parse_int=_parse_int)


def _read_meta(raw: np.ndarray) -> dict:
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise _Invalid(f"the header array is {raw.dtype} with shape {raw.shape}, not bytes")
    if raw.size > MAX_META_BYTES:
        raise _Invalid(f"the header has {raw.size} bytes")
    try:
        meta = _decode_header(raw.tobytes())
    except _Invalid:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _Invalid(f"the header is not valid UTF-8 JSON ({exc})") from exc
    if not isinstance(meta, dict):
        raise _Invalid("the header is not a JSON object")
    return meta


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
