"""The schema of a saved model's JSON header and arrays, checked by ``load``.

Every key, type, range and allowed value of the header, the format version, and each
array's dtype and shape against the header; ``_check_model`` returns the terms and
scalars to build the model from. A defect raises ``_Invalid`` (a ValueError) naming
where in the header it is.
"""

from __future__ import annotations

import re

import numpy as np

from .. import __version__
from .families import FAMILIES
from .family_store import family_from_state
from .parametric_store import StoredParametricTerms
from .schema import MAX_LIST, MAX_NAME  # noqa: F401 - re-exported for io.py
from .schema import Invalid as _Invalid
from .schema import array_of as _array
from .schema import choice as _choice
from .schema import integer as _int
from .schema import keys as _keys
from .schema import number as _number
from .schema import strings as _strings
from .schema import text as _string
from .schema import where as _where
from .terms import KINDS, relabel_for_predictor

# 2: terms by registry kind (any number of penalties), F saved
# 3: family parameters (ocat R and cut points, nb theta, multinom K: ``family_state``),
#    several linear predictors (``lp_sizes``, a list of formulas), non-finite deviance
#    statistics of the likelihood families
FORMAT_VERSION = 3
MAX_TERMS = 10_000


_VERSION = re.compile(r"\d{1,6}\.\d{1,6}\.\d{1,6}([.+-]?[A-Za-z0-9.+-]{0,40})?")
_TOP_KEYS = {"format", "flexcausal_version", "class", "formula", "family", "link",
             "family_state", "lp_sizes", "offset_columns", "method", "response",
             "block_rows", "coef_names", "sp_names", "terms", "scalars"}
_SCALARS = ("scale_", "reml_scale_", "reml_", "n_obs_", "deviance_", "r2_adj_",
            "null_deviance_", "converged_", "n_iter_")
_KRLS_KEYS = {"columns", "sketch", "multiplier", "size", "standardize", "bandwidth",
              "bandwidth_arg", "seed", "levels", "size_before"}
_GLOBAL_ARRAYS = ("coef", "Vp", "Ve", "F", "edf_coef", "sp", "smooth_tests")


# ----------------------------------------------------------------- the schema
def _check_model(meta: dict, arrays: dict) -> dict:
    """Validate the header and arrays; returns the terms, family, lp_sizes and scalars
    to build from.

    Several linear predictors (multinom): ``lp_sizes`` gives the number of terms of
    each, in model order; each starts with its parametric part, and the terms of
    predictor k >= 1 get mgcv's numbered names (``s.1(x)``, ``z.1``) back here, as
    ``GAM.fit`` gives them."""
    from .fitting import METHODS

    if not isinstance(meta, dict):
        raise _Invalid("the header is not a JSON object")
    if "format" not in meta:
        raise _Invalid("the header has no 'format' version")
    fmt = meta["format"]
    if isinstance(fmt, bool) or not isinstance(fmt, int):
        raise _where("format", f"must be an integer, got {str(fmt)[:40]!r}")
    if fmt != FORMAT_VERSION:
        hint = ("; files of older formats cannot be read: refit the model and save it "
                "again" if fmt < FORMAT_VERSION else "")
        raise _Invalid(f"it has model format {fmt}; this flexcausal ({__version__}) reads "
                       f"model format {FORMAT_VERSION}{hint}")
    written = meta.get("flexcausal_version")
    if not isinstance(written, str) or not _VERSION.fullmatch(written):
        raise _where("flexcausal_version", f"{str(written)[:40]!r} is not a version")
    if written.split(".")[0] != __version__.split(".")[0]:
        raise _Invalid(f"it was written by flexcausal {written}, incompatible with "
                       f"{__version__}")
    _keys(meta, _TOP_KEYS, "(top level)")
    _choice(meta["class"], ("GAM",), "class")
    family = _choice(meta["family"], tuple(FAMILIES), "family")
    link = _choice(meta["link"], FAMILIES[family].links, "link")
    raw_terms = meta["terms"]
    if not isinstance(raw_terms, list) or not 1 <= len(raw_terms) <= MAX_TERMS:
        raise _where("terms", f"must be a list of 1 to {MAX_TERMS} terms")
    lp_sizes = _check_lp_sizes(meta["lp_sizes"], len(raw_terms))
    _check_formula(meta["formula"], len(lp_sizes))
    fam = family_from_state(family, link, meta["family_state"], len(lp_sizes))
    _choice(meta["method"], METHODS, "method")
    _string(meta["response"], "response", identifier=True)
    _strings(meta["offset_columns"], "offset_columns", identifier=True, max_items=1000,
             max_len=MAX_NAME)
    _int(meta["block_rows"], "block_rows", 1, 10**9)
    scalars = _check_scalars(meta["scalars"])

    expected = set(_GLOBAL_ARRAYS)
    terms = []
    firsts = set(np.cumsum([0, *lp_sizes[:-1]]).tolist())  # each predictor's first term
    predictor = np.repeat(np.arange(len(lp_sizes)), lp_sizes)
    for i, entry in enumerate(raw_terms):
        path = f"terms[{i}]"
        _keys(entry, {"kind", "state"}, path)
        others = tuple(k for k in KINDS if k != "parametric")
        kind = _choice(entry["kind"], ("parametric",) if i in firsts else others,
                       f"{path}.kind")
        prefix = f"t{i}_"
        own = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
        expected |= {prefix + k for k in own}
        cls = StoredParametricTerms if kind == "parametric" else KINDS[kind]
        try:
            term = cls.from_state(entry["state"], own, path, scalars["n_obs_"])
        except _Invalid:
            raise
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            raise _where(f"{path}.state", str(exc)) from exc
        if predictor[i]:
            relabel_for_predictor(term, int(predictor[i]))
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
    smooths = [n for t in terms for n in t.sp_names]
    if meta["coef_names"] != names:
        raise _where("coef_names", "do not match the terms' coefficients")
    if meta["sp_names"] != smooths:
        raise _where("sp_names", "do not match the smooth terms' penalties")
    p = len(names)
    _array(arrays, "coef", (p,))
    _array(arrays, "edf_coef", (p,))
    _array(arrays, "Vp", (p, p))
    _array(arrays, "Ve", (p, p))
    _array(arrays, "F", (p, p))
    n_smooth = sum(1 for t in terms if t.penalties)
    _array(arrays, "smooth_tests", (n_smooth, 3))
    sp = _array(arrays, "sp", (len(smooths),))
    if np.any(sp <= 0):
        raise _Invalid("array 'sp' has non-positive smoothing parameters")
    return {"terms": terms, "scalars": scalars, "family": fam, "lp_sizes": lp_sizes}


