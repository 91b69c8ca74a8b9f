"""The REML/LAML core at the edges: properties that hold in exact arithmetic.

For every smoothing parameter, over a grid from 1e-8 to 1e20 (others at the optimum):
its term's edf never increases with sp and never drops below the dimension of the
penalty's null space; the score has no reversals beyond round-off (it falls, then
rises, and settles to a limit at the ends). Plus invariances (a covariate with mean
1e8, the scale of y), held limits, and the convergence report of the Newton search.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import flexcausal as fc
from flexcausal.gkrls.fitting import penalty_blocks
from flexcausal.gkrls.model import GAM
from flexcausal.gkrls.optimize import EDF_TOL, newton_minimize

from .golden import case_frames, golden, with_indices

GRID = 10.0 ** np.arange(-8, 21, 2)


def _data(seed: int, n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "x1": rng.normal(size=n), "x2": rng.normal(size=n), "x3": rng.uniform(size=n),
        "z": rng.normal(size=n), "g": rng.choice([f"g{i}" for i in range(8)], size=n),
    })
    df["y"] = (np.sin(df.x1) + 0.3 * df.x2**2 + 0.5 * df.x3 + 0.2 * df.z
               + rng.normal(0, 0.5, n))
    df["c"] = rng.poisson(np.exp(0.3 + 0.5 * np.sin(df.x1)))
    df["b"] = (rng.uniform(size=n) < 1 / (1 + np.exp(-np.sin(2 * df.x1)))).astype(float)
    return df


RANDOM_MODELS = [
    ("y ~ s(x3, k=10) + krls(x1, x2, size=30)", "gaussian", 0),
    ("y ~ s(x1) + krls(x2, x3, size=30)", "gaussian", 1),
    ("y ~ z + s(x1, k=8) + s(x3, k=6) + re(g)", "gaussian", 2),
    ("y ~ krls(x1, x2, x3, size=25) + re(g)", "gaussian", 3),
    ("c ~ s(x1, k=8) + re(g)", "poisson", 4),
    ("b ~ z + s(x1, k=8) + krls(x2, x3, size=20)", "binomial", 5),
]


def _null_dims(model) -> dict[str, int]:
    return {t.label: t.n_coef - t.penalty_ranks[0] for t in model.terms if t.penalties}


def _check_sp_path(formula, data, family, sp_opt, null_dims):
    """edf non-increasing and >= null dim along each sp; score without reversals."""
    for j, label in enumerate(sp_opt.index):
        edf, score = [], []
        for value in GRID:
            sp = sp_opt.to_numpy().copy()
            sp[j] = value
            fit = fc.gam(formula, data, family=family, sp=sp)
            edf.append(fit.edf_[label])
            score.append(fit.reml_)
        edf, score = np.array(edf), np.array(score)
        assert np.all(np.diff(edf) <= 1e-9 * np.maximum(edf[:-1], 1.0)), (label, edf)
        assert np.all(edf >= null_dims[label] - 1e-9), (label, edf)
        # unimodal along the path up to round-off: the score falls, then rises
        tol = 1e-10 * (1.0 + np.abs(score).max())
        d = np.diff(score)
        turn = np.argmax(d > tol) if np.any(d > tol) else len(d)
        assert np.all(d[turn:] >= -tol), (label, score)
        # the limits are reached smoothly: the last steps change the score ever less
        assert abs(score[-1] - score[-2]) <= abs(score[-3] - score[-4]) + tol, (label, score)


@pytest.mark.parametrize("formula,family,seed", RANDOM_MODELS,
                         ids=[m[0].split("~")[1].strip() for m in RANDOM_MODELS])
def test_edf_and_score_along_sp_paths(formula, family, seed):
    data = _data(seed)
    fit = fc.gam(formula, data, family=family)
    _check_sp_path(formula, data, family, fit.sp_, _null_dims(fit))


def _golden_fit(file, name):
    """A golden case's data, formula and fitting options (as in test_golden*.py)."""
    case = golden(file)["cases"][name]
    data = pd.DataFrame(case["data"])
    if file == "gkrls_gaussian.json":
        data, _ = case_frames(case)
    elif "f" in data:
        data["f"] = pd.Categorical(data["f"], categories=sorted(data["f"].unique()))
    formula, env = with_indices(case["formula_py"], case.get("sketch_indices", {}))
    family = (case.get("family", "gaussian").lower(), case.get("link"))

    def fit(sp=None):
        return GAM(formula, family=family[0], link=family[1]).fit(
            data, sp=sp, env=env, weights=case.get("weights"))

    return fit


