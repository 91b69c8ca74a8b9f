"""fc.datasets.newman: the simulated stand-in for Newman (2016) (gKRLS paper, Sec. 5)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from flexcausal.datasets import NEWMAN_CONTROLS, NEWMAN_CUTS, NEWMAN_KEY, newman, newman_truth


@pytest.fixture(scope="module")
def big():
    return newman(20_000, n_counties=150, seed=11, ordered=True)


def test_shape_columns_and_reproducibility():
    df = newman(600, n_counties=40, seed=3, ordered=True)
    assert len(df) == 600 and df["county"].nunique() == 40
    assert len(NEWMAN_CONTROLS) == 24
    for col in ["y", "y_ord", *NEWMAN_CONTROLS, "county", NEWMAN_KEY, "county_re", "truth"]:
        assert col in df.columns
    assert set(df["y"]) <= {0, 1} and set(df["y_ord"]) <= {1, 2, 3, 4}
    assert df[NEWMAN_KEY].between(0.5, 1.1).all()
    # the county variables and the random intercept are constant within a county
    per_county = df.groupby("county")[[NEWMAN_KEY, "county_re", "cty_log_income"]].nunique()
    assert (per_county == 1).all().all()
    pd.testing.assert_frame_equal(df, newman(600, n_counties=40, seed=3, ordered=True))
    assert not df.equals(newman(600, n_counties=40, seed=4, ordered=True))
    assert "y_ord" not in newman(100, n_counties=10, seed=3).columns


def test_binary_outcome_is_the_ordered_one_cut_at_zero(big):
    """y = 1{y* > 0} and the cut points put 0 between categories 2 and 3."""
    assert NEWMAN_CUTS[1] == 0.0
    np.testing.assert_array_equal(big["y"], (big["y_ord"] >= 3).astype(int))


def test_outcome_frequencies_match_the_true_probabilities(big):
    """Simulation with known truth: mean y vs mean F(eta) (4 standard errors)."""
    p = big["truth"].to_numpy()
    se = np.sqrt(np.sum(p * (1 - p))) / len(p)
    assert abs(big["y"].mean() - p.mean()) < 4 * se
    eta = np.log(p / (1 - p))
    p_top = expit(eta - NEWMAN_CUTS[2])
    se_top = np.sqrt(np.sum(p_top * (1 - p_top))) / len(p)
    assert abs((big["y_ord"] == 4).mean() - p_top.mean()) < 4 * se_top


def test_truth_ame_is_the_derivative_of_the_truth_probability(big):
    grid = np.linspace(0.6, 1.0, 7)
    h = 1e-6
    for ordered in (False, True):
        up = newman_truth(big, grid + h, "probability", ordered=ordered)
        down = newman_truth(big, grid - h, "probability", ordered=ordered)
        ame = newman_truth(big, grid, "ame", ordered=ordered)
        np.testing.assert_allclose(ame, (up - down) / (2 * h), rtol=1e-6, atol=1e-9)
    # concave: the AME falls with the ratio and changes sign near the peak (0.8)
    ame = newman_truth(big, grid, "ame")
    assert np.all(np.diff(ame) < 0) and ame[0] > 0 > ame[-1]


def test_truth_at_the_rows_own_values_is_the_truth_column():
    df = newman(50, n_counties=1 + 1, seed=5)
    one = df[df["county"] == df["county"].iloc[0]]
    v = one[NEWMAN_KEY].iloc[0]
    np.testing.assert_allclose(newman_truth(one, [v])[0], one["truth"].mean(), rtol=1e-12)


def test_bad_input():
    with pytest.raises(ValueError, match="n_counties"):
        newman(100, n_counties=1)
    with pytest.raises(ValueError, match="quantity"):
        newman_truth(newman(50, n_counties=5), [0.8], quantity="odds")
    with pytest.raises((ValueError, TypeError), match="n"):
        newman(0)
