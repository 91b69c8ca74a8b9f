"""fc.sketch_sensitivity: refits with fresh kernel sketches (gKRLS paper Sec. 3.1, E.1)."""

import warnings

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import flexcausal as fc
from flexcausal.sensitivity import as_estimates, resketch, resketched_formula


def simulate(n, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n),
                       "x3": rng.normal(size=n), "w": rng.uniform(0.5, 2.0, n)})
    df["y"] = np.sin(df.x1) + 0.5 * df.x1 * df.x2 + 0.5 * df.x3 + rng.normal(size=n)
    return df


@pytest.fixture(scope="module")
def fit():
    return fc.gam("y ~ x3 + krls(x1, x2)", simulate(300))


def test_small_model_five_sketches(fit):
    ss = fc.sketch_sensitivity(fit, ["x1", "x3"], n_sketches=5, seed=1)
    t = ss.table
    assert list(t.quantity) == ["x1", "x3"]
    assert list(t.columns) == ["quantity", "mean", "sd", "mean_se", "sd_over_se", "min",
                               "max", "n_sketches", "original"]
    assert (t.n_sketches == 5).all() and (t.sd > 0).all()
    assert np.allclose(t.sd_over_se, t.sd / t.mean_se)
    assert (t["min"] <= t["mean"]).all() and (t["mean"] <= t["max"]).all()
    # the sketch moves the AMEs far less than their standard errors (paper Supp. E.1)
    assert (t.sd_over_se < 0.5).all()
    me = fc.marginal_effects(fit, ["x1", "x3"])
    assert np.allclose(t.original, me.estimate)
    s = ss.sketches
    assert len(s) == 10 and s.sketch.nunique() == 5 and s.seed.nunique() == 5
    assert list(s.columns) == ["sketch", "seed", "quantity", "estimate", "std_error",
                               "ci_low", "ci_high"]
    fig = ss.plot()
    assert isinstance(fig, Figure) and len([a for a in fig.axes if a.get_visible()]) == 2
    assert "x1" in repr(ss)


def test_same_seed_same_sketches_and_one_sketch_rebuilt(fit):
    a = fc.sketch_sensitivity(fit, "x1", n_sketches=3, seed=11)
    b = fc.sketch_sensitivity(fit, "x1", n_sketches=3, seed=11)
    c = fc.sketch_sensitivity(fit, "x1", n_sketches=3, seed=12)
    pd.testing.assert_frame_equal(a.sketches, b.sketches)
    assert not np.allclose(a.sketches.estimate, c.sketches.estimate)
    again = fc.marginal_effects(resketch(fit, a.seeds[1]), ["x1"])
    assert again.estimate.iloc[0] == a.sketches.estimate.iloc[1]


def test_full_data_kernel_has_no_spread():
    df = simulate(90)
    full = fc.gam("y ~ x3 + krls(x1, x2, sketch='none')", df)
    with pytest.warns(UserWarning, match="sketch='none'"):
        ss = fc.sketch_sensitivity(full, ["x1"], n_sketches=3, seed=0)
    assert ss.table.sd.iloc[0] == pytest.approx(0.0, abs=1e-12)
    assert ss.table["mean"].iloc[0] == pytest.approx(ss.table.original.iloc[0], rel=1e-10)


def test_function_of_seed_and_custom_quantities():
    df = simulate(200, seed=2)
    seeds = []

    def fit_fn(seed):
        seeds.append(seed)
        return fc.gam("y ~ x3 + krls(x1, x2, seed=seed)", df)

    ss = fc.sketch_sensitivity(fit_fn, lambda m: fc.interactions(m, ["x1", "x2"]),
                               n_sketches=3, seed=5)
    assert seeds == ss.seeds and len(set(seeds)) == 3
    assert "AMIE x1:x2" in set(ss.table.quantity)
    assert "original" not in ss.table.columns
    series = fc.sketch_sensitivity(fit_fn, lambda m: m.coef_[["x3"]], n_sketches=2)
    assert series.table.quantity.tolist() == ["x3"] and series.table.mean_se.isna().all()


def test_resketch_keeps_options_weights_and_other_terms():
    df = simulate(200, seed=3)
    fit = fc.gam("y ~ x3 + krls(x1, size=30, bandwidth=2) + krls(x2, multiplier=7)", df,
                 weights="w")
    formula = resketched_formula(fit, 9)
    assert formula.startswith("y ~ x3 + krls(x1, size=30, bandwidth=2, seed=9) + "
                              "krls(x2, multiplier=7, seed=")
    refit = resketch(fit, 9)
    assert refit.terms[1].n_coef <= 30 and refit.terms[1].bandwidth == 2.0
    assert np.array_equal(refit.training_["weights"], fit.training_["weights"])
    assert refit.terms[1].seed == 9 and refit.terms[2].seed not in (0, 9)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not np.allclose(refit.fitted_values_, fit.fitted_values_)


def test_bad_input(fit):
    no_kernel = fc.gam("y ~ x1 + x3", simulate(100))
    with pytest.raises(ValueError, match=r"no krls\(\) term: nothing to re-sketch"):
        fc.sketch_sensitivity(no_kernel, ["x1"], n_sketches=2)
    with pytest.raises(ValueError, match=r"no krls\(\) term: nothing to re-sketch"):
        fc.sketch_sensitivity(lambda s: no_kernel, ["x1"], n_sketches=2)
    with pytest.raises(TypeError, match="quantities must be"):
        fc.sketch_sensitivity(fit, 3, n_sketches=2)
    with pytest.raises(ValueError, match="n_sketches must be >= 1"):
        fc.sketch_sensitivity(fit, ["x1"], n_sketches=0)
    with pytest.raises(TypeError, match="fit must be"):
        fc.sketch_sensitivity("y ~ krls(x1)", ["x1"])
    with pytest.raises(ValueError, match="'estimate' column"):
        as_estimates(pd.DataFrame({"value": [1.0]}))
    with pytest.raises(ValueError, match="more than once"):
        as_estimates(pd.DataFrame({"term": ["a", "a"], "estimate": [1.0, 2.0]}))
