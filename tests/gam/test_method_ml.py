"""``method="ML"``: maximum (Laplace-approximate) marginal likelihood smoothness selection,
as mgcv 1.8-41 ``gam(..., method = "ML")`` (Wood 2011, JRSS-B 73(1), Sec. 2.1 and 3;
mgcv ``gam.fit3`` with ``remlInd = 0``, ``gam.fit4`` with ``ldet < 0``, C ``MLpenalty1``).

The criterion (fit.py's module docstring): with U = [U_r, U_0] orthonormal, U_0 a basis
of the null space of the total penalty S in the model's coefficients,

    V_ML = D_p / (2 phi) - ls(phi) + 1/2 log|H_rr| - 1/2 log|S|_+,  H_rr = U_r'(X'WX + S)U_r,

i.e. REML without the M_p/2 log(2 pi phi) term and with the log-determinant taken on the
penalty range space only: the null-space coefficients are fixed effects maximised over,
not integrated out. Checked here by

* a brute-force identity: for a Gaussian model V_ML is exactly -log N(y; X_0 b_0, Sigma)
  at the generalized least-squares b_0, Sigma = phi (W^-1 + X_r S_r^-1 X_r'), and REML is
  that plus 1/2 log|X_0'Sigma^-1 X_0| - M_p/2 log(2 pi) (b_0 integrated out);
* finite differences of the exact gradient / Hessian (Gaussian, GLM, ocat), also with
  overlapping penalties and smoothing parameters at 1e-8 and 1e12;
* R golden values (tests/golden/make_method_ml_golden.R -> method_ml.json, and the two
  ML cases of paper_models.json): score 1e-6, edf 1e-4, predictions 1e-6 and standard
  errors 1e-5 relative.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import flexcausal as fc
from flexcausal.gkrls.blocks import design_block
from flexcausal.gkrls.design import CachedDesign
from flexcausal.gkrls.families import make_family
from flexcausal.gkrls.fit import GaussianREML, total_penalty
from flexcausal.gkrls.fitting import METHODS, penalty_blocks
from flexcausal.gkrls.likelihood import _check_inputs, _LikelihoodProblem
from flexcausal.gkrls.model import GAM, load
from flexcausal.gkrls.pirls import GLMProblem
from flexcausal.gkrls.reparam import PenaltyBlock
from flexcausal.gkrls.spline import cr_basis, cr_penalty, place_knots, sum_to_zero_householder

from .golden import golden, with_indices
from .test_golden import rel_err
from .test_overlapping_penalties import _fd, _qrstats, _te_problem

ML_CASES = golden("method_ml.json")["cases"]
PAPER = golden("paper_models.json")["cases"]


def _frames(case):
    data, new = pd.DataFrame(case["data"]), pd.DataFrame(case["newdata"])
    for col, levels in (case.get("factor_levels") or {}).items():
        data[col] = pd.Categorical(data[col], categories=levels)
        new[col] = pd.Categorical(new[col], categories=levels)
    return data, new


@pytest.fixture(scope="module")
def mixed_data():
    rng = np.random.default_rng(11)
    n = 160
    df = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n),
                       "x3": rng.normal(size=n), "z": rng.uniform(size=n),
                       "w": rng.uniform(0.5, 2.0, size=n)})
    df["y"] = (0.5 * df.x3 + np.sin(df.x1) * df.x2 + np.sin(2 * np.pi * df.z)
               + rng.normal(0, 0.4, n) / np.sqrt(df.w))
    return df


# ------------------------------------------------------------ brute-force identity
def test_ml_score_is_minus_log_marginal_likelihood_with_fixed_null_space(mixed_data):
    """Gaussian, fixed sp, prior weights W: with the orthonormal split U = [U_r, U_0] of
    the coefficients by the total penalty (null space U_0, mgcv ``totalPenaltySpace``),
    b_r ~ N(0, phi S_r^-1) integrated out exactly gives y ~ N(X_0 b_0, Sigma),
    Sigma = phi (W^-1 + X_r S_r^-1 X_r'). The profiled ML score is -log of that density
    at the GLS b_0 and phi = D_p / n (``reml_scale_``), and the REML score is the same
    with b_0 integrated out too (flat prior): + 1/2 log|X_0'Sigma^-1 X_0| - M_p/2 log(2 pi)
    at phi = D_p / (n - M_p). Dense numpy, no code of the engine."""
    sp = np.array([0.3, 0.02])
    formula = "y ~ x3 + krls(x1, x2, size=25) + s(z, k=8)"
    fits = {m: fc.gam(formula, mixed_data, method=m, sp=sp, weights="w") for m in METHODS}
    model = fits["ML"]
    encodings = [t.encode(mixed_data) for t in model.terms]
    X = design_block(model.terms, encodings, slice(0, len(mixed_data)))
    y, w = mixed_data.y.to_numpy(), mixed_data.w.to_numpy()
    n, p = X.shape
    S = total_penalty(penalty_blocks(model.terms), np.log(sp), p)
    ev, U = np.linalg.eigh(S)
    null = ev < ev.max() * 1e-9
    U0, Ur = U[:, null], U[:, ~null]
    X0, Xr = X @ U0, X @ Ur
    Sr = Ur.T @ S @ Ur
    Mp = X0.shape[1]
    assert Mp == 3  # intercept, x3, the linear part of s(z)
    b = np.linalg.solve(X.T @ (w[:, None] * X) + S, X.T @ (w * y))
    Dp = np.sum(w * (y - X @ b) ** 2) + b @ S @ b

    def minus_log_density(phi, integrate_b0: bool):
        Sigma = phi * (np.diag(1.0 / w) + Xr @ np.linalg.solve(Sr, Xr.T))
        Si_X0 = np.linalg.solve(Sigma, X0)
        b0 = np.linalg.solve(X0.T @ Si_X0, Si_X0.T @ y)
        r = y - X0 @ b0
        value = 0.5 * (n * np.log(2 * np.pi) + np.linalg.slogdet(Sigma)[1]
                       + r @ np.linalg.solve(Sigma, r))
        if integrate_b0:
            value += 0.5 * np.linalg.slogdet(X0.T @ Si_X0)[1] - 0.5 * Mp * np.log(2 * np.pi)
        return value

    phi_ml = Dp / n
    assert model.reml_scale_ == pytest.approx(phi_ml, rel=1e-10)
    assert model.reml_ == pytest.approx(minus_log_density(phi_ml, False), rel=1e-10)
    # phi = D_p / n maximises the marginal likelihood
    for f in (0.99, 1.01):
        assert minus_log_density(f * phi_ml, False) > model.reml_
    phi_reml = Dp / (n - Mp)
    assert fits["REML"].reml_ == pytest.approx(minus_log_density(phi_reml, True), rel=1e-10)
    # the same fit: sp fixed, so coefficients and edf do not depend on the criterion
    np.testing.assert_allclose(model.coef_, fits["REML"].coef_, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------- exact derivatives
@pytest.mark.parametrize("rho", [np.array([0.5, -0.5, 1.0]), np.log([1e-8, 1e12, 1.0]),
                                 np.log([1e12, 1e-8, 10.0])])
def test_gaussian_ml_gradient_and_hessian_match_finite_differences(rho):
    """The exact gradient and Hessian of the profiled Gaussian ML score (REML's, plus
    1/2 log|U_0'A^-1 U_0|, stable.PenalizedFactor.null_logdet) against central
    differences, with two overlapping te() penalties and a separate s(z) penalty, also
    with smoothing parameters at 1e-8 and 1e12."""
    X, y, blocks = _te_problem(1, n=150)
    crit = GaussianREML(_qrstats(X, y), blocks, method="ML")
    value, grad, hess, _ = crit.derivatives(rho)
    assert value == pytest.approx(crit.score(rho), rel=1e-13)
    np.testing.assert_allclose(grad, _fd(crit.score, rho), atol=1e-6)
    fd_hess = np.array([_fd(lambda r, j=j: crit.derivatives(r)[1][j], rho)
                        for j in range(len(rho))])
    np.testing.assert_allclose(hess, fd_hess, atol=1e-5)


def test_ml_is_smooth_and_bounded_as_a_smoothing_parameter_runs_to_infinity():
    """sp from 1e8 to 1e15 (rho to 34.5): the ML score converges to its fully penalized
    limit, its gradient in that rho vanishes like 1/sp, and nothing is NaN (the same
    column-scaled factor as REML, stable.py)."""
    X, y, blocks = _te_problem(2, n=150)
    crit = GaussianREML(_qrstats(X, y), blocks, method="ML")
    values, grads = [], []
    for r in np.log([1e8, 1e10, 1e12, 1e15]):
        value, grad, hess, _ = crit.derivatives(np.array([0.0, 1.0, r]))
        assert np.all(np.isfinite(hess))
        values.append(value)
        grads.append(abs(grad[2]))
    assert np.all(np.abs(np.diff(values)) < 1e-6)
    assert abs(values[-1] - values[-2]) < 1e-9
    assert grads[-1] < 1e-9 and grads[-1] < grads[0]


def test_glm_ml_gradient_matches_finite_differences():
    """LAML-ML for a Gamma GLM with log link (non-canonical: Newton weights depend on
    eta, so the W' term of d log|H_rr| uses U_r H_rr^-1 U_r', ``range_inverse_sqrt``;
    scale profiled without the M_p term) and overlapping penalties."""
    X, f, blocks = _te_problem(3, n=200)
    n = len(f)
    rng = np.random.default_rng(5)
    y = rng.gamma(4.0, np.exp(0.3 * f) / 4.0)
    prob = GLMProblem(CachedDesign(X), y, np.ones(n), np.zeros(n),
                      make_family("gamma", "log"), blocks, method="ML")
    for rho in (np.array([0.5, -0.5, 1.0]), np.log([1e-6, 1e10, 1.0])):
        _, grad, _, _ = prob.laml(rho)
        np.testing.assert_allclose(grad, _fd(prob.score, rho), atol=2e-6)


def _additive_problem(seed, n, k=(8, 6)):
    """Intercept + two cr smooths (sum-to-zero absorbed; separate penalties)."""
    rng = np.random.default_rng(seed)
    cols, blocks, start = [np.ones(n)], [], 1
    f = np.zeros(n)
    for kj, g in zip(k, (lambda x: np.sin(2 * np.pi * x), lambda x: 2 * x**2), strict=True):
        x = rng.uniform(size=n)
        kn = place_knots(x, kj)
        Z = sum_to_zero_householder(cr_basis(x, kn).sum(axis=0))
        cols.append(cr_basis(x, kn) @ Z)
        blocks.append(PenaltyBlock(slice(start, start + kj - 1), Z.T @ cr_penalty(kn) @ Z,
                                   kj - 2))
        start += kj - 1
        f += g(x)
    return np.column_stack(cols), f, blocks


def test_ocat_ml_gradient_matches_finite_differences():
    """Extended family (ocat, R = 4): the gradient in (theta, rho) of the ML LAML, whose
    trace terms use U_r H_rr^-1 U_r' and whose penalty term gains d log|U_0'H^-1 U_0|."""
    X, f, blocks = _additive_problem(4, n=250)
    rng = np.random.default_rng(6)
    ystar = 0.8 * (f - f.mean()) + rng.logistic(size=len(f))
    y = 1.0 + np.searchsorted([-1.0, 0.0, 1.2], ystar)
    fam = make_family("ocat")
    designs, y, w, off = _check_inputs([X], blocks, y, None, fam, None)
    prob = _LikelihoodProblem(designs, blocks, y, w, fam, off, None, method="ML")
    psi = np.array([0.0, 0.3, 0.5, -0.5])  # theta (2 log increments), rho (2)
    _, grad, _ = prob.laml(psi)
    np.testing.assert_allclose(grad, _fd(prob.score, psi), atol=2e-6)


# -------------------------------------------------------------------- R golden
def _fit_case(case):
    data, new = _frames(case)
    formula, env = with_indices(case["formula_py"], case.get("sketch_indices") or {}) if (
        isinstance(case["formula_py"], str)) else (case["formula_py"], {})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # multinom: ML -> REML
        fit = GAM(formula, family=case["family"], method=case["method"]).fit(
            data, weights=case.get("weights_column"), sp=case.get("sp_fixed"), env=env)
    return fit, data, new


GOLDEN = [("method_ml", name) for name in ML_CASES if name != "multinom2_ML"] + [
    ("paper", "gaussian_tp1_ML"), ("paper", "binomial_tp_krls_re_ML")]


@pytest.fixture(scope="module", params=GOLDEN, ids=[n for _, n in GOLDEN])
def golden_fit(request):
    source, name = request.param
    case = (ML_CASES if source == "method_ml" else PAPER)[name]
    return (case, *_fit_case(case))


def test_ml_score_sp_edf_match_mgcv(golden_fit):
    case, fit, _, _ = golden_fit
    assert fit.method_ == "ML" == case.get("method_fitted", "ML")
    np.testing.assert_allclose(fit.edf_.to_numpy(), list(case["edf_by_smooth"].values()),
                               atol=1e-4)
    if case.get("sp_fixed") is None and max(case["sp"]) > 1e5:
        # mgcv stops on the flat approach to sp = infinity (edf 1.6e-5 above 1); we go on
        # to within 1e-6 edf of the limit: a score no higher, and the same score at R's sp
        assert fit.reml_ < case["reml"] + 1e-9
        at_r = GAM(case["formula_py"], method="ML").fit(_frames(case)[0], sp=case["sp"])
        assert at_r.reml_ == pytest.approx(case["reml"], abs=1e-6)
    else:
        assert fit.reml_ == pytest.approx(case["reml"], abs=1e-6)
        np.testing.assert_allclose(fit.sp_.to_numpy(), case["sp"], rtol=1e-4)
    # mgcv's scale.est (Gaussian: RSS / (n - sum edf)), which Vp uses
    assert fit.scale_ == pytest.approx(case["scale"], rel=1e-5)
    if case["family"] == "gaussian" and "reml_scale" in case:
        assert fit.reml_scale_ == pytest.approx(case["reml_scale"], rel=1e-5)
    params = case.get("family_params") or {}
    if "cut_points" in params:
        np.testing.assert_allclose(fit.theta_, params["cut_points"], atol=1e-5)
    if "theta" in params:
        assert fit.theta_[0] == pytest.approx(params["theta"], rel=1e-5)


def test_ml_predictions_and_standard_errors_match_mgcv(golden_fit):
    case, fit, data, new = golden_fit
    pred = fit.predict(new, se=True)
    assert rel_err(np.asarray(pred["fit"]), case["predict_link"]) < 1e-6
    assert rel_err(np.asarray(pred["se"]), case["predict_link_se"]) < 1e-5
    assert rel_err(np.asarray(fit.predict(data), dtype=float).reshape(-1),
                   case["fitted_link"]) < 1e-6


def test_ml_and_reml_differ_as_in_mgcv():
    """The REML twins in method_ml.json: the two criteria select different sp, and each
    of our fits agrees with mgcv's fit of the same criterion (ML above)."""
    case = ML_CASES["gaussian_factor_two_smooths_ML"]
    data, _ = _frames(case)
    reml = GAM(case["formula_py"], method="REML").fit(data)
    assert reml.method_ == "REML"
    assert reml.reml_ == pytest.approx(case["reml_twin"]["reml"], abs=1e-6)
    np.testing.assert_allclose(reml.sp_.to_numpy(), case["reml_twin"]["sp"], rtol=1e-4)
    assert not np.allclose(case["sp"], case["reml_twin"]["sp"], rtol=1e-2)


def test_multinom_is_fitted_by_reml_as_mgcv_does():
    """mgcv fits general families (multinom, ``gam.fit5``) by REML whatever ``method``
    says (``fit$method == "REML"``); we do the same, with a warning. At mgcv's sp the
    score is its REML score (mgcv's multinom score, shifted by #(y == 0), see
    paper_models.json)."""
    case = ML_CASES["multinom2_ML"]
    assert case["method_fitted"] == "REML"
    data, new = _frames(case)
    with pytest.warns(UserWarning, match="multinom family by REML only"):
        fit = GAM(list(case["formula_py"]), family="multinom", method="ML").fit(
            data, sp=case["sp"])
    assert fit.method == "ML" and fit.method_ == "REML"
    assert fit.reml_ == pytest.approx(case["reml"], abs=1e-6)
    assert case["reml"] == pytest.approx(case["reml_twin"]["reml"], abs=1e-9)
    np.testing.assert_allclose(fit.edf_.to_numpy(), list(case["edf_by_smooth"].values()),
                               atol=1e-4)
    prob = np.asarray(fit.predict(new, type="response"), dtype=float)
    np.testing.assert_allclose(prob, case["predict_response"], atol=1e-6)


# ------------------------------------------------------------------ API and I/O
def test_method_is_reported_printed_saved_and_loaded(mixed_data, tmp_path):
    fit = fc.gam("y ~ x3 + s(z, k=8)", mixed_data, method="ml")
    assert fit.method == "ML" and fit.method_ == "ML"
    text = str(fit.summary())
    assert f"-ML = {fit.reml_:.6g}" in text and "-REML" not in text
    assert "-REML = " in str(fc.gam("y ~ x3 + s(z, k=8)", mixed_data).summary())
    fit.save(tmp_path / "m.fc")
    back = load(tmp_path / "m.fc")
    assert back.method == "ML" and back.method_ == "ML"
    assert back.reml_ == fit.reml_ and back.scale_ == fit.scale_
    assert "-ML = " in str(back.summary())
    np.testing.assert_allclose(back.predict(mixed_data), fit.predict(mixed_data), atol=1e-12)


@pytest.mark.parametrize("method", ["GCV", "GCV.Cp", "P-ML", "fREML", ""])
def test_unknown_method_names_the_allowed_ones(mixed_data, method):
    with pytest.raises(ValueError, match=rf"unknown method '{method}'.*\['REML', 'ML'\]"):
        fc.gam("y ~ s(z)", mixed_data, method=method)


def test_method_must_be_a_string(mixed_data):
    with pytest.raises(TypeError, match="method must be a string"):
        fc.gam("y ~ s(z)", mixed_data, method=None)