GOLDEN_CASES = [(f, n) for f in ("gkrls_gaussian.json", "gkrls_glm.json")
                for n in sorted(golden(f)["cases"])]


@pytest.mark.parametrize("file,name", GOLDEN_CASES, ids=[n for _, n in GOLDEN_CASES])
def test_edf_monotone_on_golden_models(file, name):
    fit_at = _golden_fit(file, name)
    fit = fit_at()
    for j, label in enumerate(fit.sp_.index):
        edf = []
        for value in GRID[::2]:
            sp = fit.sp_.to_numpy().copy()
            sp[j] = value
            edf.append(fit_at(sp).edf_[label])
        edf = np.array(edf)
        assert np.all(np.diff(edf) <= 1e-9 * np.maximum(edf[:-1], 1.0)), (label, edf)
        assert np.all(edf >= _null_dims(fit)[label] - 1e-9), (label, edf)


def test_zero_variance_random_effect_is_held_at_its_limit():
    """Residual group means exactly 0: the REML variance estimate is 0, sp -> infinity;
    the sp is held where the edf is within EDF_TOL of 0, and the fit equals the model
    without the random effect."""
    rng = np.random.default_rng(7)
    n = 400
    df = pd.DataFrame({"x": rng.uniform(size=n), "g": rng.choice(list("abcdefghij"), n)})
    e = rng.normal(0, 0.3, n)
    e -= pd.Series(e).groupby(df.g).transform("mean").to_numpy()
    df["y"] = np.sin(2 * np.pi * df.x) + e
    with_re = fc.gam("y ~ s(x) + re(g)", df)
    without = fc.gam("y ~ s(x)", df)
    assert 0.0 <= with_re.edf_["re(g)"] < EDF_TOL
    assert np.isfinite(with_re.sp_["re(g)"])
    np.testing.assert_allclose(with_re.fitted_values_, without.fitted_values_, atol=1e-5)
    assert with_re.reml_ == pytest.approx(without.reml_, abs=1e-4)


def test_linear_truth_holds_the_spline_at_its_linear_limit():
    """y exactly linear in x plus noise orthogonal to every smooth direction of s(x):
    the spline's sp runs to infinity, edf is held within EDF_TOL of 1."""
    rng = np.random.default_rng(8)
    n = 300
    df = pd.DataFrame({"x": np.sort(rng.uniform(size=n)), "z": rng.normal(size=n)})
    base = fc.gam("y ~ s(x) + z", df.assign(y=rng.normal(size=n)))
    X = base.terms[1].expand(base.terms[1].encode(df))
    noise = rng.normal(0, 0.5, n)
    Q, _ = np.linalg.qr(np.column_stack([np.ones(n), X, df.z]))
    noise -= Q @ (Q.T @ noise)
    df["y"] = 1.0 + 2.0 * df.x + 0.5 * df.z + noise
    fit = fc.gam("y ~ s(x) + z", df)
    assert 1.0 <= fit.edf_["s(x)"] < 1.0 + EDF_TOL


def test_large_covariate_mean_does_not_lose_the_slope():
    rng = np.random.default_rng(9)
    n = 300
    x = rng.normal(size=n)
    z = rng.uniform(size=n)
    y = -0.005 * x + np.sin(3 * z) + rng.normal(0, 0.1, n)
    exact = np.linalg.lstsq(np.column_stack([np.ones(n), x]), y, rcond=None)[0][1]
    for shift in (0.0, 1e4, 1e8):
        df = pd.DataFrame({"x": x + shift, "z": z, "y": y})
        assert fc.gam("y ~ x", df).coef_["x"] == pytest.approx(exact, rel=1e-7)
    plain = fc.gam("y ~ x + s(z)", pd.DataFrame({"x": x, "z": z, "y": y}))
    shifted = fc.gam("y ~ x + s(z)", pd.DataFrame({"x": x + 1e8, "z": z, "y": y}))
    assert shifted.coef_["x"] == pytest.approx(plain.coef_["x"], rel=1e-6)
    np.testing.assert_allclose(shifted.fitted_values_, plain.fitted_values_, atol=1e-7)
    np.testing.assert_allclose(shifted.sp_, plain.sp_, rtol=1e-5)


