"""A fitted family as saved-model data: its parameters, written and read back as numbers.

Saved in the model header (``io.py``, format 3) as ``family_state``, next to ``family``
(the registry name) and ``link``:

=============================  ==========================================================
family                         ``family_state``
=============================  ==========================================================
gaussian, binomial, poisson,   ``{}`` (nothing beyond the link)
gamma
ocat (mgcv ``ocat(R)``)        ``{"R": int >= 2, "theta": [R - 2 numbers],
                               "theta_fixed": bool}``: theta on the working scale, the
                               cut points being -1, -1 + cumsum(exp(theta))
nb (mgcv ``nb()``)             ``{"theta": [1 number], "theta_fixed": bool}``: theta =
                               log of the negative-binomial size t
multinom (mgcv                 ``{"K": int >= 1}``: K linear predictors, categories 0..K
``multinom(K)``)
=============================  ==========================================================

``theta_fixed`` records whether theta was given (``nb(theta=3)``) or estimated, so that a
loaded model refitted with ``fit`` behaves as the original. ``family_from_state`` treats
the header as untrusted: every key, type, length and range is checked (``schema.Invalid``
naming the field, e.g. ``header family_state.theta``), and the family object is built
from the checked numbers only; nothing is evaluated.
"""

from __future__ import annotations

import numpy as np

from .families import FAMILIES, Family, Multinom, NegBin, Ocat
from .schema import integer, keys, number, where

MAX_CATEGORIES = 100_000
# |theta| bound: exp(theta) (cut-point increments, nb size) stays finite and non-zero
MAX_ABS_THETA = 700.0

_EXPONENTIAL = ("gaussian", "binomial", "poisson", "gamma")


def describe_family(family: Family) -> dict:
    """JSON-able parameters of a fitted family (the table in the module docstring)."""
    name = family.name
    if name in _EXPONENTIAL:
        return {}
    if name == "ocat":
        return {"R": int(family.R), "theta": [float(t) for t in family.theta],
                "theta_fixed": bool(getattr(family, "theta_fixed", False))}
    if name == "nb":
        return {"theta": [float(t) for t in family.theta],
                "theta_fixed": bool(getattr(family, "theta_fixed", False))}
    if name == "multinom":
        return {"K": int(family.K)}
    raise ValueError(f"saving models of the {name!r} family is not supported (its "
                     "parameters have no file format); keep the formula and data and refit")


def _theta(value, path: str, length: int) -> np.ndarray:
    if not isinstance(value, list):
        raise where(path, f"must be a list of numbers, got {type(value).__name__}")
    if len(value) != length:
        raise where(path, f"must have {length} entries, has {len(value)}")
    out = [number(v, f"{path}[{i}]", lo=-MAX_ABS_THETA, hi=MAX_ABS_THETA)
           for i, v in enumerate(value)]
    return np.asarray(out, dtype=float)


def _flag(value, path: str) -> bool:
    if not isinstance(value, bool):
        raise where(path, "must be true or false")
    return value


def family_from_state(name: str, link: str, state, n_lp: int,
                      path: str = "family_state") -> Family:
    """The fitted family from checked header values.

    ``name`` and ``link`` are already checked against the registry (io_schema);
    ``n_lp`` is the number of linear predictors the file's terms make up (its
    ``lp_sizes``), which the family must have.
    """
    cls = FAMILIES[name]
    if name in _EXPONENTIAL:
        keys(state, set(), path)
        family = cls(link)
    elif name == "ocat":
        keys(state, {"R", "theta", "theta_fixed"}, path)
        R = integer(state["R"], f"{path}.R", 2, MAX_CATEGORIES)
        theta = _theta(state["theta"], f"{path}.theta", R - 2)
        family = Ocat(link, R=R)
        family.theta = theta
        if not np.all(np.isfinite(family.cut_points())):
            raise where(f"{path}.theta", "gives cut points that are not finite")
        family.theta_fixed = _flag(state["theta_fixed"], f"{path}.theta_fixed")
    elif name == "nb":
        keys(state, {"theta", "theta_fixed"}, path)
        family = NegBin(link)
        family.theta = _theta(state["theta"], f"{path}.theta", 1)
        family.theta_fixed = _flag(state["theta_fixed"], f"{path}.theta_fixed")
    elif name == "multinom":
        keys(state, {"K"}, path)
        K = integer(state["K"], f"{path}.K", 1, MAX_CATEGORIES)
        family = Multinom(link, K=K)
    else:  # a registered family without a file format: save refuses it too
        raise where("family", f"{name!r} models cannot be loaded")
    if family.n_lp != n_lp:
        field = f"{path}.K" if name == "multinom" else "lp_sizes"
        raise where(field, f"the {name} family has {family.n_lp} linear predictor(s) but "
                           f"the terms make up {n_lp}")
    return family


def natural_theta(family: Family) -> np.ndarray | None:
    """The fit's ``theta_`` (ocat cut points, nb size; empty for multinom), recomputed
    from the working theta exactly as the fit computes it; None for exponential
    families."""
    fn = getattr(family, "natural_theta", None)
    return None if fn is None else np.asarray(fn(family.theta), dtype=float)


__all__ = ["MAX_ABS_THETA", "describe_family", "family_from_state", "natural_theta"]
