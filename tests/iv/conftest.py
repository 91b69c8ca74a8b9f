"""Shared data for the NPIV tests: a linear design with strong endogeneity."""

from __future__ import annotations

import numpy as np
import pytest


def linear_design(n: int = 1000, seed: int = 0):
    """Y = 1 + 2 X + e,  X = Z + 0.7 V,  e = V + 0.5 N(0, 1): OLS slope -> 2.47, h slope 2.

    A strong instrument (first-stage R^2 = 0.67) with strong confounding."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    v = rng.normal(size=n)
    x = z + 0.7 * v
    y = 1.0 + 2.0 * x + v + 0.5 * rng.normal(size=n)
    return x, z, y


@pytest.fixture(scope="session")
def linear_data():
    return linear_design()


@pytest.fixture(scope="session")
def x_grid():
    return np.linspace(-1.5, 1.5, 31)
