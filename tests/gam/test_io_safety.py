"""``fc.load`` treats files as untrusted: every malformed or tampered file gives one
ValueError ("not a valid flexcausal model", chained to the cause) and no code runs."""

from __future__ import annotations

import io as _io
import json
import pickle
import zipfile

import numpy as np
import pandas as pd
import pytest

import flexcausal as fc
from flexcausal.gkrls import safe_eval

MESSAGE = "not a valid flexcausal model file"
FORMULA = "y ~ x3 + f + I(x3**2) + np.log(x4) + krls(x1, x2) + re(g) + s(z, bs='cr', k=5)"


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    n = 120
    df = pd.DataFrame({
        "x1": rng.normal(size=n), "x2": rng.normal(size=n), "x3": rng.normal(size=n),
        "x4": rng.uniform(0.5, 2.0, size=n), "z": rng.uniform(size=n),
        "f": pd.Categorical(rng.choice(["lo", "mid", "hi"], size=n)),
        "g": rng.integers(0, 5, size=n),
    })
    df["y"] = np.sin(df.x1) + 0.3 * df.x3 + (df.f == "hi") + rng.normal(0, 0.3, n)
    return df


@pytest.fixture(scope="module")
def saved(data, tmp_path_factory):
    model = fc.gam(FORMULA, data)
    path = tmp_path_factory.mktemp("io") / "model.npz"
    model.save(path)
    return model, path.read_bytes()


