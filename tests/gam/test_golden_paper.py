"""The gKRLS paper's own models against R mgcv 1.8-41 + gKRLS 1.0.2
(tests/golden/make_paper_models_golden.R -> paper_models.json): thin-plate splines in 1-D
and 2-D (the default ``s()``), factor and numeric ``by=`` smooths, the four-part binomial
tp + krls + re model, tensor products, and smooth-term p-values.

Tolerances as the other golden tests: predictions 1e-6, REML 1e-6, edf 1e-4."""

from __future__ import annotations

import numpy as np
import pytest

from flexcausal.gkrls.model import GAM

from .family_fits import fitted_family, frames
from .golden import golden, with_indices
from .test_golden import rel_err

CASES = golden("paper_models.json")["cases"]
FITTED = ["gaussian_tp1", "gaussian_tp2", "gaussian_by_factor", "gaussian_by_numeric",
          "gaussian_te", "gaussian_te_tp_cr", "gaussian_ti",
          "binomial_tp_krls_re"]


def _fit(name):
    case = CASES[name]
    data, new = frames(case)
    formula, env = with_indices(case["formula_py"], case.get("sketch_indices") or {})
    fit = GAM(formula, family=case["family"]).fit(data, env=env)
    return case, fit, data, new


@pytest.fixture(scope="module", params=FITTED)
def fitted(request):
    return _fit(request.param)


def test_reml_sp_and_edf(fitted):
    case, fit, _, _ = fitted
    assert fit.reml_ == pytest.approx(case["reml"], abs=1e-6)
    np.testing.assert_allclose(fit.edf_.to_numpy(), list(case["edf_by_smooth"].values()),
                               atol=1e-4)
    if "krls" not in case["formula_py"]:  # R calls the kernel s(x1,x2) and re(g) s(g)
        assert list(fit.sp_.index) == list(case["sp_names"])
        assert list(fit.edf_.index) == list(case["edf_by_smooth"])


def test_predictions_and_standard_errors(fitted):
    case, fit, data, new = fitted
    assert rel_err(fit.predict(data), case["fitted_link"]) < 1e-6
    pred = fit.predict(new, se=True)
    assert rel_err(pred["fit"], case["predict_link"]) < 1e-6
    assert rel_err(pred["se"], case["predict_link_se"]) < 1e-5
    assert rel_err(fit.predict(new, type="response"), case["predict_response"]) < 1e-6


def test_coefficients_in_mgcv_order(fitted):
    case, fit, _, _ = fitted
    assert len(fit.coef_) == len(case["coefficients"])
    if "krls" not in case["formula_py"]:  # kernel columns differ by rotation only
        # tp columns are eigenvectors: each is defined up to its sign (LAPACK vs Lanczos)
        np.testing.assert_allclose(np.abs(fit.coef_.to_numpy()),
                                   np.abs(case["coefficients"]), atol=1e-4)


