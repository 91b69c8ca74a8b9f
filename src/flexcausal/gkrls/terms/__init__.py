"""Model terms: the Term protocol, one module per basis, and their registry."""

from __future__ import annotations

from .base import (
    Term,
    is_number_like,
    matrix_rank,
    relabel_for_predictor,
    rescale_penalty,
    term_slices,
)
from .checks import check_enough_rows
from .krls import KRLSTerm
from .parametric import ParametricTerms, formula_variables
from .random_effect import RandomEffectTerm
from .registry import BASES, CALLS, KINDS
from .smooth import SmoothTerm

__all__ = ["BASES", "CALLS", "KINDS", "KRLSTerm", "ParametricTerms", "RandomEffectTerm",
           "SmoothTerm", "Term", "check_enough_rows", "formula_variables", "is_number_like",
           "matrix_rank", "relabel_for_predictor", "rescale_penalty", "term_slices"]
