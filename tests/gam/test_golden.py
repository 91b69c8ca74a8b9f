"""Golden tests: our fits against R gKRLS 1.0.2 + mgcv 1.8-41 ``gam(method="REML")``.

Values come from tests/golden/make_gkrls_golden.R (same data, same 0-based custom
sketch indices). Tolerances are the acceptance criteria of the gKRLS engine issue.
"""

from __future__ import annotations

import numpy as np
import pytest

from flexcausal.gkrls.model import GAM
from flexcausal.gkrls.spline import cr_basis, cr_penalty, place_knots, sum_to_zero_householder
from flexcausal.gkrls.terms import rescale_penalty

from .golden import case_frames, golden, with_indices

CASES = sorted(golden()["cases"])


def scalar(value) -> float:
    """jsonlite writes length-1 vectors either as scalars or 1-element arrays."""
    return value[0] if isinstance(value, list) else value


def rel_err(ours, ref) -> float:
    ours, ref = np.asarray(ours, float), np.asarray(ref, float)
    return float(np.max(np.abs(ours - ref)) / np.max(np.abs(ref)))


@pytest.fixture(scope="module", params=CASES)
def fitted(request):
    case = golden()["cases"][request.param]
    data, newdata = case_frames(case)
    formula, env = with_indices(case["formula_py"], case.get("sketch_indices", {}))
    return case, GAM(formula).fit(data, env=env), newdata


def test_fitted_and_predictions(fitted):
    case, model, newdata = fitted
    assert rel_err(model.fitted_values_, case["fitted"]) < 1e-6
    pred = model.predict(newdata, se=True)
    assert rel_err(pred["fit"], case["predict_link"]) < 1e-6
    assert rel_err(pred["se"], case["predict_se"]) < 1e-5


def test_reml_edf_sp_scale(fitted):
    case, model, _ = fitted
    assert abs(model.reml_ - scalar(case["reml"])) / abs(scalar(case["reml"])) < 1e-6
    assert abs(model.edf_total_ - scalar(case["edf_total"])) < 1e-4
    ref_edf = list(case["edf_by_smooth"].values())
    np.testing.assert_allclose(model.edf_.to_numpy(), ref_edf, atol=1e-4)
    np.testing.assert_allclose(model.sp_.to_numpy(), case["sp"], rtol=1e-3)
    # mgcv's $scale comes from its optimizer's last step: agree to its tolerance
    assert abs(model.scale_ - scalar(case["scale"])) / scalar(case["scale"]) < 1e-6


def test_coefficient_layout_and_covariances(fitted):
    case, model, _ = fitted
    assert len(model.coef_) == len(case["coefficients"])
    n_par = int(scalar(case["n_coef_parametric"]))
    # parametric coefficients are basis-free: compare them directly
    np.testing.assert_allclose(model.coef_.iloc[:n_par], case["coefficients"][:n_par],
                               rtol=1e-5, atol=1e-7)
    # Vp and Ve are basis-dependent for kernel columns (eigenvector signs), but their
    # parametric blocks and X Vp X' are not
    Vp_ref = np.asarray(case["Vp"])
    np.testing.assert_allclose(model.vcov("bayes").to_numpy()[:n_par, :n_par],
                               Vp_ref[:n_par, :n_par], rtol=1e-5)
    Ve_ref = np.asarray(case["Ve"])
    np.testing.assert_allclose(model.vcov("frequentist").to_numpy()[:n_par, :n_par],
                               Ve_ref[:n_par, :n_par], rtol=1e-5)


def test_kernel_penalty_rescaling_matches_mgcv(fitted):
    case, model, _ = fitted
    for term, S_ref, label in zip(
        [t for t in model.terms if t.penalties], case["S"], case["sp_names"],
        strict=True,
    ):
        S_ref = np.asarray(S_ref)
        assert term.penalties[0].shape == S_ref.shape, label
        if term.kind == "krls":  # identity * maXX: basis-free
            np.testing.assert_allclose(term.penalties[0], S_ref, rtol=1e-8)


def test_cr_basis_matches_mgcv_smoothcon():
    ref = golden("cr_basis.json")
    x, x_new = np.asarray(ref["x"]), np.asarray(ref["x_new"])
    knots = place_knots(x, ref["k"])
    np.testing.assert_allclose(knots, ref["knots"], rtol=1e-12)
    raw = cr_basis(x, knots)
    np.testing.assert_allclose(raw, ref["raw"]["X"], atol=1e-12)
    np.testing.assert_allclose(cr_basis(x_new, knots), ref["raw"]["predict"], atol=1e-12)
    np.testing.assert_allclose(cr_penalty(knots), ref["raw"]["S_unscaled"], rtol=1e-9,
                               atol=1e-9)
    S = rescale_penalty(cr_penalty(knots), np.abs(raw).sum(axis=1).max())
    np.testing.assert_allclose(S, ref["raw"]["S"], rtol=1e-9, atol=1e-9)
    Z = sum_to_zero_householder(raw.sum(axis=0))
    np.testing.assert_allclose(raw @ Z, ref["absorbed"]["X"], atol=1e-10)
    np.testing.assert_allclose(Z.T @ S @ Z, ref["absorbed"]["S"], rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(cr_basis(x_new, knots) @ Z, ref["absorbed"]["predict"],
                               atol=1e-10)
