"""Tensor product smooths (bases/tensor.py) against mgcv 1.8-41 and by construction.

Golden values: tests/golden/make_tensor_golden.R -> tensor_basis.json (smoothCon with
absorb.cons=TRUE, scale.penalty=TRUE; PredictMat at new points, some outside the data
range; Gaussian REML fits with gam()). cr margins are deterministic, so X, S and the
prediction matrix agree entry by entry (to the 15 digits the JSON carries).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from flexcausal.gkrls.bases.tensor import (
    CRMargin,
    TensorBasis,
    TensorSmooth,
    kronecker_penalties,
    make_margins,
    r_seq,
    row_kronecker,
)
from flexcausal.gkrls.fit import QRStats, fit_reml
from flexcausal.gkrls.reparam import PenaltyBlock
from flexcausal.gkrls.schema import Invalid
from flexcausal.gkrls.spline import cr_basis, cr_penalty, place_knots, sum_to_zero_householder

from .golden import golden

CASES = {  # name: (covariates, kind, k, bs)
    "te_default": (["x1", "x2"], "te", None, "cr"),
    "ti_default": (["x1", "x2"], "ti", None, "cr"),
    "te_k46": (["x1", "x2"], "te", [4, 6], "cr"),
    "te_3d": (["x1", "x2", "x3"], "te", 4, "cr"),
    "ti_3d": (["x1", "x2", "x3"], "ti", 4, "cr"),
    "te_tp": (["x1", "x2"], "te", 5, "tp"),
}


def _gold():
    g = golden("tensor_basis.json")
    data = {k: np.asarray(v, dtype=float) for k, v in g["data"].items()}
    new = {k: np.asarray(v, dtype=float) for k, v in g["newdata"].items()}
    return g, data, new


def _smooth(name, data):
    cols, kind, k, bs = CASES[name]
    if bs == "tp":
        pytest.importorskip("flexcausal.gkrls.bases.tprs")
    return TensorSmooth.fit([data[c] for c in cols], kind=kind, k=k, bs=bs)


@pytest.mark.parametrize("name", list(CASES))
def test_matches_mgcv_smoothcon_and_predictmat(name):
    g, data, new = _gold()
    case = g["cases"][name]
    sm = _smooth(name, data)
    cols = CASES[name][0]
    # tp margins come from bases/tprs (its own accuracy against mgcv: ~1e-10)
    tol = 1e-8
    X = np.asarray(case["X"])
    np.testing.assert_allclose(sm.design([data[c] for c in cols]), X, rtol=tol,
                               atol=tol * np.abs(X).max())
    assert len(sm.penalties) == len(case["S"]) == len(cols)
    for S, S_r in zip(sm.penalties, case["S"], strict=True):
        S_r = np.asarray(S_r)
        np.testing.assert_allclose(S, S_r, rtol=tol, atol=tol * np.abs(S_r).max())
    P = np.asarray(case["predict"])
    np.testing.assert_allclose(sm.design([new[c] for c in cols]), P, rtol=tol,
                               atol=tol * np.abs(P).max())
    np.testing.assert_allclose(sm.S_scale, case["S_scale"], rtol=tol)
    assert sm.penalty_ranks == case["rank"]
    assert sm.null_space_dim == case["null_space_dim"]
    assert sm.n_coef == X.shape[1]
    assert [xp is None for xp in sm.basis.XP] == case["XP_null"]


def test_cr_margins_are_exact():
    """Deterministic margins: agreement to round-off, not just to 1e-8."""
    g, data, new = _gold()
    for name in ("te_default", "ti_3d"):
        sm = _smooth(name, data)
        cols = CASES[name][0]
        X = np.asarray(g["cases"][name]["X"])
        assert np.abs(sm.design([data[c] for c in cols]) - X).max() < 1e-13 * np.abs(X).max()


# ---------------------------------------------------------------- construction
def test_row_kronecker_and_penalty_layout():
    rng = np.random.default_rng(0)
    A, B, C = rng.normal(size=(7, 3)), rng.normal(size=(7, 4)), rng.normal(size=(7, 2))
    T = row_kronecker([A, B, C])
    for i in range(7):
        np.testing.assert_allclose(T[i], np.kron(np.kron(A[i], B[i]), C[i]))
    Sa, Sb = np.diag([1.0, 2, 0]), np.diag([0.0, 0, 3, 4])
    S1, S2 = kronecker_penalties([Sa, Sb])
    np.testing.assert_array_equal(S1, np.kron(Sa, np.eye(4)))
    np.testing.assert_array_equal(S2, np.kron(np.eye(3), Sb))


def test_r_seq_is_r_arithmetic():
    x = r_seq(-0.3, 1.7, 6)
    assert x[0] == -0.3 and x[-1] == 1.7
    np.testing.assert_array_equal(x[1:-1], -0.3 + np.arange(1, 5) * ((1.7 - -0.3) / 5))


def test_te_structure():
    """Sum-to-zero columns; each penalty has its stated rank; the penalties' sum has the
    null space prod(null_j) - 1; marginal penalties are normalised to eigenvalue 1."""
    rng = np.random.default_rng(1)
    x1, x2 = rng.uniform(size=(2, 80))
    sm = TensorSmooth.fit([x1, x2], kind="te", k=[4, 5])
    X = sm.design([x1, x2])
    np.testing.assert_allclose(X.sum(axis=0), 0.0, atol=1e-12 * np.abs(X).sum())
    for S, r in zip(sm.penalties, sm.penalty_ranks, strict=True):
        ev = np.linalg.eigvalsh(S)
        assert np.sum(ev > 1e-10 * ev.max()) == r
    ev = np.linalg.eigvalsh(sum(sm.penalties))
    assert np.sum(ev < 1e-10 * ev.max()) == sm.null_space_dim == 3
    for S in sm.basis.marginal_penalties:
        assert np.linalg.eigvalsh(S)[-1] == pytest.approx(1.0, rel=1e-14)


def test_ti_margins_are_constrained_and_the_product_needs_no_constraint():
    rng = np.random.default_rng(2)
    x1, x2 = rng.uniform(size=(2, 90))
    sm = TensorSmooth.fit([x1, x2], kind="ti")
    assert sm.n_coef == 16 and np.array_equal(sm.Z, np.eye(16))
    for B in sm.basis.marginal_designs(np.column_stack([x1, x2])):
        np.testing.assert_allclose(B.sum(axis=0), 0.0, atol=1e-12 * np.abs(B).sum())
    # the product of constrained margins excludes the constant: identifiable next to an
    # intercept without a constraint of its own
    X = sm.design([x1, x2])
    assert np.linalg.matrix_rank(np.column_stack([np.ones(90), X])) == 17


def test_one_margin_te_is_mgcv_s_cr():
    """te(x) and s(x, bs="cr") differ only by the penalty normalisation, which
    scale.penalty undoes: the finished smooths agree."""
    x = np.random.default_rng(3).uniform(size=60)
    sm = TensorSmooth.fit([x], k=6)
    kn = place_knots(x, 6)
    B = cr_basis(x, kn)
    S = cr_penalty(kn)
    S = S / (np.abs(S).sum(axis=0).max() / np.abs(B).sum(axis=1).max() ** 2)
    Z = sum_to_zero_householder(B.sum(axis=0))
    np.testing.assert_allclose(sm.design([x]), B @ Z, atol=1e-14)
    np.testing.assert_allclose(sm.penalties[0], Z.T @ S @ Z, rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------- persistence
@pytest.mark.parametrize("name", ["te_default", "ti_3d", "te_tp"])
def test_state_round_trip(name):
    _, data, new = _gold()
    sm = _smooth(name, data)
    state, arrays = sm.state(), sm.arrays()
    state = json.loads(json.dumps(state))  # JSON-able
    assert all(isinstance(a, np.ndarray) and a.dtype == np.float64 for a in arrays.values())
    back = TensorSmooth.from_state(state, dict(arrays))
    cols = CASES[name][0]
    np.testing.assert_array_equal(back.design([new[c] for c in cols]),
                                  sm.design([new[c] for c in cols]))
    for a, b in zip(back.penalties, sm.penalties, strict=True):
        np.testing.assert_array_equal(a, b)
    assert back.penalty_ranks == sm.penalty_ranks
    assert back.null_space_dim == sm.null_space_dim
    basis = TensorBasis.from_state(json.loads(json.dumps(sm.basis.state())),
                                   sm.basis.arrays())
    assert basis.raw_ranks == sm.basis.raw_ranks and basis.n_raw == sm.basis.n_raw


def test_from_state_rejects_malformed_content():
    _, data, _ = _gold()
    sm = TensorSmooth.fit([data["x1"], data["x2"]])
    state, arrays = sm.state(), sm.arrays()

    def load(st=None, ar=None):
        return TensorSmooth.from_state(json.loads(json.dumps(st or state)), ar or arrays)

    bad = json.loads(json.dumps(state))
    bad["basis"]["margins"][0]["kind"] = "__import__('os')"
    with pytest.raises(Invalid, match="not one of"):
        load(bad)
    with pytest.raises(Invalid, match="shape"):
        load(ar={**arrays, "b_S0": np.eye(3)})
    with pytest.raises(Invalid, match="unexpected arrays|expected"):
        load(ar={**arrays, "b_extra": np.zeros(2)})
    with pytest.raises(Invalid, match="missing"):
        load(ar={k: v for k, v in arrays.items() if k != "b_m1_knots"})
    with pytest.raises(Invalid, match="dtype"):
        load(ar={**arrays, "Z": arrays["Z"].astype(np.float32)})
    bad = json.loads(json.dumps(state))
    bad["basis"]["ranks"] = [3, 99]
    with pytest.raises(Invalid, match="ranks"):
        load(bad)
    bad = json.loads(json.dumps(state))
    bad["kind"] = "ti"
    with pytest.raises(Invalid):
        load(bad)


def test_margin_checks():
    with pytest.raises(ValueError, match="k >= 3"):
        CRMargin(2)
    with pytest.raises(ValueError, match="once per margin"):
        make_margins(2, k=[4, 5, 6])
    with pytest.raises(ValueError, match="kind"):
        TensorSmooth.fit([np.arange(10.0), np.arange(10.0)], kind="tx")
    with pytest.raises(ValueError, match="unique"):
        TensorSmooth.fit([np.repeat([0.0, 1, 2, 3], 5), np.arange(20.0)])


# ------------------------------------------------- with the REML core (overlaps)
def _fit_model(name, data):
    """Intercept + the golden fit's smooths; penalty blocks per smooth (overlapping for
    te/ti); returns X and blocks."""
    x1, x2, x3 = data["x1"], data["x2"], data["x3"]
    if name == "te_default":
        smooths = [TensorSmooth.fit([x1, x2])]
    elif name == "te_3d":
        smooths = [TensorSmooth.fit([x1, x2, x3], k=4)]
    else:  # s(x1, cr, 5) + s(x2, cr, 5) + ti(x1, x2): one-margin te == s(cr)
        smooths = [TensorSmooth.fit([x1], k=5), TensorSmooth.fit([x2], k=5),
                   TensorSmooth.fit([x1, x2], kind="ti")]
    cols = {"te_default": [[x1, x2]], "te_3d": [[x1, x2, x3]],
            "ti_main": [[x1], [x2], [x1, x2]]}[name]
    parts, blocks, start = [np.ones((len(x1), 1))], [], 1
    for sm, c in zip(smooths, cols, strict=True):
        parts.append(sm.design(c))
        for S, r in zip(sm.penalties, sm.penalty_ranks, strict=True):
            blocks.append(PenaltyBlock(slice(start, start + sm.n_coef), S, r))
        start += sm.n_coef
    return np.column_stack(parts), blocks


@pytest.mark.parametrize("name", ["te_default", "te_3d", "ti_main"])
def test_gaussian_reml_matches_mgcv_gam(name):
    """At mgcv's sp the REML score and coefficients agree tightly; our own optimum is
    mgcv's (to mgcv's convergence tolerance) with a score no worse."""
    g, data, _ = _gold()
    ref = g["fits"][name]
    X, blocks = _fit_model(name, data)
    y = data["y"]
    R_aug = np.linalg.qr(np.column_stack([X, y]), mode="r")
    qrs = QRStats.from_augmented(R_aug, len(y), np.zeros(X.shape[1]), np.ones(1))
    at = fit_reml(qrs, blocks, sp=np.asarray(ref["sp"]))
    assert at.reml == pytest.approx(ref["reml"], rel=1e-10)
    np.testing.assert_allclose(at.beta, ref["coef"], rtol=1e-7, atol=1e-9)
    assert np.trace(at.post.F) == pytest.approx(ref["edf"], rel=1e-9)
    # (mgcv's sig2 is its outer iterate of log phi, converged only to its tolerance)
    assert at.scale == pytest.approx(ref["scale"], rel=1e-5)
    fit = fit_reml(qrs, blocks)
    assert fit.converged
    # mgcv stops on the flat approach to sp = infinity a little earlier (its score is
    # up to 2e-5 higher here); never lower than ours
    assert fit.reml <= ref["reml"] + 1e-9 * abs(ref["reml"])
    assert fit.reml == pytest.approx(ref["reml"], rel=1e-6)
    big = np.asarray(ref["sp"]) < 1e4  # sp mgcv stops early on the flat approach to infinity
    np.testing.assert_allclose(np.exp(fit.rho)[big], np.asarray(ref["sp"])[big], rtol=1e-2)
