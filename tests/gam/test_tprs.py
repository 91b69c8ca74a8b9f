"""Thin plate regression spline basis (flexcausal.gkrls.bases.tprs) against mgcv 1.8-41.

Golden values: tests/golden/make_tprs_golden.R -> tests/golden/tprs_basis.json
(smoothCon(s(..., bs="tp"), absorb.cons=TRUE, scale.penalty=TRUE) and PredictMat).
mgcv's eigenvectors come from a Lanczos iteration with arbitrary signs; given the signs
R recorded, X, S and PredictMat agree to 1e-8 (the residual, ~3e-9 at worst, is mgcv's
Lanczos tolerance; R's exact eigen() differs from it by as much). Without them,
sign-invariant penalized fits agree to 1e-8.
"""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from scipy.special import gamma

from flexcausal.gkrls.bases.r_compat import r_as_character, r_mean, unique_rows_r
from flexcausal.gkrls.bases.r_rng import RRandom, r_sample
from flexcausal.gkrls.bases.tprs import TPRS, default_k
from flexcausal.gkrls.bases.tps import eta_const, poly_powers

GOLDEN = json.loads((Path(__file__).resolve().parents[1] / "golden" / "tprs_basis.json")
                    .read_text())
CASES = GOLDEN["cases"]
TOL = 1e-8


def rel(a, ref) -> float:
    a, ref = np.asarray(a, float), np.asarray(ref, float)
    return float(np.abs(a - ref).max() / np.abs(ref).max())


@cache
def fitted(name: str, with_r_signs: bool) -> TPRS:
    c = CASES[name]
    signs = np.array(c["eigen"]["sign"], float) if with_r_signs and c["eigen"] else None
    return TPRS.fit(np.array(c["X"], float), k=c["k"], m=c["m"], eigvec_signs=signs)


# ------------------------------------------------------------------- golden: mgcv
def test_default_k_and_m_match_mgcv():
    for row in GOLDEN["defaults"]:
        assert default_k(row["d"]) == row["k"]
        assert poly_powers(row["d"], row["m"]).shape[0] == row["null_space_dim"]
    assert [default_k(d) for d in (1, 2, 3)] == [10, 30, 110]
    assert default_k(1, m=3) == CASES["d1_m3"]["k"] == 11