def test_shifted_covariate_in_a_logistic_model():
    rng = np.random.default_rng(10)
    n = 500
    d = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n)})
    d["y"] = (rng.uniform(size=n) < 1 / (1 + np.exp(-(np.sin(d.x1) + d.x2)))).astype(float)
    plain = fc.gam("y ~ s(x1) + x2", d, family="binomial")
    shifted = fc.gam("y ~ s(x1) + x2", d.assign(x2=d.x2 + 1e6), family="binomial")
    assert shifted.coef_["x2"] == pytest.approx(plain.coef_["x2"], rel=1e-6)
    np.testing.assert_allclose(shifted.fitted_values_, plain.fitted_values_, atol=1e-7)


def test_reml_is_invariant_to_the_scale_of_y():
    """y -> 1e6 y: at fixed sp edf and fitted values scale exactly, the score moves by
    the constant c log(1e12) (c = (n - M_p) / 2), so the optimal sp is the same."""
    df = _data(11)
    formula = "y ~ s(x3) + krls(x1, x2, size=30)"
    a = fc.gam(formula, df)
    b = fc.gam(formula, df.assign(y=df.y * 1e6), sp=a.sp_.to_numpy())
    np.testing.assert_allclose(b.edf_, a.edf_, rtol=1e-10)
    np.testing.assert_allclose(b.fitted_values_, a.fitted_values_ * 1e6, rtol=1e-9)
    n_null = sum(t.null_space_dim for t in a.terms)
    c = (len(df) - n_null) / 2
    assert b.reml_ - a.reml_ == pytest.approx(c * np.log(1e12), rel=1e-10)
    np.testing.assert_allclose(fc.gam(formula, df.assign(y=df.y * 1e6)).sp_, a.sp_,
                               rtol=1e-3)


@pytest.mark.parametrize("factor", [1e-150, 1e150])
def test_extreme_units_of_y_change_nothing_but_the_units(factor):
    df = _data(16)
    formula = "y ~ z + s(x3) + krls(x1, x2, size=20)"
    a = fc.gam(formula, df)
    b = fc.gam(formula, df.assign(y=df.y * factor))
    np.testing.assert_allclose(b.sp_, a.sp_, rtol=1e-6)
    np.testing.assert_allclose(b.edf_, a.edf_, rtol=1e-7)
    np.testing.assert_allclose(b.fitted_values_ / factor, a.fitted_values_, rtol=1e-7)
    assert b.scale_ / factor**2 == pytest.approx(a.scale_, rel=1e-7)


def test_one_level_per_row_random_effect_warns_when_the_scale_is_estimated():
    rng = np.random.default_rng(17)
    df = pd.DataFrame({"x": rng.normal(size=60), "g": [f"g{i}" for i in range(60)]})
    df["y"] = df.x + rng.normal(size=60)
    with pytest.warns(UserWarning, match=r"re\(g\) has 60 levels for 60 rows"):
        fc.gam("y ~ x + re(g)", df)


