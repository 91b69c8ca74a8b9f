"""Simulation designs from the gKRLS paper, as DataFrames with a ``truth`` column.

Source: Chang, Q. and Goplerud, M. (2024), "Generalized Kernel Regularized Least
Squares", *Political Analysis* 32(2), doi:10.1017/pan.2023.27 (our copy:
shared/papers/gkrls-generalized-krls.md). Section 4 times gKRLS on the "Three Hills,
Three Valleys" design of Hainmueller and Hazlett (2014); Section 4.1 shows why group
effects belong *outside* the kernel, in a design with two nonlinear covariates and
group membership. ``truth`` is always the noiseless conditional mean E[y | covariates]
(including the group's effect), so ``y - truth`` is the pure noise draw.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._checks import check_seed

__all__ = ["hierarchical", "three_hills", "three_hills_truth"]


def _check_positive_int(value, argname: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{argname} must be a positive integer, got {value!r}")
    if value < 1:
        raise ValueError(f"{argname} must be >= 1, got {value}")
    return int(value)


def _check_nonneg(value, argname: str) -> float:
    value = float(value)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{argname} must be a finite number >= 0, got {value}")
    return value


def three_hills_truth(x1, x2) -> np.ndarray:
    """Three Hills, Three Valleys surface f(x1, x2) = sin(x1) cos(x2).

    Hainmueller and Hazlett (2014), used by Chang and Goplerud (2024, Sec. 4) for the
    scaling study (their Figures 1-2). Broadcasts like NumPy.
    """
    return np.sin(np.asarray(x1, dtype=float)) * np.cos(np.asarray(x2, dtype=float))


def three_hills(n: int, noise_sd: float = 0.5, seed=0) -> pd.DataFrame:
    """Three Hills, Three Valleys: x1, x2 ~ U(0, 2 pi), y = sin(x1) cos(x2) + N(0, noise_sd^2).

    The design of Chang and Goplerud (2024, Sec. 4; from Hainmueller and Hazlett 2014)
    with their noise sd 0.5 (as in tests/golden/make_gkrls_golden.R). Fit it with
    ``fc.gam("y ~ krls(x1, x2)", data=df)``.

    Args:
        n: number of rows.
        noise_sd: standard deviation of the Gaussian noise (0 gives y == truth).
        seed: int, None or ``numpy.random.Generator``.

    Returns:
        DataFrame with columns ``y``, ``x1``, ``x2``, ``truth`` (= sin(x1) cos(x2)).
    """
    n = _check_positive_int(n, "n")
    noise_sd = _check_nonneg(noise_sd, "noise_sd")
    rng = check_seed(seed)
    x1 = rng.uniform(0.0, 2.0 * np.pi, n)
    x2 = rng.uniform(0.0, 2.0 * np.pi, n)
    truth = three_hills_truth(x1, x2)
    y = truth + rng.normal(0.0, noise_sd, n)
    return pd.DataFrame({"y": y, "x1": x1, "x2": x2, "truth": truth})


# Coefficients of the hierarchical design (see ``hierarchical``'s docstring).
_BETA_X3 = 0.5  # linear, unpenalized effect of x3
_RE_SD = 0.7  # sd of the group random intercepts u_g
_NOISE_SD = 1.0  # sd of the observation noise


def hierarchical(n: int, n_groups: int = 20, seed=0) -> pd.DataFrame:
    """A mixed design: linear + nonlinear (kernel) + random-intercept parts.

        y = 0.5 x3 + sin(x1) + 0.5 x2^2 + u_g + e,   x1, x2, x3 ~ N(0, 1),
        u_g ~ N(0, 0.7^2) per group,  e ~ N(0, 1).

    Modeled on the fixed-effects simulation of Chang and Goplerud (2024, Sec. 4.1):
    a smooth of two continuous covariates plus additive group effects kept *outside*
    the kernel, here with a linear covariate x3 as well and the group effects random
    (the nonlinear part matches case ``linear_krls_re`` of
    tests/golden/make_gkrls_golden.R). The model that matches it is
    ``fc.gam("y ~ x3 + krls(x1, x2) + re(g)", data=df)``.

    Groups are as balanced as possible (every group appears when ``n >= n_groups``)
    and the assignment is shuffled.

    Args:
        n: number of rows.
        n_groups: number of groups.
        seed: int, None or ``numpy.random.Generator``.

    Returns:
        DataFrame with columns ``y``, ``x1``, ``x2``, ``x3``, ``g`` (string labels
        ``"g01"``, ``"g02"``, ...) and ``truth`` = E[y | x1, x2, x3, g] (including u_g).
    """
    n = _check_positive_int(n, "n")
    n_groups = _check_positive_int(n_groups, "n_groups")
    rng = check_seed(seed)
    x1, x2, x3 = rng.standard_normal((3, n))
    u = rng.normal(0.0, _RE_SD, n_groups)
    group = rng.permutation(np.arange(n) % n_groups)
    width = len(str(n_groups))
    labels = np.array([f"g{k + 1:0{width}d}" for k in range(n_groups)], dtype=object)
    truth = _BETA_X3 * x3 + np.sin(x1) + 0.5 * x2**2 + u[group]
    y = truth + rng.normal(0.0, _NOISE_SD, n)
    return pd.DataFrame({"y": y, "x1": x1, "x2": x2, "x3": x3, "g": labels[group], "truth": truth})
