"""fc.plot_smooth: the drawn curve, band and contours against independent computations."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.contour import ContourSet  # noqa: E402

import flexcausal as fc  # noqa: E402
from flexcausal.gkrls.blocks import design_block  # noqa: E402


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    n = 300
    df = pd.DataFrame({"x1": rng.uniform(0, 3, n), "x2": rng.uniform(-1, 1, n),
                       "x3": rng.normal(size=n), "z": rng.uniform(0.5, 2.0, n),
                       "g": rng.choice(["a", "b", "c"], n),
                       "grp": rng.choice([f"c{k}" for k in range(12)], n)})
    df["y"] = (np.sin(2 * df.x1) + df.x2**2 + 0.3 * df.x3 + rng.normal(0, 0.3, n))
    df["yz"] = df.z * np.cos(df.x1) + rng.normal(0, 0.3, n)
    df["yg"] = np.where(df.g == "b", np.sin(2 * df.x1), df.x1 / 3) + rng.normal(0, 0.3, n)
    return df


@pytest.fixture(scope="module")
def additive(data):
    return fc.gam("y ~ x3 + s(x1, bs='cr') + s(x2, bs='cr', k=6) + re(grp)", data)


def _line(ax, gid):
    return next(line for line in ax.lines if line.get_gid() == gid)


def _dense_term(fit, label, frame):
    """X_j on ``frame`` from the full model matrix (all terms, as predict builds it) and
    the term's f = X_j b_j and dense sqrt(diag(X_j Vp_jj X_j'))."""
    encodings, _ = fit.encode(frame)
    X = design_block(fit.terms, encodings, slice(0, len(frame)))
    sl = fit.term_slices_[label]
    Xj = X[:, sl]
    Vjj = fit.Vp_[sl, sl]
    f = Xj @ fit.coef_.to_numpy()[sl]
    se = np.sqrt(np.diag(Xj @ Vjj @ Xj.T))
    return f, se


def test_1d_curve_and_band_equal_the_term_contribution(data, additive):
    ax = fc.plot_smooth(additive, "s(x1)", n_grid=60)
    line = _line(ax, "fit")
    grid = np.asarray(line.get_xdata())
    assert grid.size == 60
    assert grid[0] == data.x1.min() and grid[-1] == data.x1.max()
    frame = pd.DataFrame({"x1": grid, "x2": 0.3, "x3": -1.0, "grp": "c3"})
    f, se = _dense_term(additive, "s(x1)", frame)
    np.testing.assert_allclose(line.get_ydata(), f, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(_line(ax, "se_upper").get_ydata(), f + 2 * se, rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_allclose(_line(ax, "se_lower").get_ydata(), f - 2 * se, rtol=1e-10,
                               atol=1e-12)
    # other terms are irrelevant: the curve moves with the prediction up to a constant
    pred = additive.predict(frame)
    np.testing.assert_allclose(line.get_ydata() - line.get_ydata()[0], pred - pred[0],
                               atol=1e-10)
    # the rug holds the training values; labels carry mgcv's edf
    np.testing.assert_array_equal(np.sort(_line(ax, "rug").get_xdata()), np.sort(data.x1))
    assert ax.get_ylabel() == f"s(x1,{additive.edf_['s(x1)']:.2f})"
    assert ax.get_xlabel() == "x1"


def test_se_mult_and_column_shorthand(additive):
    ax = fc.plot_smooth(additive, "x2", se_mult=1.5, n_grid=20)
    x = np.asarray(_line(ax, "fit").get_xdata())
    f, se = _dense_term(additive, "s(x2)", pd.DataFrame({"x1": 1.0, "x2": x, "x3": 0.0,
                                                          "grp": "c0"}))
    np.testing.assert_allclose(_line(ax, "se_upper").get_ydata(), f + 1.5 * se, rtol=1e-10)
    ax = fc.plot_smooth(additive, "s( x2 )", se=False, rug=False)
    assert [line.get_gid() for line in ax.lines] == ["fit"]


def test_numeric_by_is_set_to_one(data):
    fit = fc.gam("yz ~ s(x1, by=z, bs='cr')", data)
    ax = fc.plot_smooth(fit, "s(x1):z", n_grid=40)
    x = np.asarray(_line(ax, "fit").get_xdata())
    f, se = _dense_term(fit, "s(x1):z", pd.DataFrame({"x1": x, "z": 1.0}))
    np.testing.assert_allclose(_line(ax, "fit").get_ydata(), f, rtol=1e-10, atol=1e-12)
    on = fit.predict(pd.DataFrame({"x1": x, "z": 1.0}))
    off = fit.predict(pd.DataFrame({"x1": x, "z": 0.0}))
    np.testing.assert_allclose(_line(ax, "fit").get_ydata(), on - off, atol=1e-10)
    np.testing.assert_allclose(_line(ax, "se_upper").get_ydata(), f + 2 * se, rtol=1e-10)


def test_factor_by_level(data):
    fit = fc.gam("yg ~ g + s(x1, by=g, bs='cr')", data)
    ax = fc.plot_smooth(fit, "s(x1):gb", n_grid=30)
    x = np.asarray(_line(ax, "fit").get_xdata())
    frame = pd.DataFrame({"x1": x, "g": "b"})
    f, se = _dense_term(fit, "s(x1):gb", frame)
    np.testing.assert_allclose(_line(ax, "fit").get_ydata(), f, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(_line(ax, "se_lower").get_ydata(), f - 2 * se, rtol=1e-10)
    pred = fit.predict(frame)
    np.testing.assert_allclose(f - f[0], pred - pred[0], atol=1e-10)
    assert _line(ax, "rug").get_xdata().size == int((data.g == "b").sum())
    with pytest.raises(ValueError, match="several terms"):
        fc.plot_smooth(fit, "x1")


def test_1d_krls(data):
    fit = fc.gam("y ~ krls(x1)", data)
    ax = fc.plot_smooth(fit, "krls(x1)", n_grid=25)
    x = np.asarray(_line(ax, "fit").get_xdata())
    f, se = _dense_term(fit, "krls(x1)", pd.DataFrame({"x1": x}))
    np.testing.assert_allclose(_line(ax, "fit").get_ydata(), f, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(_line(ax, "se_upper").get_ydata(), f + 2 * se, rtol=1e-10)
    pred = fit.predict(pd.DataFrame({"x1": x}))
    np.testing.assert_allclose(f, pred - fit.coef_["(Intercept)"], atol=1e-10)


def test_2d_contours(data):
    fit = fc.gam("y ~ x3 + krls(x1, x2)", data)
    ax = fc.plot_smooth(fit, "krls(x1,x2)", too_far=0)
    sets = [c for c in ax.collections if isinstance(c, ContourSet)]
    assert len(sets) == 3  # fit, fit - 2 se, fit + 2 se
    g1 = np.linspace(data.x1.min(), data.x1.max(), 40)
    g2 = np.linspace(data.x2.min(), data.x2.max(), 40)
    XX, YY = np.meshgrid(g1, g2)
    f, _ = _dense_term(fit, "krls(x1,x2)", pd.DataFrame({"x1": XX.ravel(), "x2": YY.ravel(),
                                                          "x3": 0.0}))
    fit_set = sets[0]
    assert fit_set.zmin == pytest.approx(f.min(), rel=1e-10)
    assert fit_set.zmax == pytest.approx(f.max(), rel=1e-10)
    # points on each drawn contour line lie where the term's contribution equals its level
    # (up to the linear interpolation between grid points)
    checked = 0
    for level, path in zip(fit_set.levels, fit_set.get_paths(), strict=True):
        if len(path.vertices) == 0:
            continue
        v = path.vertices[:: max(1, len(path.vertices) // 20)]
        on_line, _ = _dense_term(fit, "krls(x1,x2)",
                                 pd.DataFrame({"x1": v[:, 0], "x2": v[:, 1], "x3": 0.0}))
        np.testing.assert_allclose(on_line, level, atol=0.02 * (f.max() - f.min()))
        checked += 1
    assert checked >= 4
    assert ax.get_xlabel() == "x1" and ax.get_ylabel() == "x2"
    assert ax.get_title().startswith("krls(x1,x2,")
    points = _line(ax, "data")
    assert points.get_xdata().size == len(data)
    ax = fc.plot_smooth(fit, "krls(x1,x2)", se=False, filled=True)
    assert sum(isinstance(c, ContourSet) for c in ax.collections) == 2  # filled + lines


def test_draws_into_given_axes(additive):
    from matplotlib.figure import Figure

    fig = Figure()
    axes = fig.subplots(1, 2)
    out = fc.plot_smooth(additive, "s(x1)", ax=axes[1])
    assert out is axes[1] and len(axes[0].lines) == 0


def test_bad_terms(data, additive):
    with pytest.raises(ValueError, match=r"no smooth term 's\(x9\)'.*\['s\(x1\)', 's\(x2\)'\]"):
        fc.plot_smooth(additive, "s(x9)")
    with pytest.raises(ValueError, match=r"'x3' is in the parametric part.*s\(x1\)"):
        fc.plot_smooth(additive, "x3")
    with pytest.raises(ValueError, match="parametric part of the model"):
        fc.plot_smooth(additive, "parametric")
    with pytest.raises(ValueError, match=r"re\(grp\) is a random effect.*s\(x2\)"):
        fc.plot_smooth(additive, "re(grp)")
    with pytest.raises(TypeError, match="label"):
        fc.plot_smooth(additive, 1)
    fit3 = fc.gam("y ~ krls(x1, x2, x3)", data)
    with pytest.raises(ValueError, match=r"krls\(x1,x2,x3\) is a smooth of 3 variables.*"
                                         r"\['krls\(x1,x2,x3\)'\]"):
        fc.plot_smooth(fit3, "krls(x1,x2,x3)")
    linear = fc.gam("y ~ x1 + x2", data)
    with pytest.raises(ValueError, match="no smooth terms"):
        fc.plot_smooth(linear, "s(x1)")


def test_loaded_model_needs_data(tmp_path, data, additive):
    path = tmp_path / "m.npz"
    additive.save(path)
    loaded = fc.load(path)
    with pytest.raises(ValueError, match="data="):
        fc.plot_smooth(loaded, "s(x1)")
    a = fc.plot_smooth(loaded, "s(x1)", data=data, n_grid=15)
    b = fc.plot_smooth(additive, "s(x1)", n_grid=15)
    np.testing.assert_allclose(_line(a, "fit").get_ydata(), _line(b, "fit").get_ydata(),
                               rtol=1e-12)


@pytest.mark.parametrize("formula, label", [("y ~ s(x1, x2)", "s(x1,x2)"),
                                            ("y ~ te(x1, x2)", "te(x1,x2)")])
def test_2d_spline_smooths(data, formula, label):
    """Thin plate and tensor smooths (skipped where this version lacks them)."""
    try:
        fit = fc.gam(formula, data)
    except ValueError as exc:
        pytest.skip(f"{label} not available: {exc}")
    ax = fc.plot_smooth(fit, label, too_far=0, n_grid_2d=25)
    sets = [c for c in ax.collections if isinstance(c, ContourSet)]
    assert len(sets) == 3
    g1 = np.linspace(data.x1.min(), data.x1.max(), 25)
    g2 = np.linspace(data.x2.min(), data.x2.max(), 25)
    XX, YY = np.meshgrid(g1, g2)
    f, _ = _dense_term(fit, label, pd.DataFrame({"x1": XX.ravel(), "x2": YY.ravel()}))
    pred = fit.predict(pd.DataFrame({"x1": XX.ravel(), "x2": YY.ravel()}))
    np.testing.assert_allclose(f, pred - fit.coef_["(Intercept)"], atol=1e-10)
    assert sets[0].zmin == pytest.approx(f.min(), rel=1e-10)
    assert sets[0].zmax == pytest.approx(f.max(), rel=1e-10)