def _check_lp_sizes(raw, n_terms: int) -> list[int]:
    """Terms per linear predictor: positive integers adding up to the number of terms."""
    if not isinstance(raw, list) or not 1 <= len(raw) <= n_terms:
        raise _where("lp_sizes", f"must be a list of 1 to {n_terms} term counts")
    sizes = [_int(v, f"lp_sizes[{k}]", 1, MAX_TERMS) for k, v in enumerate(raw)]
    if sum(sizes) != n_terms:
        raise _where("lp_sizes", f"add up to {sum(sizes)}, but there are {n_terms} terms")
    return sizes


def _check_formula(raw, n_lp: int) -> None:
    """One formula string, or one per linear predictor (display only, never parsed)."""
    if isinstance(raw, list):
        if n_lp == 1 or len(raw) != n_lp:
            raise _where("formula", f"a list of formulas needs one per linear predictor "
                                    f"({n_lp}), has {len(raw)}")
        items = [(f"formula[{k}]", f) for k, f in enumerate(raw)]
    else:
        items = [("formula", raw)]
    for path, text in items:
        text = _string(text, path, max_len=100_000)
        if not all(ch.isprintable() or ch in " \t\n" for ch in text):
            raise _where(path, "contains control characters")


def _check_scalars(raw) -> dict:
    _keys(raw, set(_SCALARS), "scalars")
    out = {
        "scale_": _number(raw["scale_"], "scalars.scale_", positive=True),
        "reml_scale_": _number(raw["reml_scale_"], "scalars.reml_scale_", positive=True),
        "reml_": _number(raw["reml_"], "scalars.reml_"),
        "n_obs_": _int(raw["n_obs_"], "scalars.n_obs_", 1, 10**13),
        "deviance_": _number(raw["deviance_"], "scalars.deviance_"),
        "r2_adj_": _number(raw["r2_adj_"], "scalars.r2_adj_", finite=False),
        # NaN for the likelihood families (no saturated model)
        "null_deviance_": _number(raw["null_deviance_"], "scalars.null_deviance_",
                                  finite=False),
        "n_iter_": _int(raw["n_iter_"], "scalars.n_iter_", 0, 10**9),
    }
    if not isinstance(raw["converged_"], bool):
        raise _where("scalars.converged_", "must be true or false")
    out["converged_"] = raw["converged_"]
    return out
