"""The one registry of formula terms: the parser reads it, loading reads it.

``CALLS`` maps a formula function (``s``, ``krls``, ``re``, ...) to how its arguments
become a Term; ``KINDS`` maps a saved term's ``kind`` to its class; ``BASES`` maps an
``s(..., bs=...)`` basis name to its Basis class. A new smooth is one module plus a
line here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..._checks import check_choice
from ..bases.cr import CRBasis
from .base import Term
from .krls import KRLSTerm
from .parametric import ParametricTerms
from .random_effect import RandomEffectTerm
from .smooth import SmoothTerm
from .tp import TPBasis


def _tensor(call: str):
    def build(columns: list[str], bs="cr", k=None, by=None) -> Term:
        """``te()``/``ti()``: mgcv tensor products, one margin per column (cr or tp,
        k=5 each by default), one penalty per margin (bases/tensor.py)."""
        from ..bases.tensor import TensorBasis, make_margins

        label = _label(call, columns)
        try:
            margins = make_margins(len(columns), k, bs)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{label}: {exc}") from None
        return SmoothTerm(columns, TensorBasis(margins, inter=call == "ti"), label, by=by)

    return build


def _tensor_basis_class():
    from ..bases.tensor import TensorBasis

    return TensorBasis


@dataclass(frozen=True)
class Call:
    """A formula function: its options and how columns + options become a term."""

    build: Callable[..., Term]
    options: frozenset[str]
    min_columns: int = 1
    max_columns: int | None = None
    example: str = ""


def _k(value, label: str, minimum: int = 3) -> int:
    import numpy as np

    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{label}: k must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _label(call: str, columns: list[str]) -> str:
    return f"{call}({','.join(columns)})"


def build_s(columns: list[str], bs: str | None = None, k=None, by=None, **options) -> Term:
    """``s(x, bs=, k=, m=, by=)``: a smooth of one or more columns (mgcv ``s``)."""
    label = _label("s", columns)
    if bs is None:
        bs = "tp"  # mgcv's default basis
    bs = check_choice(bs, tuple(BASES) + ("re",), f"{label} bs")
    if bs == "re":
        if len(columns) != 1 or k is not None or by is not None or options:
            raise ValueError(f"{label}: bs='re' takes one grouping column and no options "
                             "(it is re(g))")
        return RandomEffectTerm(columns[0])
    cls = BASES[bs]
    if len(columns) > cls.max_dims:
        raise ValueError(f"{label}: bs={bs!r} takes at most {cls.max_dims} column(s); use "
                         "bs='tp' or te() for a smooth of several variables")
    basis = cls.from_options(len(columns), k=None if k is None else _k(k, label), **options)
    return SmoothTerm(columns, basis, label, by=by)


BASES: dict[str, type] = {"tp": TPBasis, "cr": CRBasis}
CALLS: dict[str, Call] = {
    "krls": Call(lambda cols, **kw: KRLSTerm(cols, **kw),
                 frozenset({"sketch", "multiplier", "size", "indices", "standardize",
                            "bandwidth", "seed"}), example="size=50"),
    "re": Call(lambda cols: RandomEffectTerm(cols[0]), frozenset(), max_columns=1),
    "s": Call(build_s, frozenset({"k", "bs", "by", "m"}), example="k=5"),
    "te": Call(_tensor("te"), frozenset({"k", "bs", "by"}), example="k=5"),
    "ti": Call(_tensor("ti"), frozenset({"k", "bs", "by"}), example="k=5"),
}
KINDS: dict[str, type[Term]] = {
    cls.kind: cls for cls in (ParametricTerms, KRLSTerm, RandomEffectTerm, SmoothTerm)
}
SmoothTerm.BASES = {**BASES, "tensor": _tensor_basis_class()}
