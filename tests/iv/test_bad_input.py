"""Bad input gets a clear ValueError / TypeError / warning naming the culprit."""

from __future__ import annotations

import numpy as np
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
