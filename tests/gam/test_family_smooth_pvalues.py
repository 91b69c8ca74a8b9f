"""Smooth-term tests (summary's s.table) for the likelihood families against R mgcv
1.8-41 ``summary(fit)$s.table`` (tests/golden/paper_models.json): ordered logit ocat(R=4),
negative binomial nb(), multinom(K=2) with splines and with a gKRLS kernel per predictor,
and multinom(K=1).

mgcv uses testStat / reTest with the scale known (Chi.sq, res.df = -1) on R'R = X'W X
with W the expected information in the linear predictors (smooth_pvalues.py). Tolerances
as the Gaussian cases of test_golden_paper.py: edf 1e-4, Ref.df and Chi.sq rtol 1e-3,
log p-value 1e-2."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from flexcausal.gkrls.model import GAM, load
from flexcausal.gkrls.smooth_pvalues import weighted_r_factor

from .family_fits import CASES, fitted_family, frames

NAMES = ["ocat4", "nb", "multinom2", "multinom2_krls", "binary_multinom1"]


@pytest.fixture(scope="module", params=NAMES)
def family_fit(request):
    return fitted_family(request.param)


def test_s_table_matches_mgcv(family_fit):
    case, fit, _, _ = family_fit
    table = fit.summary().smooth
    ref = np.asarray(case["s_table"]["values"], dtype=float)
    assert list(table.index) == [lab.replace("s(x1,x2)", "krls(x1,x2)")
                                 .replace("s.1(x1,x2)", "krls.1(x1,x2)")
                                 for lab in case["s_table"]["rows"]]
    assert list(table.columns[:4]) == case["s_table"]["columns"]  # Chi.sq: scale known
    np.testing.assert_allclose(table["edf"], ref[:, 0], atol=1e-4)
    np.testing.assert_allclose(table["Ref.df"], ref[:, 1], rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(table["Chi.sq"], ref[:, 2], rtol=1e-3)
    p = np.maximum(table["p-value"].to_numpy(), 1e-300)
    np.testing.assert_allclose(np.log(p), np.log(np.maximum(ref[:, 3], 1e-300)), atol=1e-2)


def test_smooth_p_values_attribute_is_the_table_column(family_fit):
    _, fit, _, _ = family_fit
    pv = fit.smooth_p_values_
    table = fit.summary().smooth
    assert list(pv.index) == list(table.index)
    np.testing.assert_array_equal(pv.to_numpy(), table["p-value"].to_numpy())
    assert np.all(np.isfinite(pv.to_numpy()))
    assert "Chi.sq" in str(fit.summary())


def test_r_factor_is_the_expected_information(family_fit):
    """R'R = X'W X: with it, Vp R'R is the fit's edf matrix F (mgcv: F = Vp X'W_F X)."""
    _, fit, _, _ = family_fit
    R = weighted_r_factor(fit)
    F = fit.Vp_ @ (R.T @ R)
    np.testing.assert_allclose(F, fit.result_.F, atol=1e-8 * np.abs(fit.result_.F).max())


def test_loaded_model_shows_the_same_tests(family_fit, tmp_path):
    _, fit, _, _ = family_fit
    fit.save(tmp_path / "m.npz")
    back = load(tmp_path / "m.npz")
    pd.testing.assert_frame_equal(back.summary().smooth, fit.summary().smooth,
                                  check_exact=True)
    pd.testing.assert_series_equal(back.smooth_p_values_, fit.smooth_p_values_,
                                   check_exact=True)


def test_binary_multinom_tests_equal_the_binomial_ones():
    """multinom(K = 1) is the binomial logit: same smooth test (mgcv gives both)."""
    _, multi, _, _ = fitted_family("binary_multinom1")
    case = CASES["binary_binomial"]
    data, _ = frames(case)
    binom = GAM(case["formula_py"], family="binomial").fit(data)
    a, b = multi.summary().smooth, binom.summary().smooth
    np.testing.assert_allclose(a["Ref.df"], b["Ref.df"], rtol=1e-5)
    np.testing.assert_allclose(a["Chi.sq"], b["Chi.sq"], rtol=1e-4)
    ref = np.asarray(case["s_table"]["values"], dtype=float)
    np.testing.assert_allclose(a["Chi.sq"], ref[:, 2], rtol=1e-3)