def test_interpolating_fit_is_finite_and_quiet():
    rng = np.random.default_rng(12)
    x1, x2 = rng.uniform(0, 2 * np.pi, (2, 60))
    df = pd.DataFrame({"x1": x1, "x2": x2, "y": np.sin(x1) * np.cos(x2)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = fc.gam("y ~ krls(x1, x2, sketch='none')", df)
    assert np.isfinite(fit.reml_) and np.all(np.isfinite(fit.vcov().to_numpy()))
    np.testing.assert_allclose(fit.fitted_values_, df.y, atol=1e-3)


def test_prediction_se_is_never_nan_far_from_the_data():
    df = _data(13)
    fit = fc.gam("y ~ krls(x1, x2, size=30) + s(x3)", df)
    far = pd.DataFrame({"x1": [50.0, -80.0, 1e3], "x2": [40.0, 0.0, -1e3],
                        "x3": [0.5, 0.1, 0.9]})
    pred = fit.predict(far, se=True)
    assert np.all(np.isfinite(pred["se"])) and np.all(pred["se"] >= 0)


# ------------------------------------------------------------- Newton's report
def _quadratic(target, wrong_gradient=False):
    def derivatives(rho):
        g = 2 * (rho - target)
        return float(np.sum((rho - target) ** 2)), (-g if wrong_gradient else g), \
            2 * np.eye(len(rho)), None

    return derivatives, lambda rho: float(np.sum((rho - target) ** 2))


def test_newton_reports_convergence_on_a_clean_problem():
    d, s = _quadratic(np.array([1.0, -2.0]))
    res = newton_minimize(d, s, np.zeros(2))
    assert res.converged
    np.testing.assert_allclose(res.rho, [1.0, -2.0], atol=1e-9)


def test_failed_line_search_is_not_reported_as_converged():
    d, s = _quadratic(np.array([1.0, -2.0]), wrong_gradient=True)
    with pytest.warns(RuntimeWarning, match="did not converge.*line search.*sp="):
        res = newton_minimize(d, s, np.zeros(2))
    assert not res.converged


def test_parameter_at_a_limit_is_held():
    """A score flat towards +infinity in rho_0 whose 'edf excess' is below EDF_TOL there."""
    def score(rho):
        return float(np.exp(-rho[0]) + (rho[1] - 1.0) ** 2)

    def derivatives(rho):
        g = np.array([-np.exp(-rho[0]), 2 * (rho[1] - 1.0)])
        return score(rho), g, np.diag([np.exp(-rho[0]), 2.0]), rho

    def limits(rho):
        return np.array([np.exp(-rho[0]), 1.0]), np.array([1.0, 1.0])

    res = newton_minimize(d := derivatives, score, np.zeros(2), limits=limits)
    assert res.converged and res.at_limit.tolist() == [1, 0]
    assert np.exp(-res.rho[0]) < EDF_TOL and np.isfinite(res.rho[0])
    assert d(res.rho)[1][1] == pytest.approx(0.0, abs=1e-8)


# ------------------------------------------------- the two accumulation passes
def test_gram_and_qr_passes_give_the_same_factor_and_fit():
    from flexcausal.gkrls.blocks import accumulate
    from flexcausal.gkrls.fit import fit_reml

    df = _data(14)
    fit = fc.gam("y ~ z + krls(x1, x2, size=30) + re(g) + s(x3)", df)
    enc = [t.encode(df) for t in fit.terms]
    y = df.y.to_numpy()
    gram = accumulate(fit.terms, enc, y, block_rows=77, intercept=True, method="gram")
    exact = accumulate(fit.terms, enc, y, block_rows=77, intercept=True, method="qr")
    np.testing.assert_allclose(gram.R.T @ gram.R, exact.R.T @ exact.R, rtol=1e-10, atol=1e-9)
    # (r2 alone, the unpenalized residual, is ill-determined by the kernel columns; what
    # REML uses, the penalized fit, is not)
    a, b = fit_reml(gram, penalty_blocks(fit.terms)), fit_reml(exact, penalty_blocks(fit.terms))
    assert a.penalized_rss == pytest.approx(b.penalized_rss, rel=1e-9)
    assert a.reml == pytest.approx(b.reml, rel=1e-11)
    np.testing.assert_allclose(a.rho, b.rho, atol=1e-6)
    np.testing.assert_allclose(a.beta, b.beta, rtol=1e-7, atol=1e-9)


def test_qr_pass_is_chosen_for_interpolation_and_ill_conditioned_columns():
    from flexcausal.gkrls.blocks import accumulate
    from flexcausal.gkrls.fit import needs_qr

    df = _data(15)
    fit = fc.gam("y ~ z + s(x3)", df)
    enc = [t.encode(df) for t in fit.terms]
    blocks = penalty_blocks(fit.terms)
    y = df.y.to_numpy()
    assert not needs_qr(accumulate(fit.terms, enc, y, intercept=True), blocks)
    exact_y = fit.fitted_values_ + 1e-7 * np.random.default_rng(0).normal(size=len(y))
    assert needs_qr(accumulate(fit.terms, enc, exact_y, intercept=True), blocks)
    near = df.assign(z=df.z + 1e-5 * df.x3)  # z and the spline's linear part almost equal
    near_fit = fc.gam("y ~ x3 + z + s(x1)", near.assign(z=near.x3 + 1e-6 * near.z))
    enc = [t.encode(near.assign(z=near.x3 + 1e-6 * near.z)) for t in near_fit.terms]
    assert needs_qr(accumulate(near_fit.terms, enc, y, intercept=True),
                    penalty_blocks(near_fit.terms))


@pytest.mark.parametrize("formula,kw", [
    ("y ~ 0 + x1 + krls(x2, size=20) + s(z)", {}),
    ("y ~ x1 + krls(x2, size=20) + s(z)", {"weights": "w", "offset": "o"}),
    ("y ~ -1 + krls(x2, z, size=25)", {}),
])
def test_coefficients_equal_an_independent_stable_least_squares(formula, kw):
    """At the fitted sp (often one at its limit) the coefficients equal numpy's lstsq on
    the column-scaled augmented system [sqrt(W) X; S^(1/2)] b = [sqrt(W)(y - o); 0]."""
    from flexcausal.gkrls.blocks import design_block

    rng = np.random.default_rng(18)
    n = 200
    df = pd.DataFrame({"x1": rng.normal(size=n) + 50, "x2": rng.normal(size=n),
                       "z": rng.uniform(size=n), "w": rng.uniform(0.2, 3, n),
                       "o": rng.normal(size=n)})
    df["y"] = np.sin(df.x2) + df.z + df.o + rng.normal(0, 0.3, n)
    fit = fc.gam(formula, df, **kw)
    X = design_block(fit.terms, [t.encode(df) for t in fit.terms], slice(0, n))
    w = df.w.to_numpy() if "weights" in kw else np.ones(n)
    off = df.o.to_numpy() if "offset" in kw else 0.0
    # S^(1/2) block by block, each penalty's null space exactly 0 (eigenvalues beyond its
    # rank are round-off: lambda = 1e10 times 1e-16 would penalize the null space)
    root = np.zeros((X.shape[1], X.shape[1]))
    for blk, sp in zip(penalty_blocks(fit.terms), fit.sp_.to_numpy(), strict=True):
        vals, vecs = np.linalg.eigh(blk.S)
        keep = np.argsort(vals)[::-1][: blk.rank]
        root[blk.cols, blk.cols] = (vecs[:, keep] * np.sqrt(sp * vals[keep])) @ vecs[:, keep].T
    sw = np.sqrt(w)
    M = np.vstack([sw[:, None] * X, root])
    scale = np.linalg.norm(M, axis=0)
    rhs = np.r_[sw * (df.y.to_numpy() - off), np.zeros(len(root))]
    beta = np.linalg.lstsq(M / scale, rhs, rcond=None)[0] / scale
    np.testing.assert_allclose(fit.coef_.to_numpy(), beta, rtol=0,
                               atol=1e-10 * np.abs(beta).max())


def test_perfectly_separated_kernel_fit_stops_at_once_and_says_so():
    """Separated binomial data: REML has no interior optimum (sp -> 0) and the deviance
    goes to 0 as b -> infinity; PIRLS stops at mgcv's absolute floor and the sp search
    holds the parameter at its box instead of running to the iteration limit."""
    rng = np.random.default_rng(19)
    Z = rng.normal(size=(30, 2))
    d = pd.DataFrame({"x0": Z[:, 0], "x1": Z[:, 1], "y": (Z.sum(axis=1) > 0).astype(float)})
    with pytest.warns(RuntimeWarning, match="numerically 0 or 1"):
        fit = fc.gam("y ~ krls(x0, x1)", d, family="binomial")
    assert fit.n_iter_ < 50
    np.testing.assert_array_equal(fit.fitted_values_ > 0.5, d.y > 0.5)


def test_random_effect_drifting_to_zero_variance_takes_few_newton_steps():
    """A county effect with ~no variance in a logit with a 25-column kernel (the Newman
    design, n = 500): its log sp drifts to +infinity with a vanishing gradient. Newton
    crept there in 112 outer iterations; drifting parameters now move 2 units of log sp
    a step (optimize.py), reaching the same score (lower than any fixed larger sp)."""
    from flexcausal.datasets import NEWMAN_CONTROLS, NEWMAN_KEY, newman

    data = newman(500, n_counties=25, seed=0)
    kernel = ", ".join([*NEWMAN_CONTROLS, NEWMAN_KEY])
    formula = (f"y ~ {' + '.join(NEWMAN_CONTROLS)} + krls({kernel}) + re(county) "
               f"+ s({NEWMAN_KEY})")
    fit = fc.gam(formula, data, family="binomial")
    assert fit.converged_ and fit.n_iter_ <= 40
    assert fit.edf_["re(county)"] < 1e-3
    further = fit.sp_.to_numpy().copy()
    further[list(fit.sp_.index).index("re(county)")] *= 1e3
    fixed = fc.gam(formula, data, family="binomial", sp=further)
    # held within EDF_TOL of its limit, where the score still falls by ~1e-8 over the
    # next 7 units of log sp (gradient -1e-8): the same score to that level
    assert fit.reml_ <= fixed.reml_ + 5e-8
