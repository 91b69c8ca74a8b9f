"""Response families: the registry ``fc.gam(family=...)`` reads, and the protocol."""

from __future__ import annotations

from ..._checks import check_choice
from .base import ExponentialFamily, Family, LikelihoodFamily
from .exponential import Binomial, Gamma, Gaussian, Poisson
from .links import LINKS, Link
from .multinom import Multinom
from .nb import NegBin
from .ocat import Ocat

FAMILIES: dict[str, type[Family]] = {
    cls.name: cls for cls in (Gaussian, Binomial, Poisson, Gamma)
}


def register_family(cls: type[Family]) -> type[Family]:
    """Add a family class to the registry (one line per new family)."""
    FAMILIES[cls.name] = cls
    return cls


register_family(Ocat)
register_family(NegBin)
register_family(Multinom)


def make_family(family, link: str | None = None) -> Family:
    """``"binomial"``, ``("binomial", "probit")`` or a Family instance."""
    if isinstance(family, Family):
        return family
    if isinstance(family, tuple):
        family, link = family
    name = check_choice(family, tuple(FAMILIES), "family")
    return FAMILIES[name](link)


__all__ = ["FAMILIES", "LINKS", "Binomial", "ExponentialFamily", "Family", "Gamma",
           "Gaussian", "LikelihoodFamily", "Link", "Multinom", "NegBin", "Ocat",
           "Poisson", "make_family",
           "register_family"]
