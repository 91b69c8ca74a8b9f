"""The demand design and the Card loader."""

from __future__ import annotations

import numpy as np
import pytest

from flexcausal.datasets.card import CARD_COVARIATES, card
from flexcausal.datasets.demand import demand, demand_psi, demand_structural, demand_test_grid
from flexcausal.iv import Linear2SLS


def test_demand_design():
    df = demand(500, rho=0.5, seed=1)
    assert list(df.columns) == ["price", "time", "emotion", "cost", "outcome", "structural"]
    assert set(df.emotion.unique()) <= set(range(1, 8))
    # psi at t = 5: 2 (0 + 1 + 0.5 - 2) = -1
    assert demand_psi(5.0) == pytest.approx(-1.0)
    np.testing.assert_allclose(
        df.structural, 100 + (10 + df.price) * df.emotion * demand_psi(df.time) - 2 * df.price)
    np.testing.assert_allclose(df.price - 25 - (df.cost + 3) * demand_psi(df.time),
                               (df.price - 25 - (df.cost + 3) * demand_psi(df.time)))
    assert np.array_equal(demand(50, 0.5, seed=3), demand(50, 0.5, seed=3))
    with pytest.raises(ValueError, match="rho must be in"):
        demand(10, rho=1.5)


def test_demand_grid():
    grid = demand_test_grid()
    assert len(grid) == 2800
    assert grid.price.min() == 10 and grid.price.max() == 25 and grid.emotion.nunique() == 7
    np.testing.assert_allclose(grid.structural,
                               demand_structural(grid.price, grid.time, grid.emotion))


def test_card_2sls_slope():
    df = card()
    est = Linear2SLS().fit(treatment=df.educ, instrument=df.nearc4, outcome=df.lwage,
                           covariates=df[CARD_COVARIATES])
    assert est.coef_[0] == pytest.approx(0.132, abs=0.005)  # Wooldridge (2010) Example 15.4
