"""Saving and loading likelihood-family models (ocat, nb, multinom): the file carries the
family parameters (ocat R and cut points, nb theta, multinom K), the terms of each linear
predictor and their formulas; a loaded model predicts (link and response, one column per
category), summarizes and gives the covariances of the original exactly. Tampered family
fields give one ValueError naming the field (the file is untrusted input)."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

import flexcausal as fc
from flexcausal.gkrls import io_schema
from flexcausal.gkrls.families import Multinom, NegBin, Ocat
from flexcausal.gkrls.model import load

from .family_fits import fitted_family

NAMES = ["ocat4", "nb", "multinom2", "multinom2_krls"]
MESSAGE = "not a valid flexcausal model file"


@pytest.fixture(scope="module", params=NAMES)
def round_trip(request, tmp_path_factory):
    case, fit, data, new = fitted_family(request.param)
    path = tmp_path_factory.mktemp("fam") / "m.npz"
    fit.save(path)
    return case, fit, load(path), data, new, path.read_bytes()


def _same(a, b):
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=0, atol=1e-12)
    else:
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=1e-12)


def test_loaded_model_predicts_the_same(round_trip):
    case, fit, back, data, new, _ = round_trip
    for frame in (new, data):
        for kind in ("link", "response"):
            a, b = fit.predict(frame, type=kind), back.predict(frame, type=kind)
            assert type(a) is type(b)
            _same(a, b)
    prob = back.predict(new, type="response")
    ref = np.asarray(case["predict_response"], dtype=float)
    if ref.ndim == 2:  # one column per category, as R
        assert list(prob.columns) == list(fit.predict(new, type="response").columns)
        assert prob.shape == ref.shape
    np.testing.assert_allclose(np.asarray(prob, dtype=float), ref, atol=1e-6)
    if fit.family_.n_lp == 1:  # standard errors of the single linear predictor
        _same(back.predict(new, se=True), fit.predict(new, se=True))


def test_loaded_model_has_the_same_statistics(round_trip):
    _, fit, back, _, _, _ = round_trip
    for kind in ("bayes", "frequentist"):
        _same(back.vcov(kind), fit.vcov(kind))
    pd.testing.assert_series_equal(back.coef_, fit.coef_)
    pd.testing.assert_series_equal(back.sp_, fit.sp_)
    pd.testing.assert_series_equal(back.edf_, fit.edf_)
    assert back.reml_ == fit.reml_ and back.deviance_ == fit.deviance_
    np.testing.assert_array_equal(back.theta_, fit.theta_)
    np.testing.assert_array_equal(back.family_.theta, fit.family_.theta)
    assert back.lp_sizes_ == fit.lp_sizes_
    assert back.formula == fit.formula
    assert [t.label for t in back.terms] == [t.label for t in fit.terms]
    assert back.family_.categories() == fit.family_.categories()
    assert str(back.summary()) == str(fit.summary())
    pd.testing.assert_frame_equal(back.tidy(), fit.tidy())


def test_family_parameters_are_restored(round_trip):
    case, fit, back, _, _, _ = round_trip
    fam = back.family_
    assert type(fam) is type(fit.family_) and repr(fam) == repr(fit.family_)
    params = case.get("family_params") or {}
    if isinstance(fam, Ocat):
        assert fam.R == case["family_args"]["R"] and not fam.theta_fixed
        np.testing.assert_allclose(fam.cut_points(), params["cut_points"], atol=1e-6)
    elif isinstance(fam, NegBin):
        assert not fam.theta_fixed
        assert back.theta_[0] == pytest.approx(params["theta"], rel=1e-5)
    else:
        assert isinstance(fam, Multinom) and fam.K == case["family_args"]["K"]
        assert len(back.lp_sizes_) == fam.K


def test_loaded_model_gives_the_same_effects(round_trip):
    _, fit, back, data, _, _ = round_trip
    var = next(v for v in ("z", "x", "x1") if v in data.columns)
    a = fc.marginal_effects(fit, var, data=data)
    b = fc.marginal_effects(back, var, data=data)
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=0, atol=1e-12)


def test_loaded_model_saves_again_identically(round_trip, tmp_path):
    _, fit, back, _, new, _ = round_trip
    back.save(tmp_path / "again.npz")
    again = load(tmp_path / "again.npz")
    _same(again.predict(new, type="response"), fit.predict(new, type="response"))
    assert str(again.summary()) == str(fit.summary())


def test_header_carries_the_family(round_trip):
    _, fit, _, _, _, blob = round_trip
    meta = _meta(blob)
    assert meta["format"] == io_schema.FORMAT_VERSION == 3
    assert meta["family"] == fit.family_.name
    assert meta["lp_sizes"] == fit.lp_sizes_
    state = meta["family_state"]
    if fit.family_.name == "ocat":
        assert state == {"R": 4, "theta": list(fit.family_.theta), "theta_fixed": False}
    elif fit.family_.name == "nb":
        assert state == {"theta": list(fit.family_.theta), "theta_fixed": False}
    else:
        assert state == {"K": 2}


def test_fixed_theta_is_kept(tmp_path):
    """nb(theta = 3): the loaded family keeps theta fixed (a refit would not estimate it)."""
    _, _, data, new = fitted_family("nb")
    fit = fc.gam("y ~ x", data, family=NegBin(theta=3.0))
    fit.save(tmp_path / "m.npz")
    back = load(tmp_path / "m.npz")
    assert back.family_.theta_fixed and back.theta_[0] == pytest.approx(3.0)
    _same(back.predict(new, type="response"), fit.predict(new, type="response"))


# ------------------------------------------------------------------ tampered files
def _arrays(blob: bytes) -> dict:
    with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def _meta(blob: bytes) -> dict:
    return json.loads(_arrays(blob)["__meta__"].tobytes())


def _with_meta(blob: bytes, edit) -> bytes:
    arrays = _arrays(blob)
    meta = json.loads(arrays["__meta__"].tobytes())
    edit(meta)
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _state(key, value):
    return lambda m: m["family_state"].__setitem__(key, value)


TAMPER = {
    # name: (case, edit, the field named in the error)
    "wrong K": ("multinom2", _state("K", 3), "family_state.K"),
    "K zero": ("multinom2", _state("K", 0), "family_state.K"),
    "K as float": ("multinom2", _state("K", 2.0), "family_state.K"),
    "theta too short": ("ocat4", lambda m: m["family_state"]["theta"].pop(),
                        "family_state.theta: must have 2 entries"),
    "theta too long": ("nb", lambda m: m["family_state"]["theta"].append(0.5),
                       "family_state.theta: must have 1 entries"),
    "R does not match theta": ("ocat4", _state("R", 5), "family_state.theta"),
    "NaN theta": ("nb", lambda m: m["family_state"]["theta"].__setitem__(0, float("nan")),
                  "family_state.theta[0]: must be finite"),
    "infinite cut point": ("ocat4",
                           lambda m: m["family_state"]["theta"].__setitem__(1, float("inf")),
                           "family_state.theta[1]: must be finite"),
    "huge theta": ("nb", lambda m: m["family_state"]["theta"].__setitem__(0, 1e6),
                   "family_state.theta[0]"),
    "theta as text": ("ocat4", _state("theta", "0.1, 0.2"), "family_state.theta"),
    "theta_fixed as text": ("nb", _state("theta_fixed", "no"), "family_state.theta_fixed"),
    "unknown family": ("nb", lambda m: m.update(family="evil"), "header family"),
    "family changed": ("ocat4", lambda m: m.update(family="multinom", link="identity"),
                       "family_state"),
    "unknown family key": ("nb", _state("__class__", "os.system"),
                           "unknown key(s) ['__class__']"),
    "family_state missing": ("multinom2", lambda m: m.pop("family_state"),
                             "missing key(s) ['family_state']"),
    "lp_sizes not adding up": ("multinom2", lambda m: m.update(lp_sizes=[2, 1]),
                               "lp_sizes"),
    "lp_sizes for a one-predictor family": ("ocat4", lambda m: m.update(lp_sizes=[1, 1]),
                                            "lp_sizes"),
    "formula list too long": ("multinom2", lambda m: m["formula"].append("~ x1"),
                              "formula"),
    "second predictor without its parametric part": (
        "multinom2", lambda m: m["terms"].insert(2, m["terms"].pop(3)), "terms[2].kind"),
}


@pytest.mark.parametrize("case", sorted(TAMPER))
def test_tampered_family_field_is_a_value_error_naming_it(case, tmp_path):
    name, edit, field = TAMPER[case]
    _, fit, _, _ = fitted_family(name)
    fit.save(tmp_path / "m.npz")
    path = tmp_path / "bad.npz"
    path.write_bytes(_with_meta((tmp_path / "m.npz").read_bytes(), edit))
    with pytest.raises(ValueError, match=MESSAGE) as info:
        load(path)
    assert field in str(info.value)
    assert info.value.__cause__ is not None


def test_older_format_says_to_refit(tmp_path):
    _, fit, _, _ = fitted_family("ocat4")
    fit.save(tmp_path / "m.npz")
    path = tmp_path / "old.npz"
    path.write_bytes(_with_meta((tmp_path / "m.npz").read_bytes(),
                                lambda m: m.update(format=2)))
    with pytest.raises(ValueError, match="reads model format 3; files of older formats "
                                         "cannot be read: refit"):
        load(path)
