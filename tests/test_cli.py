"""The demo command end to end, the simulation designs, and the plotting helpers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import flexcausal as fc
from flexcausal import cli, plotting
from flexcausal.datasets import hierarchical, three_hills, three_hills_truth

DEMO_FIGURES = [
    "three_hills_surface.png",
    "three_hills_slice_x1.png",
    "hierarchical_fit_vs_truth.png",
    "effects_x1.png",
    "newman_fig4.png",
]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# ----------------------------------------------------------------------------- CLI
def test_demo_writes_figures(tmp_path, capsys):
    assert cli.main(["demo", "--out", tmp_path, "--n", "500"]) == 0
    for name in DEMO_FIGURES:
        path = tmp_path / name
        assert path.is_file(), name
        assert path.stat().st_size > 5_000, name
        assert path.read_bytes()[:8] == PNG_MAGIC
    out = capsys.readouterr().out
    assert "RMSE vs truth" in out
    assert "fit time" in out
    assert "re(g)" in out and "krls(x1,x2)" in out


def test_demo_sections_registry():
    assert "gkrls" in cli.DEMO_SECTIONS
    for section in cli.DEMO_SECTIONS.values():
        assert isinstance(section, cli.DemoSection) and callable(section.run)


def test_demo_bad_arguments(capsys):
    with pytest.raises(SystemExit):
        cli.main(["demo", "--n", "10"])
    with pytest.raises(SystemExit):
        cli.main(["demo", "--only", "nonexistent"])
    assert cli.main([]) == 2
    capsys.readouterr()


# ----------------------------------------------------------------------------- datasets
def test_three_hills_shape_and_truth():
    df = three_hills(300, seed=1)
    assert list(df.columns) == ["y", "x1", "x2", "truth"]
    assert df.shape == (300, 4)
    assert df[["x1", "x2"]].min().min() >= 0
    assert df[["x1", "x2"]].max().max() <= 2 * np.pi
    np.testing.assert_allclose(df["truth"], np.sin(df["x1"]) * np.cos(df["x2"]))
    np.testing.assert_allclose(df["truth"], three_hills_truth(df["x1"], df["x2"]))
    # the noise is N(0, 0.5^2): loose moment checks
    resid = df["y"] - df["truth"]
    assert abs(resid.mean()) < 0.15 and 0.4 < resid.std() < 0.6


def test_three_hills_noiseless_and_seeds():
    clean = three_hills(50, noise_sd=0, seed=3)
    np.testing.assert_array_equal(clean["y"], clean["truth"])
    pd.testing.assert_frame_equal(three_hills(50, seed=3), three_hills(50, seed=3))
    assert not three_hills(50, seed=3)["x1"].equals(three_hills(50, seed=4)["x1"])
    gen = np.random.default_rng(3)
    assert three_hills(10, seed=gen).shape == (10, 4)


def test_hierarchical_shape_groups_and_truth():
    df = hierarchical(400, n_groups=20, seed=2)
    assert list(df.columns) == ["y", "x1", "x2", "x3", "g", "truth"]
    assert df.shape == (400, 6)
    assert df["g"].nunique() == 20 and df["g"].value_counts().eq(20).all()
    assert all(isinstance(v, str) for v in df["g"])
    # truth = 0.5 x3 + sin(x1) + 0.5 x2^2 + u_g with one u per group
    u = df["truth"] - (0.5 * df["x3"] + np.sin(df["x1"]) + 0.5 * df["x2"] ** 2)
    assert u.groupby(df["g"]).std().max() < 1e-12
    assert u.groupby(df["g"]).first().std() > 0.1
    pd.testing.assert_frame_equal(hierarchical(100, seed=5), hierarchical(100, seed=5))
    assert not hierarchical(100, seed=5)["y"].equals(hierarchical(100, seed=6)["y"])


def test_hierarchical_truth_is_noiseless_mean():
    # averaging y - truth over many rows must give the noise mean 0 and sd 1
    df = hierarchical(20_000, n_groups=5, seed=0)
    resid = df["y"] - df["truth"]
    assert abs(resid.mean()) < 0.03 and abs(resid.std() - 1) < 0.03
    assert fc.datasets.hierarchical is hierarchical


@pytest.mark.parametrize(
    "call, err",
    [
        (lambda: three_hills(0), ValueError),
        (lambda: three_hills(10.5), TypeError),
        (lambda: three_hills(10, noise_sd=-1), ValueError),
        (lambda: hierarchical(10, n_groups=0), ValueError),
        (lambda: hierarchical(10, seed="a"), TypeError),
    ],
)
def test_dataset_bad_input(call, err):
    with pytest.raises(err):
        call()


# ----------------------------------------------------------------------------- plotting
@pytest.fixture(scope="module")
def mixed_fit():
    df = hierarchical(300, n_groups=6, seed=1)
    return df, fc.gam("y ~ x3 + krls(x1, x2) + re(g)", data=df)


def test_reference_row_median_and_mode():
    df = pd.DataFrame({"a": [1.0, 2.0, 10.0], "g": ["u", "v", "v"]})
    row = plotting.reference_row(df)
    assert row.shape == (1, 2) and row["a"].iloc[0] == 2.0 and row["g"].iloc[0] == "v"


def test_slice_band_matches_predict(mixed_fit):
    df, fit = mixed_fit
    fig = plotting.plot_surface_slice(fit, df, "x2", n_grid=25)
    ax = fig.axes[0]
    line = ax.get_lines()[0]
    x, y = line.get_data()
    grid = plotting.reference_row(df, ["x1", "x3", "g"])
    grid = grid.loc[grid.index.repeat(25)].reset_index(drop=True).assign(x2=x)
    np.testing.assert_allclose(y, fit.predict(grid), rtol=1e-10)
    band = ax.collections[0].get_paths()[0].vertices
    pred = fit.predict(grid, se=True)
    assert band[:, 1].max() == pytest.approx((pred["fit"] + 1.959964 * pred["se"]).max(), rel=1e-5)


def test_plot_errors(mixed_fit):
    df, fit = mixed_fit
    with pytest.raises(TypeError, match="numeric"):
        plotting.plot_surface_slice(fit, df, "g")
    with pytest.raises(ValueError, match="level"):
        plotting.plot_surface_slice(fit, df, "x1", level=1.5)
    with pytest.raises(ValueError, match="length"):
        plotting.plot_fit_vs_truth([1.0, 2.0], [1.0])
