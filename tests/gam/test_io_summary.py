"""Save/load round trips (npz + JSON, no pickle), summary() and tidy()."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pandas as pd
import pytest

import flexcausal as fc
from flexcausal.gkrls import io_schema


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    n = 250
    df = pd.DataFrame(
        {
            "x1": rng.normal(size=n),
            "x2": rng.normal(size=n),
            "x3": rng.normal(size=n),
            "z": rng.uniform(size=n),
            "f": pd.Categorical(rng.choice(["lo", "mid", "hi"], size=n)),
            "g": rng.integers(0, 9, size=n),
        }
    )
    df["y"] = (np.sin(df.x1) + df.x2**2 / 2 + 0.3 * df.x3 + (df.f == "hi") * 0.5
               + np.cos(3 * df.z) + df.g * 0.05 + rng.normal(0, 0.4, n))
    return df


FORMULA = "y ~ x3 + f + krls(x1, x2, f) + re(g) + s(z, bs='cr', k=6)"


def test_round_trip_gives_identical_predictions(data, tmp_path):
    model = fc.gam(FORMULA, data)
    path = tmp_path / "model.fc"
    model.save(path)
    loaded = fc.load(path)
    new = data.iloc[::7].copy()
    pd.testing.assert_frame_equal(loaded.predict(new, se=True), model.predict(new, se=True),
                                  check_exact=True)
    pd.testing.assert_series_equal(loaded.coef_, model.coef_)
    pd.testing.assert_series_equal(loaded.sp_, model.sp_)
    pd.testing.assert_series_equal(loaded.edf_, model.edf_)
    assert loaded.reml_ == model.reml_ and loaded.scale_ == model.scale_
    pd.testing.assert_frame_equal(loaded.vcov("frequentist"), model.vcov("frequentist"))
    assert str(loaded.summary()) == str(model.summary())


def test_saved_file_is_npz_with_json_header_and_no_pickle(data, tmp_path):
    model = fc.gam("y ~ krls(x1, x2)", data)
    path = tmp_path / "m.npz"
    model.save(path)
    with zipfile.ZipFile(path) as zf:
        assert all(name.endswith(".npy") for name in zf.namelist())
    with np.load(path, allow_pickle=False) as npz:
        meta = json.loads(npz["__meta__"].tobytes())
    assert meta["flexcausal_version"] == fc.__version__
    assert meta["format"] == io_schema.FORMAT_VERSION


def test_version_stamp_is_checked(data, tmp_path, monkeypatch):
    model = fc.gam("y ~ x3", data)
    path = tmp_path / "m.npz"
    model.save(path)
    monkeypatch.setattr(io_schema, "FORMAT_VERSION", io_schema.FORMAT_VERSION + 1)
    with pytest.raises(ValueError, match=f"model format {io_schema.FORMAT_VERSION}"):
        fc.load(path)
    monkeypatch.undo()
    monkeypatch.setattr(io_schema, "__version__", "9.0.0")
    with pytest.raises(ValueError, match="incompatible"):
        fc.load(path)


def test_load_rejects_other_files(tmp_path):
    path = tmp_path / "x.npz"
    np.savez(path, a=np.arange(3))
    with pytest.raises(ValueError, match="not a flexcausal model"):
        fc.load(path)


def test_summary_reads_like_summary_gam(data):
    model = fc.gam(FORMULA, data)
    text = str(model.summary())
    for piece in ["Family: gaussian", "Parametric coefficients:", "Smooth terms:",
                  "krls(x1,x2,f)", "re(g)", "s(z)", "R-sq.(adj)", "-REML", "n = 250"]:
        assert piece in text
    summ = model.summary()
    par = summ.parametric
    # t statistics are estimate / SE(Vp)
    se = np.sqrt(np.diag(model.vcov()))[: len(par)]
    np.testing.assert_allclose(par["Std. Error"], se)
    np.testing.assert_allclose(par["t value"], par["Estimate"] / se)
    assert 0 < summ.r2_adj < summ.deviance_explained < 1


def test_tidy_has_one_row_per_coefficient_and_smooth(data):
    model = fc.gam(FORMULA, data)
    tidy = model.tidy()
    assert list(tidy.columns) == ["term", "type", "estimate", "std_error", "statistic",
                                  "p_value", "edf", "sp"]
    assert (tidy.type == "parametric").sum() == model.terms[0].n_coef
    smooth = tidy[tidy.type == "smooth"].set_index("term")
    np.testing.assert_allclose(smooth["edf"], model.edf_)
    np.testing.assert_allclose(smooth["sp"], model.sp_)


def test_linear_model_matches_ols(data):
    """No smooth: REML reduces to OLS with the unbiased residual variance."""
    model = fc.gam("y ~ x3 + f", data)
    X = np.column_stack([np.ones(len(data)), data.x3, data.f == "lo", data.f == "mid"])
    beta, rss, *_ = np.linalg.lstsq(X.astype(float), data.y, rcond=None)
    # formulaic orders factor levels alphabetically: hi is the base
    np.testing.assert_allclose(model.coef_.to_numpy(), beta, rtol=1e-10)
    assert model.scale_ == pytest.approx(rss[0] / (len(data) - 4), rel=1e-10)
    assert model.edf_total_ == pytest.approx(4.0)


def test_glm_round_trip_and_summary(data, tmp_path):
    df = data.assign(yb=(data.y > data.y.median()).astype(float))
    model = fc.gam("yb ~ x3 + krls(x1, x2)", df, family="binomial", link="probit")
    path = tmp_path / "glm.fc"
    model.save(path)
    loaded = fc.load(path)
    assert loaded.family_.link.name == "probit"
    pd.testing.assert_frame_equal(loaded.predict(df, type="response", se=True),
                                  model.predict(df, type="response", se=True), check_exact=True)
    text = str(model.summary())
    assert "Family: binomial" in text and "Link function: probit" in text
    assert "z value" in model.summary().parametric.columns
