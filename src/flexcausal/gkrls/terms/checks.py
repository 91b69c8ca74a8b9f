"""Checks on a model's terms before fitting."""

from __future__ import annotations

from .parametric import ParametricTerms


def check_enough_rows(terms, n_rows: int, scale_known: bool) -> None:
    """ValueError when there are fewer rows than unpenalized coefficients (parametric
    columns plus each smooth's penalty null space, e.g. the linear part of ``s(x)``),
    or no row left for the scale."""
    if sum(t.n_coef for t in terms) == 0:
        raise ValueError("the model has no coefficients: the formula removes the intercept "
                         "('0' or '-1') and has no other term")
    n_par = sum(t.n_coef for t in terms if isinstance(t, ParametricTerms))
    smooth_null = [(t.label, t.null_space_dim) for t in terms
                   if not isinstance(t, ParametricTerms)]
    n_lin = sum(d for _, d in smooth_null)
    n_unpen = n_par + n_lin
    need = n_unpen + (0 if scale_known else 1)
    if n_rows < need:
        what = f"{n_par} parametric column(s)" + (
            f" + the unpenalized part of {sum(1 for _, d in smooth_null if d)} smooth "
            f"term(s) ({n_lin} column(s))" if n_lin else "")
        scale = "" if scale_known else " (one more to estimate the scale)"
        raise ValueError(
            f"too few rows: {n_rows} (with positive weight) for {n_unpen} unpenalized "
            f"coefficient(s) ({what}); need at least {need}{scale}. "
            "Use more data or fewer parametric terms (e.g. a factor with many levels -> "
            "re(g))"
        )
