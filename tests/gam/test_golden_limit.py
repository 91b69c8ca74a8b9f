"""Golden tests: smoothing parameters at their limit (sp -> infinity) against R.

Reference: tests/golden/make_gkrls_limit_golden.R (R gKRLS 1.0.2 + mgcv 1.8-41,
``gam(method="REML")``), same data and 0-based custom sketch indices. Each case has one
term whose REML optimum is at sp = infinity: a cr spline with no signal or only a linear
one (edf -> 1, its penalty null space after the sum-to-zero constraint) or a random
effect with zero true variance (edf -> 0). mgcv stops its Newton search at a large finite
sp (edf 1.6e-4..4.4e-3 from the limit); R's refit with that sp fixed 1e6 times larger is
stored as ``limit_fit``; its -REML is 2e-7..5e-7 relative below R's, so a fit that
reaches the limit legitimately scores slightly *below* R (hence the 1e-6 allowance).

Criteria:
- predictions: |ours - R| <= 1e-3 * max(1, |R|) elementwise (relative where |R| > 1,
  absolute where |R| <= 1), for the link-scale predictions on the new rows and the
  response-scale fitted values on the training rows;
- -REML (``reml_``) not below R's by more than 1e-6 relative (we minimise it; lower
  would mean a wrong score), nor above it by more than 1e-6 relative (a worse optimum);
- every at-limit term's edf within 1e-6 of its limit;
- every term whose sp R finds interior: sp within 1e-2 relative of R's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import flexcausal as fc

from .golden import golden, with_indices

NAME = "gkrls_limit.json"
CASES = sorted(golden(NAME)["cases"])

PRED_TOL = 1e-3
REML_TOL = 1e-6
EDF_TOL = 1e-6
SP_RTOL = 1e-2


def _fit(case):
    data, newdata = pd.DataFrame(case["data"]), pd.DataFrame(case["newdata"])
    formula, env = with_indices(case["formula_py"], case.get("sketch_indices", {}))
    idx_0 = env.get("idx_0")  # noqa: F841  (fc.gam reads krls(indices=idx_0) from this scope)
    model = fc.gam(formula, data, family=case["family"].lower(), link=case["link"])
    return model, newdata


@pytest.fixture(scope="module", params=CASES)
def fitted(request):
    case = golden(NAME)["cases"][request.param]
    model, newdata = _fit(case)
    return case, model, newdata


def _pred_excess(ours, ref) -> float:
    """max |ours - ref| / max(1, |ref|): <= PRED_TOL passes."""
    ours, ref = np.asarray(ours, float), np.asarray(ref, float)
    return float(np.max(np.abs(ours - ref) / np.maximum(1.0, np.abs(ref))))


def _limits(case) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in case["limit_edf"]], float)


def test_layout(fitted):
    case, model, _ = fitted
    assert len(model.sp_) == len(case["sp"]) == len(case["limit_edf"])
    assert len(model.coef_) == len(case["coefficients"])
    # sp/edf are compared by position: same terms in the same order ("krls(x2,x3)" is
    # R's "s(x2,x3)", "re(g)" is "s(g)")
    assert [lab.split("(", 1)[1] for lab in model.sp_.index] == [
        lab.split("(", 1)[1] for lab in case["smooth_labels"]
    ]


def test_predictions_match_r(fitted):
    case, model, newdata = fitted
    link = model.predict(newdata)
    assert _pred_excess(link, case["predict_link"]) <= PRED_TOL
    assert _pred_excess(model.fitted_values_, case["fitted"]) <= PRED_TOL
    # R's own refit at 1e6 x its sp (the limit to ~1e-6 in edf): same rule
    assert _pred_excess(link, case["limit_fit"]["predict_link"]) <= PRED_TOL


def test_reml_not_below_r(fitted):
    case, model, _ = fitted
    ref = case["reml"]
    assert (model.reml_ - ref) / abs(ref) >= -REML_TOL, (model.reml_, ref)


def test_reml_not_above_r(fitted):
    case, model, _ = fitted
    ref = case["reml"]
    assert (model.reml_ - ref) / abs(ref) <= REML_TOL, (model.reml_, ref)


def test_limit_terms_edf_at_limit(fitted):
    case, model, _ = fitted
    lim = _limits(case)
    at = ~np.isnan(lim)
    assert at.sum() == len(case["limit_terms"]) >= 1
    edf = model.edf_.to_numpy()
    np.testing.assert_array_less(np.abs(edf[at] - lim[at]), EDF_TOL)


def test_interior_sp_match_r(fitted):
    case, model, _ = fitted
    interior = np.isnan(_limits(case))
    assert interior.any()
    np.testing.assert_allclose(
        model.sp_.to_numpy()[interior], np.asarray(case["sp"], float)[interior], rtol=SP_RTOL
    )