@pytest.mark.parametrize("name", list(CASES))
def test_basis_penalty_prediction_match_mgcv(name):
    c = CASES[name]
    b = fitted(name, True)
    assert (b.n_coef, b.penalty_rank, b.null_space_dim) == (
        c["n_coef"], c["rank"], c["null_space_dim"])
    assert b.m == c["m"] and b.knots.shape[0] == c["n_knots"]
    np.testing.assert_allclose(b.shift, c["shift"], rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(b.knots, c["knots"], rtol=1e-13, atol=1e-14)
    assert abs(b.penalty_scale / c["S_scale"] - 1) < TOL
    X = np.array(c["X"], float)
    assert rel(b.design(X)[c["basis_rows"]], c["basis"]) < TOL
    assert rel(b.penalty, c["penalty"]) < TOL
    assert rel(b.design(np.array(c["X_new"], float)), c["predict"]) < TOL


@pytest.mark.parametrize("name", list(CASES))
def test_penalized_fits_match_mgcv_whatever_the_signs(name):
    """X (X'X + lambda S)^-1 X'y does not depend on the parametrisation; only the
    penalty scale maS does, so lambda is mapped through the two S.scale values."""
    c = CASES[name]
    b = fitted(name, False)
    X, Xn, y = (np.array(c[key], float) for key in ("X", "X_new", "y"))
    A = np.column_stack([np.ones(len(X)), b.design(X)])
    An = np.column_stack([np.ones(len(Xn)), b.design(Xn)])
    for fit in c["fits"]:
        P = np.zeros((A.shape[1],) * 2)
        P[1:, 1:] = fit["lambda"] * b.penalty_scale / c["S_scale"] * b.penalty
        beta = np.linalg.solve(A.T @ A + P, A.T @ y)
        assert rel((A @ beta)[c["basis_rows"]], fit["fitted"]) < TOL
        assert rel(An @ beta, fit["predicted"]) < TOL


def test_symmetric_data_take_mgcvs_partial_constraint_branch():
    b = fitted("d1_symmetric", True)
    assert b.col_means[-1] == 0.0  # the linear column: mgcv reflects only the others
    assert np.all(b.col_means[:-1] != 0.0)


@pytest.mark.parametrize("name", ["d1_subsample", "d2_subsample"])
def test_knot_subsample_is_mgcvs(name):
    c = CASES[name]
    X = np.array(c["X"], float)
    xc = X - np.array([r_mean(col) for col in X.T])
    xu = unique_rows_r(xc)
    assert xu.shape[0] == c["n_unique"] > 2000
    np.testing.assert_array_equal(r_sample(xu.shape[0], 2000, 1) - 1, c["knot_sample"])
    assert len(fitted(name, False).knots) == 2000


# ------------------------------------------------------------------- golden: R itself
def test_r_rng_sample_and_runif():
    for row in GOLDEN["rng"]:
        got = r_sample(int(row["n"]), int(row["size"]), int(row["seed"]))
        np.testing.assert_array_equal(got, row["sample"])
    draws = RRandom(1).runif(10)
    np.testing.assert_array_equal(draws, [float(v) for v in GOLDEN["runif_seed1"]])


def test_r_as_character():
    ac = GOLDEN["as_character"]
    got = r_as_character([float(v) for v in ac["values"]])
    assert got == ac["strings"]


# ------------------------------------------------------------------- independent maths
def test_eta_constants_closed_forms():
    for m in range(2, 6):  # d=1: eta(r) = (-1)^m r^(2m-1) / (2 (2m-1)!)
        assert math.isclose(eta_const(1, m), (-1) ** m / (2 * math.factorial(2 * m - 1)),
                            rel_tol=1e-14)
    assert math.isclose(eta_const(2, 2), 1 / (8 * math.pi), rel_tol=1e-14)
    assert math.isclose(eta_const(3, 2), -1 / (8 * math.pi), rel_tol=1e-14)
    assert math.isclose(eta_const(3, 3), gamma(-1.5) / (64 * math.pi**1.5 * 2), rel_tol=1e-14)
    with pytest.raises(ValueError):
        eta_const(2, 1)


def _null_space(P: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh(P)
    return vecs[:, vals < 1e-10 * vals.max()]


def _monomial_sum(X: np.ndarray, degree: int, rng) -> np.ndarray:
    """A random polynomial of exactly this total degree."""
    out = np.full(len(X), rng.normal())
    for p in poly_powers(X.shape[1], degree + 1):
        out += rng.normal() * np.prod(X**p, axis=1)
    top = np.zeros(X.shape[1], dtype=int)
    top[0] = degree
    return out + np.prod(X**top, axis=1)


@pytest.mark.parametrize(("d", "m"), [(1, 1), (1, 2), (1, 3), (2, 2), (2, 3), (3, 2), (3, 3)])
def test_penalty_null_space_is_the_polynomials_of_degree_below_m(d, m):
    rng = np.random.default_rng(10 * d + m)
    X = rng.uniform(-1, 2, size=(160, d))
    Xn = rng.uniform(-1.5, 2.5, size=(20, d))
    M = math.comb(m + d - 1, d)
    b = TPRS.fit(X, k=M + 8, m=m)
    N = _null_space(b.penalty)
    assert N.shape[1] == b.null_space_dim == M - 1
    assert np.linalg.matrix_rank(b.penalty) == b.penalty_rank == 8
    assert np.linalg.eigvalsh(b.penalty).min() > -1e-10 * np.abs(b.penalty).max()
    # heavily penalized fit: [1, X_c] with a sqrt(lambda) S^(1/2) block, lambda huge
    # (S^(1/2) from the eigenvalues above rounding level: sqrt would magnify the noise)
    vals, vecs = np.linalg.eigh(b.penalty)
    vals[vals < 1e-12 * vals.max()] = 0.0
    root = np.sqrt(vals)[:, None] * vecs.T
    A = np.column_stack([np.ones(len(X)), b.design(X)])
    An = np.column_stack([np.ones(len(Xn)), b.design(Xn)])
    big = 1e6 * np.linalg.norm(A) / np.linalg.norm(root)  # sqrt(lambda)
    aug = np.vstack([A, np.column_stack([np.zeros(len(root)), big * root])])
    for degree, in_null in [(m - 1, True), (m, False)]:
        f = _monomial_sum(np.vstack([X, Xn]), degree, np.random.default_rng(degree))
        f, fn = f[: len(X)], f[len(X):]
        beta = np.linalg.lstsq(aug, np.r_[f, np.zeros(len(root))], rcond=None)[0]
        err = max(rel(A @ beta, f), rel(An @ beta, fn))
        assert (err < TOL) if in_null else (err > 1e-3), (degree, err)


@pytest.mark.parametrize("m", [2, 3])
def test_1d_penalty_is_the_integrated_squared_mth_derivative(m):
    """beta' S_raw beta = int f^(m)(x)^2 dx for f = raw basis . beta (Wood 2003, eq. 1);
    f^(m) is a polynomial of degree m-1 between knots and vanishes outside them."""
    rng = np.random.default_rng(m)
    x = np.sort(rng.uniform(0, 3, 40))
    b = TPRS.fit(x[:, None], k=9, m=m)
    knots = b.knots[:, 0]
    c = eta_const(1, m) * math.factorial(2 * m - 1) / math.factorial(m - 1)

    def deriv_m(t, delta):  # d^m/dt^m of sum_i delta_i c0 |t - x_i|^(2m-1)
        r = t[:, None] - knots[None, :]
        return (c * np.abs(r) ** (m - 1) * np.sign(r) ** m) @ delta

    nodes, weights = np.polynomial.legendre.leggauss(m + 1)
    for _ in range(3):
        beta = rng.normal(size=b.k)
        delta = b.UZ[: len(knots)] @ beta
        total = 0.0
        for lo, hi in zip(knots[:-1], knots[1:], strict=True):
            t = 0.5 * (hi - lo) * nodes + 0.5 * (hi + lo)
            total += 0.5 * (hi - lo) * weights @ deriv_m(t, delta) ** 2
        assert math.isclose(beta @ b.raw_penalty @ beta, total, rel_tol=1e-9)
        outside = np.array([knots[0] - 1.0, knots[-1] + 2.0])
        assert np.abs(deriv_m(outside, delta)).max() < 1e-9 * np.abs(delta).max()


def test_constrained_columns_sum_to_zero_and_raw_columns_end_with_the_monomials():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(120, 2))
    b = TPRS.fit(X, k=15)
    D = b.design(X)
    assert D.shape == (120, 14)
    assert np.abs(D.sum(axis=0)).max() < 1e-10 * np.abs(D).sum(axis=0).max()
    raw = b.raw_design(X)  # columns scaled to unit root mean square
    np.testing.assert_allclose((raw**2).mean(axis=0), 1.0, rtol=1e-12)
    xc = X - X.mean(axis=0)
    monomials = np.column_stack([np.ones(120), xc[:, 0], xc[:, 1]])
    np.testing.assert_allclose(raw[:, -3:] * np.sqrt((monomials**2).mean(axis=0)), monomials,
                               rtol=1e-12, atol=1e-14)


# ------------------------------------------------------------------- persistence
def test_state_round_trip_is_exact():
    b = fitted("d2_default", False)
    state = json.loads(json.dumps(b.state()))
    arrays = {key: np.array(v) for key, v in b.arrays().items()}
    c = TPRS.from_state(state, arrays)
    Xn = np.array(CASES["d2_default"]["X_new"], float)
    np.testing.assert_array_equal(c.design(Xn), b.design(Xn))
    np.testing.assert_array_equal(c.penalty, b.penalty)
    assert (c.n_coef, c.penalty_rank, c.null_space_dim) == (
        b.n_coef, b.penalty_rank, b.null_space_dim)


def _bad(state_edit=None, array_edit=None):
    b = fitted("d1_k5", False)
    state, arrays = dict(b.state()), {k: v.copy() for k, v in b.arrays().items()}
    if state_edit:
        state_edit(state)
    if array_edit:
        array_edit(arrays)
    return state, arrays


def _set(d, key, value):
    d[key] = value


def _poke(key, index, value):
    def edit(arrays):
        arrays[key][index] = value
    return edit


@pytest.mark.parametrize("edit", [
    lambda: _bad(lambda s: s.pop("seed")),
    lambda: _bad(lambda s: _set(s, "extra", 1)),
    lambda: _bad(lambda s: _set(s, "kind", "cr")),
    lambda: _bad(lambda s: _set(s, "k", True)),
    lambda: _bad(lambda s: _set(s, "k", 5.0)),
    lambda: _bad(lambda s: _set(s, "k", 2)),           # k < M + 1
    lambda: _bad(lambda s: _set(s, "k", 6)),           # shapes no longer fit
    lambda: _bad(lambda s: _set(s, "m", 0)),
    lambda: _bad(lambda s: _set(s, "d", 2)),
    lambda: _bad(lambda s: _set(s, "n_knots", 4)),     # fewer knots than k
    lambda: _bad(lambda s: _set(s, "n_knots", 10**9)),
    lambda: _bad(lambda s: _set(s, "m", "__import__('os')")),
    lambda: _bad(array_edit=lambda a: a.pop("UZ")),
    lambda: _bad(array_edit=lambda a: _set(a, "shift", a["shift"].astype(np.float32))),
    lambda: _bad(array_edit=lambda a: _set(a, "shift", np.array(["0.5"], dtype=object))),
    lambda: _bad(array_edit=lambda a: _set(a, "knots", a["knots"][:-1])),
    lambda: _bad(array_edit=lambda a: _set(a, "knots", [[0.0]] * 197)),
    lambda: _bad(array_edit=_poke("UZ", (0, 0), np.nan)),
    lambda: _bad(array_edit=_poke("UZ", (0, -1), 1.0)),  # block structure
    lambda: _bad(array_edit=_poke("UZ", (-1, -1), -1.0)),
    lambda: _bad(array_edit=_poke("raw_penalty", (0, 1), 123.0)),  # asymmetric
    lambda: _bad(array_edit=_poke("raw_penalty", (-1, -1), 1.0)),  # penalizes x
    lambda: _bad(array_edit=_poke("penalty_scale", 0, 0.0)),
    lambda: _bad(array_edit=_poke("penalty_scale", 0, np.inf)),
    lambda: _bad(array_edit=lambda a: _set(a, "col_means", np.zeros(5))),
    lambda: ("not a dict", {}),
])
def test_from_state_rejects_inconsistent_files(edit):
    state, arrays = edit()
    with pytest.raises(ValueError):
        TPRS.from_state(state, arrays)


# ------------------------------------------------------------------- input checks
def test_input_errors_and_mgcv_adjustments():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(50, 1))
    with pytest.raises(ValueError, match="unique"):
        TPRS.fit(np.repeat(x[:6], 5, axis=0), k=10)
    with pytest.raises(ValueError, match="non-finite"):
        TPRS.fit(np.r_[x, [[np.nan]]])
    with pytest.raises(ValueError, match="m must be"):
        TPRS.fit(x, m=0)
    with pytest.warns(UserWarning, match="increased"):
        assert TPRS.fit(x, k=2).k == 3
    X2 = rng.uniform(size=(60, 2))
    with pytest.warns(UserWarning, match="default m=2"):
        assert TPRS.fit(X2, m=1).m == 2
    b = TPRS.fit(x)
    with pytest.raises(ValueError, match="covariate column"):
        b.design(X2)
    with pytest.raises(ValueError, match="signs"):
        TPRS.fit(x, eigvec_signs=np.ones(3))
