"""Bad input gets a clear ValueError / TypeError / warning naming the culprit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from flexcausal.iv import DFIV, F2BMLD, KIV, Linear2SLS, Sieve2SLS, WeakInstrumentWarning

FAST = [Linear2SLS, Sieve2SLS, lambda: KIV(lambda1=1e-3, lambda2=1e-3)]


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(60, 1))
    x = z[:, 0] + rng.normal(size=60)
    return x, z, 2 * x + rng.normal(size=60)


@pytest.mark.parametrize("make", FAST)
def test_mismatched_lengths(make, data):
    x, z, y = data
    with pytest.raises(ValueError, match="instrument has 59 rows but treatment has 60"):
        make().fit(treatment=x, instrument=z[:-1], outcome=y)
    with pytest.raises(ValueError, match="outcome has 59 entries"):
        make().fit(treatment=x, instrument=z, outcome=y[:-1])
    with pytest.raises(ValueError, match="covariates has 10 rows"):
        make().fit(treatment=x, instrument=z, outcome=y, covariates=np.ones((10, 1)))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_inf(bad, data):
    x, z, y = data
    x2 = x.copy()
    x2[3] = bad
    with pytest.raises(ValueError, match="treatment contains NaN or infinite"):
        Linear2SLS().fit(treatment=x2, instrument=z, outcome=y)
    y2 = y.copy()
    y2[0] = bad
    with pytest.raises(ValueError, match="outcome contains 1 NaN or infinite"):
        KIV().fit(treatment=x, instrument=z, outcome=y2)


def test_shapes(data):
    x, z, y = data
    one_d = Linear2SLS().fit(treatment=x, instrument=z[:, 0], outcome=y)  # 1-D is one column
    two_d = Linear2SLS().fit(treatment=x[:, None], instrument=z, outcome=y[:, None])
    np.testing.assert_allclose(one_d.coef_, two_d.coef_)
    with pytest.raises(ValueError, match="treatment must be 1-D or 2-D"):
        Linear2SLS().fit(treatment=x[:, None, None], instrument=z, outcome=y)
    with pytest.raises(ValueError, match="outcome must be 1-D"):
        Linear2SLS().fit(treatment=x, instrument=z, outcome=np.column_stack([y, y]))
    with pytest.raises(TypeError, match="instrument must be numeric"):
        Linear2SLS().fit(treatment=x, instrument=np.array(["a"] * 60), outcome=y)
    with pytest.raises(ValueError, match="treatment has 2 column"):
        one_d.predict(np.ones((3, 2)))
    with pytest.raises(RuntimeError, match="not fitted"):
        Linear2SLS().predict(x)
    with pytest.raises(ValueError, match="covariates were not used"):
        one_d.predict(x, covariates=x)


def test_weak_instrument_warns_with_first_stage_f(data):
    x, _, y = data
    noise = np.random.default_rng(5).normal(size=(60, 1))  # unrelated to the treatment
    with pytest.warns(WeakInstrumentWarning, match=r"weak instrument.*F = .*partial R\^2"):
        est = Linear2SLS().fit(treatment=x, instrument=noise, outcome=y)
    assert est.first_stage_f_[0] < 10


def test_too_few_instruments_warns(data):
    x, z, y = data
    x2 = np.column_stack([x, x**2 + 0.1])
    with pytest.warns(WeakInstrumentWarning) as record:
        Linear2SLS().fit(treatment=x2, instrument=z, outcome=y)
    assert any("order condition fails" in str(w.message) for w in record)


def test_strong_instrument_does_not_warn(data, recwarn):
    x, z, y = data
    Linear2SLS().fit(treatment=x, instrument=z, outcome=y)
    assert not [w for w in recwarn if issubclass(w.category, WeakInstrumentWarning)]


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: KIV(lambda1=0.0), "lambda1 must be > 0"),
        (lambda: KIV(lambda2=[1e-3, -1.0]), "lambda2 must be > 0"),
        (lambda: F2BMLD(lam=0.0), r"lam \(the Lagrange multiplier lambda\) must be a finite"),
        (lambda: F2BMLD(lam=-1.0), "lam"),
        (lambda: F2BMLD(alpha=0.0), r"alpha \(a step size\) must be a finite number > 0"),
        (lambda: F2BMLD(gamma=-0.1), r"gamma \(a step size\)"),
        (lambda: F2BMLD(sigma1=-1.0), "sigma1 must be a finite number >= 0"),
        (lambda: F2BMLD(optimizer="sgd"), "unknown optimizer"),
        (lambda: DFIV(lambda1=-0.1), "lambda1 must be a finite number > 0"),
        (lambda: DFIV(learning_rate=0), "learning_rate"),
        (lambda: DFIV(split=1.0), r"split must be in \(0, 1\)"),
        (lambda: Sieve2SLS(n_basis_x=6, n_basis_z=4), "n_basis_z"),
        (lambda: Sieve2SLS(basis="fourier"), "unknown basis"),
    ],
)
def test_bad_hyperparameters(make, match, data):
    x, z, y = data
    with pytest.raises(ValueError, match=match):
        make().fit(treatment=x, instrument=z, outcome=y)


def test_bad_hyperparameter_types(data):
    x, z, y = data
    with pytest.raises(TypeError, match="outer_steps must be an integer"):
        F2BMLD(outer_steps=10.5).fit(treatment=x, instrument=z, outcome=y)
    with pytest.raises(TypeError, match="noise must be True, False or None"):
        F2BMLD(noise="yes").fit(treatment=x, instrument=z, outcome=y)
    with pytest.raises(TypeError, match="standardize must be True or False"):
        DFIV(standardize="yes").fit(treatment=x, instrument=z, outcome=y)


def test_get_set_params():
    est = F2BMLD(lam=2.0)
    assert est.get_params()["lam"] == 2.0
    assert est.set_params(lam=3.0).lam == 3.0
    with pytest.raises(ValueError, match="unknown parameter"):
        est.set_params(bogus=1)


# --------------------------------------------------------------- first-stage F, closed form
def _statsmodels_partial_f(x, z, w=None):
    """Classical F test that the instruments' coefficients are zero (statsmodels), and the
    partial R^2, on the centred treatment (the intercept makes centring exact)."""
    sm = pytest.importorskip("statsmodels.api")
    x = x - x.mean()
    base = np.ones((len(x), 1)) if w is None else sm.add_constant(w)
    full = np.column_stack([base, z])
    unres, res = sm.OLS(x, full).fit(), sm.OLS(x, base).fit()
    return unres.compare_f_test(res)[0], 1.0 - unres.ssr / res.ssr


def _design(kind, seed=0, n=200):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(n, 2))
    z = rng.normal(size=(n, 2)) + 0.3 * w[:, :1]
    x = 0.2 * z[:, 0] - 0.1 * z[:, 1] + w[:, 0] + rng.normal(size=n)
    if kind == "plain":
        return x, z[:, :1], None
    if kind == "covariates":
        return x, z, w
    if kind == "units":  # the tester's negative F: covariates, instrument and offset in
        w = 0.1 * rng.normal(size=(n, 2))  # wildly different units (old code: F = -6.8)
        z = 1e6 * rng.normal(size=(n, 1))
        return 1e9 + rng.normal(size=n) + 1e-7 * z[:, 0], z, w
    if kind == "instrument_also_covariate":  # [cost, t] as instruments, t as covariate
        return x, np.column_stack([z[:, 0], w[:, 1]]), w
    raise AssertionError(kind)


@pytest.mark.filterwarnings("ignore:The design matrix is rank-deficient")
@pytest.mark.parametrize("kind", ["plain", "covariates", "units", "instrument_also_covariate"])
def test_first_stage_f_matches_statsmodels(kind):
    from flexcausal.iv import first_stage_f

    x, z, w = _design(kind)
    f, r2 = first_stage_f(x[:, None], z, w)
    zs = z / z.std(axis=0)  # statsmodels needs sane units to be the reference itself
    f_ref, r2_ref = _statsmodels_partial_f(x, zs, w)
    assert f[0] >= 0 and 0 <= r2[0] <= 1
    np.testing.assert_allclose(f[0], f_ref, rtol=1e-8)
    np.testing.assert_allclose(r2[0], r2_ref, rtol=1e-8, atol=1e-12)


@pytest.mark.filterwarnings("ignore::flexcausal.iv.WeakInstrumentWarning")
def test_first_stage_f_matches_linearmodels():
    iv = pytest.importorskip("linearmodels.iv")
    x, z, w = _design("covariates", seed=3)
    y = x + np.random.default_rng(1).normal(size=len(x))
    exog = pd.DataFrame({"c": 1.0, "w1": w[:, 0], "w2": w[:, 1]})
    res = iv.IV2SLS(y, exog, pd.Series(x, name="x"), pd.DataFrame(z, columns=["z1", "z2"])).fit(
        cov_type="unadjusted", debiased=True)
    est = Linear2SLS().fit(treatment=x, instrument=z, outcome=y, covariates=w)
    diag = res.first_stage.diagnostics.loc["x"]
    np.testing.assert_allclose(est.first_stage_f_[0], diag["f.stat"], rtol=1e-8)
    np.testing.assert_allclose(est.first_stage_r2_[0], diag["partial.rsquared"], rtol=1e-8)


def test_first_stage_f_never_negative():
    from flexcausal.iv import first_stage_f

    rng = np.random.default_rng(0)
    for _ in range(200):
        n = 200
        x = rng.normal(size=(n, 1)) + 10.0 ** rng.integers(0, 12)
        w = rng.normal(size=(n, 2)) * 10.0 ** rng.integers(-3, 10)
        z = rng.normal(size=(n, 1)) * 10.0 ** rng.integers(-8, 10)
        f, r2 = first_stage_f(x, z, w)
        assert f[0] >= 0 and 0 <= r2[0] <= 1


# ------------------------------------------------------------------------ data cases
ALL = {
    "Linear2SLS": Linear2SLS,
    "Sieve2SLS": Sieve2SLS,
    "KIV": lambda: KIV(lambda1=1e-3, lambda2=1e-3),
    "DFIV": lambda: DFIV(n_epoch=1, stage1_iter=1, covariate_iter=1),
    "F2BMLD": lambda: F2BMLD(outer_steps=2, inner_steps=1, n_particles_x=4, n_particles_z=4),
}


def _case(name, x, z, y):
    n = len(x)
    w = np.random.default_rng(7).normal(size=(n, 1))
    cases = {
        "constant_instrument": (dict(instrument=np.ones(n)), ValueError,
                                r"instrument column 0 is constant \(1\).*drop the column"),
        "constant_treatment": (dict(treatment=np.full(n, 2.0)), ValueError,
                               r"treatment column 0 is constant \(2\)"),
        "instrument_is_covariate": (dict(instrument=w, covariates=w), ValueError,
                                    "no excluded instrument"),
        "instrument_collinear_with_covariate": (dict(instrument=2 * w + 1, covariates=w),
                                                ValueError, "no excluded instrument"),
        "treatment_is_covariate": (dict(covariates=x[:, None]), ValueError,
                                   "treatment column 0 is a linear combination of the "
                                   "covariates"),
        "complex_instrument": (dict(instrument=z.astype(complex)), TypeError,
                               "instrument must be real-valued"),
        "string_instrument": (dict(instrument=z.astype(str)), TypeError,
                              "instrument must be numeric"),
        "object_strings": (dict(instrument=np.array(["a"] * n, dtype=object)), TypeError,
                           "instrument must be numeric; it holds str values"),
        "nan_in_nullable_treatment": (dict(treatment=pd.Series(
            np.r_[np.nan, x[1:]], dtype="Float64")), ValueError, "treatment contains NaN"),
        "empty": (dict(treatment=x[:0], instrument=z[:0], outcome=y[:0]), ValueError,
                  "treatment is empty"),
        "single_row": (dict(treatment=x[:1], instrument=z[:1], outcome=y[:1]), ValueError,
                       "need at least 10 observations"),
    }
    return cases[name]


DATA_CASES = ["constant_instrument", "constant_treatment", "instrument_is_covariate",
              "instrument_collinear_with_covariate", "treatment_is_covariate",
              "complex_instrument", "string_instrument", "object_strings",
              "nan_in_nullable_treatment", "empty", "single_row"]


@pytest.mark.parametrize("est", list(ALL))
@pytest.mark.parametrize("case", DATA_CASES)
def test_bad_data_raises_for_every_estimator(est, case, data):
    x, z, y = data
    changes, err, match = _case(case, x, z, y)
    kwargs = dict(treatment=x, instrument=z, outcome=y) | changes
    with pytest.raises(err, match=match):
        ALL[est]().fit(**kwargs)


def test_string_column_in_a_dataframe_is_named(data):
    x, z, y = data
    cov = pd.DataFrame({"age": np.arange(60.0), "region": ["north", "south"] * 30})
    with pytest.raises(TypeError, match="covariates column 'region' must be numeric"):
        Linear2SLS().fit(treatment=x, instrument=z, outcome=y, covariates=cov)


@pytest.mark.parametrize("dtype", ["Int64", "Float64", "boolean"])
def test_nullable_pandas_dtypes_work_as_plain(dtype, data):
    x, z, y = data
    zb = np.round(z[:, 0] * 3) if dtype != "boolean" else z[:, 0] > 0
    xi = np.round(x * 3)
    plain = Linear2SLS().fit(treatment=xi, instrument=zb.astype(float), outcome=y)
    nullable = Linear2SLS().fit(
        treatment=pd.Series(xi).astype("Int64" if dtype != "Float64" else "Float64"),
        instrument=pd.DataFrame({"z": pd.array(zb, dtype=dtype)}),
        outcome=pd.Series(y, dtype="Float64"),
    )
    np.testing.assert_allclose(nullable.coef_, plain.coef_)
    np.testing.assert_allclose(nullable.predict(pd.Series([0.0, 1.0], dtype="Float64")),
                               plain.predict(np.array([0.0, 1.0])))


def test_bool_and_numeric_object_arrays_are_numbers(data):
    x, z, y = data
    ref = Linear2SLS().fit(treatment=x, instrument=(z[:, 0] > 0).astype(float), outcome=y)
    as_bool = Linear2SLS().fit(treatment=x, instrument=z[:, 0] > 0, outcome=y)
    as_obj = Linear2SLS().fit(treatment=x.astype(object), instrument=z[:, 0] > 0, outcome=y)
    np.testing.assert_allclose(as_bool.coef_, ref.coef_)
    np.testing.assert_allclose(as_obj.coef_, ref.coef_)


def test_more_instruments_than_rows_warns(data):
    x, _, y = data
    many = np.random.default_rng(3).normal(size=(12, 12))
    with pytest.warns(WeakInstrumentWarning, match="no residual degrees of freedom"):
        est = Linear2SLS().fit(treatment=x[:12], instrument=many, outcome=y[:12])
    assert np.isnan(est.first_stage_f_[0])


@pytest.mark.parametrize("est", list(ALL))
def test_weak_instrument_warns_for_every_estimator(est, data):
    x, _, y = data
    noise = np.random.default_rng(5).normal(size=60)
    with pytest.warns(WeakInstrumentWarning, match="weak instrument"):
        ALL[est]().fit(treatment=x, instrument=noise, outcome=y)


def test_sieve_discrete_instrument_explains_the_basis_shortfall(data):
    x, z, y = data
    with pytest.raises(ValueError, match="an instrument with L distinct values gives at most L"):
        Sieve2SLS().fit(treatment=x, instrument=z[:, 0] > 0, outcome=y)


# ------------------------------------------------------------------- hyperparameters
@pytest.mark.parametrize(
    "make, err, match",
    [
        (lambda: Sieve2SLS(tensor="yes"), TypeError, "tensor must be True, False or None"),
        (lambda: Sieve2SLS(alphas=[]), ValueError, "alphas must be a number >= 0 or a non-empty"),
        (lambda: Sieve2SLS(alphas=["a"]), TypeError, "alphas must be a number >= 0"),
        (lambda: Sieve2SLS(alphas=[1e-3, -1.0]), ValueError, r"alphas must be >= 0 and finite"),
        (lambda: Sieve2SLS(alphas=[np.nan]), ValueError, "alphas must be >= 0 and finite"),
        (lambda: Sieve2SLS(cv=1000), ValueError, "cv=1000 folds but only 60 rows"),
        (lambda: Sieve2SLS(alpha=None), TypeError, "alpha must be a number >= 0 or 'cv'"),
        (lambda: KIV(lambda1="a"), TypeError, "lambda1 must be a number > 0"),
        (lambda: KIV(lambda1=True), TypeError, "lambda1 must be a number > 0"),
        (lambda: KIV(lambda2=np.inf), ValueError, "lambda2 must be > 0 and finite"),
        (lambda: KIV(lengthscale_x=[1.0, 2.0]), ValueError,
         r"lengthscale_x has 2 values but \[treatment, covariates\] has 1 column"),
        (lambda: KIV(lengthscale_z=None), TypeError, "lengthscale_z must be a number > 0"),
        (lambda: KIV(lengthscale_z=-1.0), ValueError, "lengthscale_z must be > 0"),
        (lambda: KIV(center="yes"), TypeError, "center must be True or False"),
        (lambda: KIV(seed=-1), ValueError, "seed must be >= 0"),
        (lambda: KIV(seed=1.5), TypeError, "seed must be an integer"),
        (lambda: DFIV(covariate_weight_decay=np.nan), ValueError,
         "covariate_weight_decay must be a finite number >= 0"),
        (lambda: DFIV(covariate_weight_decay="a"), TypeError, "covariate_weight_decay"),
        (lambda: DFIV(treatment_hidden=3.5), TypeError,
         r"treatment_hidden \(layer widths\) must be a tuple of integers"),
        (lambda: DFIV(treatment_hidden=(16, 0)), ValueError, "treatment_hidden"),
        (lambda: DFIV(treatment_features=-1), ValueError, "treatment_features must be >= 1"),
        (lambda: DFIV(treatment_features=2.0), TypeError, "treatment_features must be an int"),
        (lambda: F2BMLD(zeta1=np.nan), ValueError, "zeta1 must be a finite number >= 0"),
        (lambda: F2BMLD(sigma2="a"), TypeError, "sigma2 must be a non-negative number"),
    ],
)
def test_more_bad_hyperparameters(make, err, match, data):
    x, z, y = data
    with pytest.raises(err, match=match):
        make().fit(treatment=x, instrument=z, outcome=y)


def test_numpy_integer_hyperparameters_work(data):
    """np.int64 counts once reached lax.scan's static length as a tracer (a JAX error)."""
    x, z, y = data
    DFIV(n_epoch=np.int64(1), stage1_iter=np.int64(1), covariate_iter=np.int64(1),
         stage2_iter=np.int64(1), treatment_hidden=(np.int64(4),)).fit(x, z, y)
    F2BMLD(outer_steps=np.int64(2), inner_steps=np.int64(1), n_particles_x=4, n_particles_z=4,
           sigma1=np.int64(0)).fit(x, z, y)
    Sieve2SLS(alpha=np.int64(0)).fit(x, z, y)


# -------------------------------------------------------------------------- divergence
def test_dfiv_divergence_warns_naming_learning_rate(data):
    x, z, y = data
    with pytest.warns(RuntimeWarning, match=r"DFIV training diverged.*lower learning_rate"):
        DFIV(n_epoch=10, learning_rate=1.0).fit(x, z, y)


def test_f2bmld_divergence_warns_naming_step_sizes(data):
    x, z, y = data
    with pytest.warns(RuntimeWarning, match=r"F2BMLD training diverged.*alpha=7.5.*gamma=30"):
        # split/center_outcome: the defaults this diverging setting was written for (both
        # stages now use all rows and the outcome is no longer centred by default)
        F2BMLD(outer_steps=100, inner_steps=2, n_particles_x=32, n_particles_z=32, gamma=30.0,
               alpha=7.5, beta=3.75, optimizer="adam", split=0.5,
               center_outcome=True).fit(x, z, y)


def test_f2bmld_non_finite_raises(data):
    x, z, y = data
    with pytest.raises(FloatingPointError, match="lower the step sizes"):
        F2BMLD(outer_steps=100, inner_steps=2, n_particles_x=32, n_particles_z=32,
               gamma=1e3, alpha=250.0, beta=125.0).fit(x, z, y)