def test_smooth_term_p_values(fitted):
    case, fit, _, _ = fitted
    table = fit.summary().smooth
    ref = np.asarray(case["s_table"]["values"], dtype=float)
    np.testing.assert_allclose(table["edf"], ref[:, 0], atol=1e-4)
    np.testing.assert_allclose(table["Ref.df"], ref[:, 1], rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(table.iloc[:, 2], ref[:, 2], rtol=1e-3)
    p = np.maximum(table["p-value"].to_numpy(), 1e-300)
    np.testing.assert_allclose(np.log(p), np.log(np.maximum(ref[:, 3], 1e-300)), atol=1e-2)


def test_saved_and_loaded_model_predicts_the_same(fitted, tmp_path):
    from flexcausal.gkrls.model import load

    case, fit, _, new = fitted
    fit.save(tmp_path / "m.fc")
    back = load(tmp_path / "m.fc")
    np.testing.assert_allclose(back.predict(new), fit.predict(new), rtol=0, atol=1e-12)


# ------------------------------------------------- ordered, multinomial, negative binomial
FAMILY_CASES = ["ocat4", "nb", "multinom2", "multinom2_krls", "binary_multinom1"]


_fit_family = fitted_family  # cached: shared with the persistence and p-value tests


@pytest.fixture(scope="module", params=FAMILY_CASES)
def family_fit(request):
    return _fit_family(request.param)


def test_family_reml_edf_and_parameters(family_fit):
    case, fit, _, _ = family_fit
    assert fit.reml_ == pytest.approx(case["reml"], abs=1e-6)
    np.testing.assert_allclose(fit.edf_.to_numpy(), list(case["edf_by_smooth"].values()),
                               atol=1e-4)
    params = case.get("family_params") or {}
    if "cut_points" in params:
        np.testing.assert_allclose(fit.theta_, params["cut_points"], atol=1e-6)
    if "theta" in params:
        assert fit.theta_[0] == pytest.approx(params["theta"], rel=1e-5)


def test_family_probabilities_one_column_per_category(family_fit):
    case, fit, _, new = family_fit
    prob = fit.predict(new, type="response")
    ref = np.asarray(case["predict_response"], dtype=float)
    np.testing.assert_allclose(np.asarray(prob, dtype=float), ref, atol=1e-6)
    if ref.ndim == 2:
        assert prob.shape[1] == ref.shape[1]
        np.testing.assert_allclose(prob.to_numpy().sum(axis=1), 1.0, atol=1e-12)
    link = np.asarray(fit.predict(new), dtype=float)
    np.testing.assert_allclose(link, np.asarray(case["predict_link"], dtype=float).reshape(
        link.shape), atol=1e-6)


def test_two_category_ocat_equals_the_binomial_logit():
    """mgcv cannot fit ocat(R=2); with its first cut point fixed at -1,
    P(y = 2) = logistic(1 + eta): the binomial logit of (y == 2) with intercept + 1."""
    case = CASES["binary_binomial"]
    data, new = frames(case)
    binom = GAM(case["formula_py"], family="binomial").fit(data)
    ordered = GAM(case["formula_py"], family="ocat").fit(data.assign(y=data["y"] + 1))
    p_bin = binom.predict(new, type="response")
    p_ord = ordered.predict(new, type="response")
    np.testing.assert_allclose(p_ord.iloc[:, 1], p_bin, atol=1e-6)
    np.testing.assert_allclose(ordered.edf_.to_numpy(), binom.edf_.to_numpy(), atol=1e-4)


# -------------------------------------------- effects on each category's probability
EFFECT_CASES = ["binomial_tp_krls_re", "ocat4", "multinom2", "multinom2_krls",
                "binary_multinom1", "binary_binomial"]


@pytest.fixture(scope="module", params=EFFECT_CASES)
def effect_fit(request):
    name = request.param
    return _fit_family(name) if name in FAMILY_CASES else _fit(name)


def test_effects_on_each_category_match_gkrls(effect_fit):
    """gKRLS calculate_effects: one row per category (response 1..C in R), the effect on
    that category's probability, delta-method SE with gradient in beta (effects 1e-5)."""
    import flexcausal as fc

    case, fit, _, _ = effect_fit
    for ref in case["effects"].values():
        out = fc.marginal_effects(fit, ref["variable"][0], type="derivative")
        np.testing.assert_allclose(out["estimate"], ref["estimate"], rtol=1e-5, atol=1e-8)
        np.testing.assert_allclose(out["std_error"], ref["std_error"], rtol=1e-5)
        p_ref = [r["p.value"] for r in ref["records"]]
        np.testing.assert_allclose(out["p_value"], p_ref, rtol=1e-4)
    categories = fit.family_.categories()
    if len(categories) > 1:
        assert list(out["response"]) == categories
        # probabilities sum to one, so the effects on them sum to zero
        assert abs(out["estimate"].sum()) < 1e-10
    else:
        assert "response" not in out


def test_category_effects_are_finite_differences_of_predicted_probabilities():
    """Independent of R: the AME of z on each category equals the numerical derivative
    of the average predicted probability, and the multinom(K=1) effect on category 1
    equals the binomial effect."""
    import flexcausal as fc

    case, fit, data, _ = _fit_family("ocat4")
    h = 1e-5
    up = fit.predict(data.assign(z=data["z"] + h), type="response").mean()
    down = fit.predict(data.assign(z=data["z"] - h), type="response").mean()
    out = fc.marginal_effects(fit, "z", type="derivative")
    np.testing.assert_allclose(out["estimate"], (up - down) / (2 * h), rtol=1e-6, atol=1e-9)
    ind = fc.marginal_effects(fit, "z", individual=True)
    assert len(ind) == 4 * len(data)
    means = ind.groupby("response", sort=False)["estimate"].mean()
    np.testing.assert_allclose(means.to_numpy(), out["estimate"], rtol=1e-10)


def test_interactions_report_each_category():
    import flexcausal as fc

    case, fit, _, _ = _fit_family("multinom2")
    out = fc.interactions(fit, ["x1", "z"], qoi=["AME", "AMIE"])
    assert set(out["response"]) == {"0", "1", "2"}
    amie = out[out.qoi == "AMIE"]
    assert len(amie) == 3
    assert abs(amie["estimate"].sum()) < 1e-10  # probabilities sum to 1


@pytest.mark.parametrize("kind", ["HC0", "HC1", "cluster"])
def test_sandwich_for_likelihood_families_reduces_to_the_binomial_one(kind):
    """gKRLS refuses sandwich SEs for extended/general families; ours use the score of
    the log-likelihood. multinom(K=1) is the binomial logit, so its sandwich must equal
    the binomial one (whose Pearson-residual form matches gKRLS, test_golden_glm)."""
    _, multi, data, _ = _fit_family("binary_multinom1")
    _, binom, _, _ = _fit("binary_binomial")
    cluster = np.arange(len(data)) % 37 if kind == "cluster" else None
    Vm = multi.vcov(kind, cluster=cluster).to_numpy()
    Vb = binom.vcov(kind, cluster=cluster).to_numpy()
    np.testing.assert_allclose(Vm, Vb, rtol=1e-5, atol=1e-9)


def test_likelihood_family_scores_vanish_for_unpenalized_coefficients():
    """At the penalized optimum sum_i s_i = S beta, which is 0 for the intercept."""
    from flexcausal.gkrls.vcov import scores

    for name in ("ocat4", "multinom2", "nb"):
        _, fit, _, _ = _fit_family(name)
        _, mult, col_lp = scores(fit)
        assert np.all(np.abs(mult.sum(axis=0)) < 1e-6)
        assert col_lp.shape == (len(fit.coef_),)


def test_family_prediction_standard_errors_match_mgcv(family_fit):
    """predict(se=True): link SEs per predictor and response SEs per category
    (delta method with d mu_c / d eta, cut points held fixed), as mgcv predict.gam."""
    case, fit, _, new = family_fit
    resp = fit.predict(new, type="response", se=True)
    link = fit.predict(new, se=True)
    ref_r = np.asarray(case["predict_response_se"], dtype=float)
    ref_l = np.asarray(case["predict_link_se"], dtype=float)
    np.testing.assert_allclose(np.asarray(resp["se"], dtype=float).reshape(ref_r.shape),
                               ref_r, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(link["se"], dtype=float).reshape(ref_l.shape),
                               ref_l, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(resp["fit"], dtype=float).reshape(ref_r.shape),
                               np.asarray(case["predict_response"], dtype=float), atol=1e-6)
