"""ocat, nb and multinom with overlapping penalties (te/ti: one penalty per margin on the
same coefficients) against R mgcv 1.8-41 (tests/golden/make_family_tensor_golden.R ->
family_tensor.json).

mgcv's outer Newton stops at its conv.tol on these nearly flat scores, so at the free
optimum our LAML is lower than R's (by up to 3e-4 here); at R's smoothing parameters the
fits agree to the usual tolerances (LAML 1e-6, edf 1e-4; probabilities 1e-5 as the ocat
cut points / nb theta are re-estimated and R's are at its own tolerance)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from flexcausal.gkrls.model import GAM

from .golden import golden

CASES = golden("family_tensor.json")["cases"]


def _fit(name, at_r_sp: bool):
    case = CASES[name]
    data, new = pd.DataFrame(case["data"]), pd.DataFrame(case["newdata"])
    fit = GAM(case["formula_py"], family=case["family"]).fit(
        data, sp=case["sp"] if at_r_sp else None)
    return case, fit, new


@pytest.mark.parametrize("name", list(CASES))
def test_at_mgcv_smoothing_parameters(name):
    case, fit, new = _fit(name, at_r_sp=True)
    assert fit.reml_ == pytest.approx(case["reml"], abs=1e-6)
    np.testing.assert_allclose(fit.edf_.to_numpy(), list(case["edf_by_smooth"].values()),
                               atol=1e-4)
    ref = np.asarray(case["predict_response"], dtype=float)
    prob = np.asarray(fit.predict(new, type="response"), dtype=float).reshape(ref.shape)
    np.testing.assert_allclose(prob, ref, atol=1e-5)
    if case.get("theta") is not None:
        np.testing.assert_allclose(fit.theta_, np.atleast_1d(case["theta"]), rtol=1e-4)


@pytest.mark.parametrize("name", list(CASES))
def test_free_fit_converges_at_least_as_low_as_mgcv(name):
    case, fit, _ = _fit(name, at_r_sp=False)
    assert fit.converged_
    assert fit.reml_ <= case["reml"] + 1e-8
    np.testing.assert_allclose(fit.edf_.to_numpy(), list(case["edf_by_smooth"].values()),
                               atol=1e-2)