# ------------------------------------------------------------------ tampering tools
def read_arrays(blob: bytes) -> dict:
    with np.load(_io.BytesIO(blob), allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def write_arrays(arrays: dict) -> bytes:
    buf = _io.BytesIO()
    np.savez(buf, **arrays)  # np.savez writes object arrays with pickle, as an attacker could
    return buf.getvalue()


def get_meta(arrays: dict) -> dict:
    return json.loads(arrays["__meta__"].tobytes())


def put_meta(arrays: dict, meta) -> dict:
    text = meta if isinstance(meta, (str, bytes)) else json.dumps(meta)
    raw = text.encode() if isinstance(text, str) else text
    return {**arrays, "__meta__": np.frombuffer(raw, dtype=np.uint8)}


def edit_meta(func):
    def tamper(blob):
        arrays = read_arrays(blob)
        meta = get_meta(arrays)
        func(meta)  # edits in place
        return write_arrays(put_meta(arrays, meta))
    return tamper


def edit_arrays(func):
    def tamper(blob):
        arrays = read_arrays(blob)
        func(arrays)
        return write_arrays(arrays)
    return tamper


def flip_bit_in_member(member: str):
    """Flip one bit in the middle of ``member``'s compressed bytes."""
    def tamper(blob):
        with zipfile.ZipFile(_io.BytesIO(blob)) as zf:
            info = zf.getinfo(member)
        raw = bytearray(blob)
        name_len = int.from_bytes(raw[info.header_offset + 26:info.header_offset + 28], "little")
        extra_len = int.from_bytes(raw[info.header_offset + 28:info.header_offset + 30], "little")
        start = info.header_offset + 30 + name_len + extra_len
        raw[start + info.compress_size // 2] ^= 0x10
        return bytes(raw)
    return tamper


def zip_with(members: dict) -> bytes:
    buf = _io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, payload in members.items():
            zf.writestr(name, payload)
    return buf.getvalue()


def _npy_bytes(shape, dtype, payload) -> bytes:
    buf = _io.BytesIO()
    np.lib.format.write_array_header_1_0(  # writes the magic string too
        buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    buf.write(payload)
    return buf.getvalue()


def term_index(meta, kind):
    return next(i for i, t in enumerate(meta["terms"]) if t["kind"] == kind)


def set_term_state(kind, key, value):
    def func(meta):
        meta["terms"][term_index(meta, kind)]["state"][key] = value
    return func


def set_basis_state(kind, key, value):
    def func(meta):
        meta["terms"][term_index(meta, kind)]["state"]["basis"][key] = value
    return func


def replace_first_numeric_factor(tree):
    def func(meta):
        factors = meta["terms"][0]["state"]["factors"]
        k = next(i for i, f in enumerate(factors) if f["kind"] == "numeric")
        factors[k]["expr"] = tree
    return func


def old_layout_parametric(meta):
    names = meta["terms"][0]["state"]["names"]
    meta["terms"][0]["state"] = {
        "rhs": "x3 + I(open('PWNED_BY_FORMULA', 'w').close() or x3)",
        "levels": {}, "names": names,
    }


def deep_json(_blob):
    return write_arrays({"__meta__": np.frombuffer(b"[" * 100_000 + b"]" * 100_000,
                                                   dtype=np.uint8)})


def duplicate_key(blob):
    arrays = read_arrays(blob)
    text = arrays["__meta__"].tobytes().decode()
    return write_arrays(put_meta(arrays, '{"format": 1, ' + text[1:]))


def coef_as(dtype):
    def func(arrays):
        arrays["coef"] = arrays["coef"].astype(dtype)
    return func


def object_coef(arrays):
    arrays["coef"] = np.array([object()] + [1.0] * (arrays["coef"].size - 1), dtype=object)


def pickle_in_extra_array(arrays):
    arrays["evil"] = np.array([{"__reduce__": "os.system"}], dtype=object)


def set_array(key, value):
    def func(arrays):
        arrays[key] = value(arrays[key]) if callable(value) else value
    return func


def krls_key(meta_blob, suffix):
    meta = get_meta(read_arrays(meta_blob))
    return f"t{term_index(meta, 'krls')}_{suffix}"


def lying_member_size(blob):
    """coef's .npy header claims 10**9 floats but carries a few bytes."""
    arrays = read_arrays(blob)
    members = {f"{k}.npy": _npy_bytes(v.shape, v.dtype.str, v.tobytes()) for k, v in
               arrays.items()}
    members["coef.npy"] = _npy_bytes((10**9,), "<f8", b"\0" * 64)
    return zip_with(members)


def declare_size(member: str, size: int):
    """Rewrite ``member``'s uncompressed size in the central directory (a zip bomb's lie)."""
    def tamper(blob):
        raw = bytearray(blob)
        pos = raw.find(b"PK\x01\x02")
        while pos >= 0:
            name_len = int.from_bytes(raw[pos + 28:pos + 30], "little")
            if raw[pos + 46:pos + 46 + name_len].decode() == member:
                raw[pos + 24:pos + 28] = size.to_bytes(4, "little")
            pos = raw.find(b"PK\x01\x02", pos + 4)
        return bytes(raw)
    return tamper


def member_named(name):
    def tamper(blob):
        arrays = read_arrays(blob)
        members = {f"{k}.npy": _npy_bytes(v.shape, v.dtype.str, v.tobytes())
                   for k, v in arrays.items()}
        members[name] = b"payload"
        return zip_with(members)
    return tamper


CASES = {
    # ---- the container
    "empty file": (lambda b: b"", "not a zip file"),
    "truncated to half": (lambda b: b[: len(b) // 2], "not a zip file"),
    "truncated tail": (lambda b: b[:-10], "not a zip file"),
    "bit flip in header": (flip_bit_in_member("__meta__.npy"), ""),
    "bit flip in coef": (flip_bit_in_member("coef.npy"), ""),
    "bit flip in Vp": (flip_bit_in_member("Vp.npy"), ""),
    "text file": (lambda b: b"y ~ x\nhello", "not a zip file"),
    "pickle file": (lambda b: pickle.dumps({"coef": [1.0]}), "not a zip file"),
    "plain npy file": (lambda b: _npy_bytes((3,), "<f8", b"\0" * 24), "not a zip file"),
    "empty zip": (lambda b: zip_with({}), "archive is empty"),
    "zip with a text member": (member_named("evil.txt"), "unexpected archive member"),
    "zip with path traversal": (member_named("../evil.npy"), "unexpected archive member"),
    "npy header lies about size": (lying_member_size, "does not match its size"),
    "zip declares a huge member": (declare_size("Vp.npy", 2**32 - 1), "implausible sizes"),
    # ---- arrays
    "no header array": (edit_arrays(lambda a: a.pop("__meta__")), "no '__meta__' header"),
    "missing array Vp": (edit_arrays(lambda a: a.pop("Vp")), "missing array(s) ['Vp']"),
    "extra array": (edit_arrays(lambda a: a.update(extra=np.zeros(3))),
                    "unexpected array(s) ['extra']"),
    "object array": (edit_arrays(object_coef), "object array"),
    "extra pickled array": (edit_arrays(pickle_in_extra_array), "object array"),
    "float32 coef": (edit_arrays(coef_as(np.float32)), "dtype float32"),
    "int64 coef": (edit_arrays(coef_as(np.int64)), "array 'coef' has dtype int64"),
    "string array": (edit_arrays(set_array("sp", np.array(["a"]))), "has dtype <U1"),
    "complex array": (edit_arrays(set_array("sp", lambda v: v.astype(complex))),
                      "has dtype complex128"),
    "3-d array": (edit_arrays(set_array("Vp", lambda v: v[None])), "3 dimensions"),
    "short coef": (edit_arrays(set_array("coef", lambda v: v[:-1])), "array 'coef' has shape"),
    "non-square Vp": (edit_arrays(set_array("Vp", lambda v: v[:, :-1])),
                      "array 'Vp' has shape"),
    "NaN in coef": (edit_arrays(set_array("coef", lambda v: np.where(np.arange(v.size) == 0,
                                                                     np.nan, v))),
                    "NaN or infinite"),
    "negative sp": (edit_arrays(set_array("sp", lambda v: -v)), "non-positive"),
    "header as floats": (edit_arrays(set_array("__meta__", lambda v: v.astype(float))),
                         "not bytes"),
    # ---- header: encoding and syntax
    "header not JSON": (lambda b: write_arrays(put_meta(read_arrays(b), "{not json")),
                        "not valid UTF-8 JSON"),
    "header not UTF-8": (lambda b: write_arrays(put_meta(read_arrays(b), b"\xff\xfe{")),
                         "not valid UTF-8 JSON"),
    "header is a list": (lambda b: write_arrays(put_meta(read_arrays(b), "[1, 2]")),
                         "not a JSON object"),
    "deeply nested header": (deep_json, "maximum recursion depth"),
    "duplicate key": (duplicate_key, "duplicate header key 'format'"),
    # ---- header: version
    "format version 99": (edit_meta(lambda m: m.update(format=99)), "model format 99"),
    "format as string": (edit_meta(lambda m: m.update(format="1")), "format: must be an int"),
    "format missing": (edit_meta(lambda m: m.pop("format")), "no 'format' version"),
    "major version 9": (edit_meta(lambda m: m.update(flexcausal_version="9.0.0")),
                        "incompatible"),
    "version garbage": (edit_meta(lambda m: m.update(flexcausal_version="__import__")),
                        "is not a version"),
    # ---- header: keys, types, values
    "unknown top-level key": (edit_meta(lambda m: m.update(__class__="os.system")),
                              "unknown key(s) ['__class__']"),
    "missing top-level key": (edit_meta(lambda m: m.pop("family")),
                              "missing key(s) ['family']"),
    "class not GAM": (edit_meta(lambda m: m.update({"class": "Popen"})), "class"),
    "unknown family": (edit_meta(lambda m: m.update(family="evil")), "family"),
    "link not of the family": (edit_meta(lambda m: m.update(link="logit")), "link"),
    "block_rows as string": (edit_meta(lambda m: m.update(block_rows="50000")),
                             "block_rows: must be an integer"),
    "block_rows zero": (edit_meta(lambda m: m.update(block_rows=0)), "block_rows"),
    "huge block_rows": (edit_meta(lambda m: m.update(block_rows=10**15)), "block_rows"),
    "huge integer literal": (edit_meta(lambda m: m.update(block_rows=10**100)), "digits"),
    "huge n_obs": (edit_meta(lambda m: m["scalars"].update(n_obs_=10**18)), "n_obs_"),
    "bool for an integer": (edit_meta(lambda m: m["scalars"].update(n_iter_=True)), "n_iter_"),
    "NaN scale": (edit_meta(lambda m: m["scalars"].update(scale_=float("nan"))), "scale_"),
    "negative scale": (edit_meta(lambda m: m["scalars"].update(scale_=-1.0)), "scale_"),
    "converged as string": (edit_meta(lambda m: m["scalars"].update(converged_="yes")),
                            "converged_"),
    "unknown scalar": (edit_meta(lambda m: m["scalars"].update(__dict__={})), "scalars"),
    "response not a name": (edit_meta(lambda m: m.update(response="y; import os")),
                            "response"),
    "offset column code": (edit_meta(lambda m: m.update(offset_columns=["__import__('os')"])),
                           "offset_columns"),
    "formula with control characters": (edit_meta(lambda m: m.update(formula="y ~ x\x1b[2J")),
                                        "control characters"),
    "coef_names changed": (edit_meta(lambda m: m["coef_names"].reverse()), "coef_names"),
    "sp_names changed": (edit_meta(lambda m: m.update(sp_names=["evil"])), "sp_names"),
    # ---- header: terms
    "terms not a list": (edit_meta(lambda m: m.update(terms={})), "terms"),
    "unknown term kind": (edit_meta(lambda m: m["terms"][1].update(kind="pickle")), "kind"),
    "parametric term not first": (edit_meta(lambda m: m["terms"].reverse()), "kind"),
    "unknown key in term state": (edit_meta(set_term_state("krls", "evil", 1)),
                                  "unknown key(s) ['evil']"),
    "bad sketch": (edit_meta(set_term_state("krls", "sketch", "os.system")), "sketch"),
    "bandwidth as string": (edit_meta(set_term_state("krls", "bandwidth", "1e9")), "bandwidth"),
    "krls columns code": (edit_meta(set_term_state("krls", "columns", ["x1)+os.system("])),
                          "not a column name"),
    "re levels repeated": (edit_meta(set_term_state("re", "levels", ["a", "a"])),
                           "not unique"),
    "re levels numbers": (edit_meta(set_term_state("re", "levels", [1, 2])),
                          "must be a string"),
    "spline k changed": (edit_meta(set_basis_state("smooth", "k", 6)), "knots"),
    "old parametric layout with code": (edit_meta(old_layout_parametric), "old layout"),
    "injected function in transform": (
        edit_meta(replace_first_numeric_factor(["call", "system", ["col", "x3"]])),
        "function not allowed"),
    "injected node in transform": (
        edit_meta(replace_first_numeric_factor(["attr", ["col", "np"], "__class__"])),
        "operation 'attr' not allowed"),
    "transform as Python source": (
        edit_meta(replace_first_numeric_factor("__import__('os').system('true')")),
        "malformed expression"),
    "huge constant in transform": (
        edit_meta(replace_first_numeric_factor(["pow", ["col", "x3"], ["num", 2**60]])),
        "out of range"),
    "deep transform tree": (
        edit_meta(replace_first_numeric_factor(
            json.loads("".join(['["neg", '] * 40) + '["col", "x3"]' + "]" * 40))),
        "deeper than"),
    "categorical levels tampered": (
        edit_meta(lambda m: next(f for f in m["terms"][0]["state"]["factors"]
                                 if f["kind"] == "categorical")["levels"].append("new")),
        "coding"),
    "column part out of range": (
        edit_meta(lambda m: m["terms"][0]["state"]["columns"][1].update(parts=[[99, 0]])),
        "bad part"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_tampered_file_is_one_value_error(saved, tmp_path, case, monkeypatch):
    tamper, match = CASES[case]
    monkeypatch.chdir(tmp_path)  # where injected code would leave its marker
    path = tmp_path / "tampered.npz"
    path.write_bytes(tamper(saved[1]))
    with pytest.raises(ValueError, match=MESSAGE) as info:
        fc.load(path)
    assert info.value.__cause__ is not None  # the cause is chained
    assert match in str(info.value)  # a literal piece of the reason
    assert not (tmp_path / "PWNED_BY_FORMULA").exists()


def test_tampered_array_shapes_in_kernel_term(saved, tmp_path):
    arrays = read_arrays(saved[1])
    key = krls_key(saved[1], "weights")
    arrays[key] = arrays[key][:, :-1]
    path = tmp_path / "m.npz"
    path.write_bytes(write_arrays(arrays))
    with pytest.raises(ValueError, match=MESSAGE):
        fc.load(path)


def test_clean_file_loads_and_predicts_identically(saved, data, tmp_path):
    model, blob = saved
    path = tmp_path / "m.npz"
    path.write_bytes(blob)
    loaded = fc.load(path)
    new = data.iloc[::5].copy()
    pd.testing.assert_frame_equal(loaded.predict(new, se=True), model.predict(new, se=True),
                                  check_exact=True)
    # also from an open binary file
    with open(path, "rb") as fh:
        assert fc.load(fh).coef_.equals(model.coef_)


def test_formula_text_is_never_evaluated_on_load(saved, data, tmp_path, monkeypatch):
    """The formula string is display-only: code in it does not run and changes nothing."""
    monkeypatch.chdir(tmp_path)
    arrays = read_arrays(saved[1])
    meta = get_meta(arrays)
    meta["formula"] = "y ~ I(open('PWNED_BY_FORMULA', 'w').close() or x3)"
    path = tmp_path / "m.npz"
    path.write_bytes(write_arrays(put_meta(arrays, meta)))
    loaded = fc.load(path)
    np.testing.assert_array_equal(loaded.predict(data), saved[0].predict(data))
    assert not (tmp_path / "PWNED_BY_FORMULA").exists()


def test_missing_file_is_not_reported_as_invalid(tmp_path):
    with pytest.raises(FileNotFoundError):
        fc.load(tmp_path / "nope.npz")


# ------------------------------------------------------------------ saving refuses
def test_save_refuses_transforms_outside_the_whitelist(data, tmp_path):
    model = fc.gam("y ~ np.sin(x3) + krls(x1, x2)", data)
    with pytest.raises(ValueError, match="cannot save this model.*np.sin"):
        model.save(tmp_path / "m.npz")
    assert not (tmp_path / "m.npz").exists()


@pytest.mark.parametrize("rhs", ["x3 + f", "0 + f", "f + f:x3", "C(f, contr.sum) * x3",
                                 "I(x3**2) + np.sqrt(x4) + np.abs(x1) + np.exp(-x2 / 2)",
                                 "{x4 ** -1}", "C(g) + x1:x2:x3"])
def test_parametric_structures_round_trip_exactly(data, tmp_path, rhs):
    model = fc.gam(f"y ~ {rhs}", data)
    model.save(tmp_path / "m.npz")
    loaded = fc.load(tmp_path / "m.npz")
    new = data.iloc[::3].copy()
    np.testing.assert_array_equal(loaded.predict(new), model.predict(new))
    assert loaded.terms[0].columns == model.terms[0].columns


# ------------------------------------------------------------------ the restricted evaluator
@pytest.mark.parametrize("text", [
    "__import__('os').system('true')", "x3.__class__", "x3[0]", "(lambda: 1)()",
    "np.sin(x3)", "os.system('true')", "'text'", "x3 if x3 else 1", "np.log(x3, x4)",
    "np.log(x=x3)", "f(x3)", "[x3]", "x3 @ x4", "x3 // 2", "x3 < 1", "True", "np.linalg.inv(x3)",
    "getattr(np, 'log')(x3)", "{1: 2}", "*x3",
])
def test_safe_eval_refuses_anything_else(data, text):
    with pytest.raises(ValueError):
        safe_eval.safe_eval(text, data)


@pytest.mark.parametrize("tree", [
    ["call", "system", ["col", "x3"]], ["getattr", ["col", "x3"], "__class__"],
    ["num", "1"], ["num", True], ["num", 2**60], ["col", 3], "x3", [], {"op": "col"},
])
def test_evaluating_a_tampered_tree_raises_value_error(data, tree):
    with pytest.raises(ValueError):
        safe_eval.evaluate(tree, data)


def test_safe_eval_matches_numpy_and_stays_cheap(data):
    x3, x4 = data.x3.to_numpy(), data.x4.to_numpy()
    np.testing.assert_array_equal(safe_eval.safe_eval("I(x3 ** 2) - np.log(x4) / 2", data),
                                  x3**2 - np.log(x4) / 2)
    np.testing.assert_array_equal(safe_eval.safe_eval("abs(-x3)", data), np.abs(x3))
    # constants are float64: no huge integer arithmetic, no hang
    big = safe_eval.evaluate(["pow", ["num", 2], ["pow", ["num", 2], ["num", 10**6]]], data)
    assert np.all(np.isinf(big))
    with pytest.raises(ValueError, match="no column"):
        safe_eval.safe_eval("nope + 1", data)
    with pytest.raises(ValueError, match="must be numeric"):
        safe_eval.safe_eval("f * 2", data)


def test_a_loaded_model_saves_and_loads_again_identically(saved, data, tmp_path):
    model, blob = saved
    (tmp_path / "a.npz").write_bytes(blob)
    fc.load(tmp_path / "a.npz").save(tmp_path / "b.npz")
    again = fc.load(tmp_path / "b.npz")
    pd.testing.assert_frame_equal(again.predict(data, se=True), model.predict(data, se=True),
                                  check_exact=True)
