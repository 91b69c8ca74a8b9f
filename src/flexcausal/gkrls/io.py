"""Save / load fitted GAMs as one ``.npz`` file: arrays plus a JSON header. No pickle.

The header (array ``__meta__``, UTF-8 JSON) carries the format version, the flexcausal
version that wrote it, the family with its parameters (``family_store``: ocat cut points,
nb theta, multinom K), the terms of each linear predictor (``lp_sizes``), each term's
small state and the fit statistics; arrays carry bases, codings and covariances. The
parametric part is stored as data (factor levels, coding matrices, numeric transforms as
restricted expression trees; see ``parametric_store``), never as formula code.

``load`` treats the file as untrusted input: it checks the zip directory and every
array header (no object arrays, nothing unpickled), validates the header against an
explicit schema (``io_schema``: keys, types, ranges, allowed values, format version)
and every array's dtype and shape against the header, before it builds the model from
the checked values. Nothing from the file is parsed as Python or evaluated while loading.
"""

from __future__ import annotations

import json
import math
import os
import re
import zipfile

import numpy as np

from .. import __version__
from .family_store import describe_family, natural_theta
from .io_schema import _SCALARS, FORMAT_VERSION, _check_model, _Invalid
from .parametric_store import describe_parametric
from .result import FitResult

MAX_META_BYTES = 64 * 2**20  # the JSON header
MAX_MEMBERS = 100_000
MAX_RATIO = 1100  # deflate cannot compress more than ~1032:1; more means lying sizes
MAX_INT_DIGITS = 20

_MEMBER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}\.npy")


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


def _summary_tests(model) -> list:
    from .summary import smooth_table

    smooth_table(model)  # fills model._smooth_tests
    return model._smooth_tests


def save_model(model, path) -> None:
    if not hasattr(model, "coef_"):
        raise ValueError("cannot save an unfitted model")
    family_state = describe_family(model.family_)
    arrays = {
        "coef": model.coef_.to_numpy(),
        "Vp": model.Vp_,
        "Ve": model.Ve_,
        "F": model.result_.F,
        # the summary's smooth-term tests need the training rows: saved as numbers
        "smooth_tests": np.array(
            [row[1:] for row in _summary_tests(model)], dtype=float).reshape(-1, 3),
        "edf_coef": model.edf_coef_,
        "sp": model.sp_.to_numpy(),
    }
    train = getattr(model, "training_", None)
    terms = []
    for i, term in enumerate(model.terms):
        if term.kind == "parametric":
            state, term_arrays = describe_parametric(
                term,
                None if train is None else train["encodings"][i],
                None if train is None else train["data"],
            )
        else:
            state, term_arrays = term.state(), term.arrays()
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
        "family_state": family_state,
        "lp_sizes": [int(k) for k in getattr(model, "lp_sizes_", [len(model.terms)])],
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
def read_model(path) -> dict:
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
    scalars = checked["scalars"]
    Vp, Ve, F = arrays["Vp"], arrays["Ve"], arrays["F"]
    family = checked["family"]
    result = FitResult(arrays["coef"], arrays["sp"], arrays["edf_coef"], Vp, Ve, F,
                       scalars["scale_"], scalars["reml_scale_"], scalars["reml_"],
                       scalars["deviance_"], scalars["null_deviance_"], scalars["r2_adj_"],
                       scalars["converged_"], scalars["n_iter_"], None,
                       natural_theta(family))
    return {"meta": meta, "terms": checked["terms"], "scalars": scalars, "result": result,
            "smooth_tests": arrays["smooth_tests"], "family": family,
            "lp_sizes": checked["lp_sizes"]}


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
