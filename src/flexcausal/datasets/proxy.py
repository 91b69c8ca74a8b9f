"""The proximal-causal-inference demand design of DFPV (Xu, Kanagawa & Gretton 2021,
"Deep Proxy Causal Learning"), github liyuan9988/DeepFeatureProxyVariable,
``src/data/ate/demand_pv.py``:

    U ~ Unif(0, 10)  (latent demand),   psi(t) = 2((t - 5)^4 / 600 + exp(-4 (t - 5)^2) + t / 10 - 2)
    Z = (C1, C2):  C1 = 2 sin(2 pi U / 10) + e,  C2 = 2 cos(2 pi U / 10) + e   (treatment proxy)
    A = 35 + (C1 + 3) psi(U) + C2 + e                                          (price)
    W = 7 psi(U) + 45 + e                                                      (outcome proxy)
    Y = min(exp((W - A) / 10), 5) A - 5 psi(U) + e,    every e ~ N(0, 1) independent.

Target: f(a) = E_{U, W}[min(exp((W - a) / 10), 5) a - 5 psi(U)] at a in linspace(10, 30, 10),
by Monte Carlo with 10,000 draws from ``default_rng(42)`` (the reference's ``cal_structural``,
the same draws for every price). Draw order follows the reference, so a seed gives the same
data as ``generate_train_demand_pv(n, seed)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._checks import check_int
from .demand import demand_psi

__all__ = ["demand_proxy", "demand_proxy_grid", "demand_proxy_truth"]


def _outcome(price, views, demand):
    return np.minimum(np.exp((views - price) / 10.0), 5.0) * price - 5.0 * demand_psi(demand)


def demand_proxy(n: int = 10_000, seed: int = 0) -> pd.DataFrame:
    """``n`` rows of the DFPV demand design. Columns: ``price`` (treatment A), ``cost1``,
    ``cost2`` (treatment proxy Z), ``views`` (outcome proxy W), ``outcome`` (Y) and the
    latent ``demand`` U (unobserved in the problem; kept for diagnostics)."""
    n = check_int(n, "n", minimum=1)
    rng = np.random.default_rng(seed)
    demand = rng.uniform(0.0, 10.0, n)
    cost1 = 2.0 * np.sin(demand * np.pi * 2.0 / 10.0) + rng.normal(0.0, 1.0, n)
    cost2 = 2.0 * np.cos(demand * np.pi * 2.0 / 10.0) + rng.normal(0.0, 1.0, n)
    price = 35.0 + (cost1 + 3.0) * demand_psi(demand) + cost2 + rng.normal(0.0, 1.0, n)
    views = 7.0 * demand_psi(demand) + 45.0 + rng.normal(0.0, 1.0, n)
    outcome = _outcome(price, views, demand) + rng.normal(0.0, 1.0, n)
    return pd.DataFrame({"price": price, "cost1": cost1, "cost2": cost2, "views": views,
                         "outcome": outcome, "demand": demand})


def demand_proxy_grid() -> np.ndarray:
    """The 10 evaluation prices, linspace(10, 30, 10)."""
    return np.linspace(10.0, 30.0, 10)


def demand_proxy_truth(prices=None, n_mc: int = 10_000, seed: int = 42) -> np.ndarray:
    """f(a) = E[min(exp((W - a) / 10), 5) a - 5 psi(U)] at ``prices`` (default: the grid) by
    Monte Carlo with ``n_mc`` draws (U, W) from ``default_rng(seed)``, as the reference."""
    prices = demand_proxy_grid() if prices is None else np.atleast_1d(
        np.asarray(prices, dtype=float))
    n_mc = check_int(n_mc, "n_mc", minimum=1)
    rng = np.random.default_rng(seed)
    demand = rng.uniform(0.0, 10.0, n_mc)
    views = 7.0 * demand_psi(demand) + 45.0 + rng.normal(0.0, 1.0, n_mc)
    return np.array([np.mean(_outcome(p, views, demand)) for p in prices])
