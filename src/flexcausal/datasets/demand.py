"""The demand design of Hartford et al. (2017, Sec. 5), as used by DFIV (Xu et al. 2021).

    psi(t) = 2 [ (t - 5)^4 / 600 + exp(-4 (t - 5)^2) + t / 10 - 2 ]
    S ~ U{1, ..., 7},  t ~ U[0, 10],  C, V ~ N(0, 1),  e = rho V + N(0, 1 - rho^2)
    P = 25 + (C + 3) psi(t) + V
    Y = h(P, t, S) + e,   h(p, t, s) = 100 + (10 + p) s psi(t) - 2 p

Treatment P (endogenous through V), covariates (t, S), instrument C (the DFIV code passes
(C, t, S) as the instrument). The test grid is DFIV's: p in linspace(10, 25, 20) x
t in linspace(0, 10, 20) x s in {1..7} (2800 points), with the true structural h.
Draw order follows DFIV's ``generate_train_demand_design`` so that seeds give the same data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._checks import check_int

__all__ = ["demand", "demand_psi", "demand_structural", "demand_test_grid"]


def demand_psi(t):
    """psi(t) of the demand design."""
    t = np.asarray(t, dtype=float)
    return 2.0 * ((t - 5.0) ** 4 / 600.0 + np.exp(-4.0 * (t - 5.0) ** 2) + t / 10.0 - 2.0)


def demand_structural(price, time, emotion):
    """The true structural function h(p, t, s) = 100 + (10 + p) s psi(t) - 2 p."""
    price = np.asarray(price, dtype=float)
    emotion = np.asarray(emotion, dtype=float)
    return 100.0 + (10.0 + price) * emotion * demand_psi(time) - 2.0 * price


def demand(n: int = 1000, rho: float = 0.5, seed: int = 0) -> pd.DataFrame:
    """Draw ``n`` rows of the demand design with confounding strength ``rho`` in [-1, 1].

    Columns: ``price`` (treatment P), ``time`` (t), ``emotion`` (S), ``cost`` (instrument
    C), ``outcome`` (Y) and ``structural`` (h(P, t, S) without noise).
    """
    n = check_int(n, "n", minimum=1)
    if isinstance(rho, bool) or not isinstance(rho, (int, float, np.integer, np.floating)):
        raise TypeError(f"rho must be a number in [-1, 1], got {type(rho).__name__}")
    if not -1.0 <= rho <= 1.0:
        raise ValueError(f"rho must be in [-1, 1], got {rho}")
    rng = np.random.default_rng(seed)
    emotion = rng.choice(np.arange(1, 8), n)
    time = rng.uniform(0.0, 10.0, n)
    cost = rng.normal(0.0, 1.0, n)
    noise_price = rng.normal(0.0, 1.0, n)
    noise_demand = rho * noise_price + rng.normal(0.0, np.sqrt(1.0 - rho**2), n)
    price = 25.0 + (cost + 3.0) * demand_psi(time) + noise_price
    structural = demand_structural(price, time, emotion)
    return pd.DataFrame(
        {
            "price": price,
            "time": time,
            "emotion": emotion.astype(float),
            "cost": cost,
            "outcome": structural + noise_demand,
            "structural": structural,
        }
    )


def demand_test_grid() -> pd.DataFrame:
    """DFIV's 2800-point test grid (price x time x emotion) with the true ``structural``."""
    price, time, emotion = np.meshgrid(
        np.linspace(10.0, 25.0, 20), np.linspace(0.0, 10.0, 20), np.arange(1, 8), indexing="ij"
    )
    grid = pd.DataFrame(
        {"price": price.ravel(), "time": time.ravel(), "emotion": emotion.ravel().astype(float)}
    )
    grid["structural"] = demand_structural(grid["price"], grid["time"], grid["emotion"])
    return grid
