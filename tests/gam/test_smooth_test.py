"""mgcv smooth-term p-values (flexcausal.gkrls.smooth_test) against R golden values.

Golden values: tests/golden/smooth_test.json from tests/golden/make_smooth_test_golden.R
(R 4.2.2, mgcv 1.8-41): summary(fit)$s.table of several fits, direct mgcv:::testStat
calls, mgcv:::psum.chisq (Davies) and mgcv:::liu2.

Tolerances: statistics and Ref.df to 1e-6 relative (they agree to ~1e-12).  p-values to
1e-6 relative, i.e. in log space, which covers the tiny F / chi-square tail values (down
to 1e-293); values from Davies' algorithm are 0.5 minus a sum of terms, so they carry an
absolute round-off of ~1e-16 whatever their size, hence an absolute floor of 1e-14.  p-values
that mgcv reports as exactly 0 (Davies: statistic beyond the located range) must be 0.
"""

from __future__ import annotations

import numpy as np
import pytest

from flexcausal.gkrls.smooth_test import (
    _test_stat,
    davies,
    edf1_from_F,
    liu2,
    psum_chisq,
    re_test_inputs,
    smooth_test,
)

from .golden import golden

G = golden("smooth_test.json")
MODELS = {m["name"]: m for m in G["models"]}
RTOL = 1e-6


def assert_p(p: float, p_r: float) -> None:
    if p_r == 0:
        assert p == 0
    else:
        assert abs(p - p_r) <= RTOL * abs(p_r) + 1e-14, (p, p_r)


def assert_rel(a: float, b: float, rtol: float = RTOL) -> None:
    assert abs(a - b) <= rtol * abs(b), (a, b)


def mat(x, m: int | None = None) -> np.ndarray:
    a = np.atleast_2d(np.asarray(x, dtype=float))
    return a if m is None else a.reshape(-1, m)


def term_index(s: dict) -> np.ndarray:
    return np.arange(s["first"], s["last"] + 1)


def model_term(name: str, label: str):
    m = MODELS[name]
    s = next(s for s in m["smooths"] if s["label"] == label)
    return m, s, term_index(s)


def table_stat(s: dict) -> float:
    tab = s["s_table"]
    return tab["F"] if "F" in tab else tab["Chi.sq"]


def re_inputs(m: dict, s: dict, R=None, Vp=None, Ve=None, S=None):
    others = [term_index(m["smooths"][o]) for o in np.atleast_1d(s["random_others"]).astype(int)]
    return re_test_inputs(mat(m["R"]) if R is None else R, mat(m["Vp"]) if Vp is None else Vp,
                          mat(m["Ve"]) if Ve is None else Ve, m["sig2"],
                          mat(m["S"]) if S is None else S, term_index(s), others)


SMOOTHS = [(m["name"], s["label"]) for m in G["models"] for s in m["smooths"]]
SMOOTH_KIND = [c for c in SMOOTHS if model_term(*c)[1]["kind"] == "smooth"]
RE_KIND = [c for c in SMOOTHS if model_term(*c)[1]["kind"] == "re"]


# ----------------------------------------------------------------------------- s.table
@pytest.mark.parametrize("rows", ["R", "Xw"])
@pytest.mark.parametrize(("model", "label"), SMOOTH_KIND)
def test_smooth_table_matches_summary_gam(model, label, rows):
    """testStat terms: columns of object$R, or sqrt(w) X_j over all rows, give s.table."""
    m, s, idx = model_term(model, label)
    X = mat(m["R"])[:, idx] if rows == "R" else mat(s["Xw"], idx.size)
    res = smooth_test(X, np.asarray(m["coefficients"])[idx], mat(m["Vp"])[np.ix_(idx, idx)],
                      s["edf1"], m["residual_df"], m["scale_estimated"])
    tab = s["s_table"]
    assert_rel(res.stat, table_stat(s))
    assert_rel(res.ref_df, tab["Ref.df"])
    assert_p(res.p_value, tab["p-value"])


@pytest.mark.parametrize(("model", "label"), RE_KIND)
def test_re_table_matches_summary_gam(model, label):
    """reTest terms (bs="re", and the shrinkage "cs" smooth) from the full-model inputs."""
    m, s, idx = model_term(model, label)
    Rm, Ve_j = re_inputs(m, s)
    res = smooth_test(Rm, np.asarray(m["coefficients"])[idx], Ve_j, None, m["df_residual"],
                      m["scale_estimated"], kind="re", scale=m["sig2"])
    tab = s["s_table"]
    assert_rel(res.stat, table_stat(s))
    assert res.ref_df == tab["Ref.df"]
    assert_p(res.p_value, tab["p-value"])


@pytest.mark.parametrize(("model", "label"), RE_KIND)
def test_re_test_inputs_match_recov(model, label):
    """Rm'Rm (Rm is unique up to row signs) and the Ve block equal mgcv:::recov's."""
    m, s, idx = model_term(model, label)
    Rm, Ve_j = re_inputs(m, s)
    Rm_r, Ve_r = mat(s["Rm"], idx.size), mat(s["Ve_term"], idx.size)
    np.testing.assert_allclose(Rm.T @ Rm, Rm_r.T @ Rm_r, rtol=0,
                               atol=1e-9 * np.abs(Rm_r.T @ Rm_r).max())
    np.testing.assert_allclose(Ve_j, Ve_r, rtol=0, atol=1e-9 * np.abs(Ve_r).max())


@pytest.mark.parametrize(("model", "label"), SMOOTHS)
def test_raw_test_output(model, label):
    """The raw testStat / reTest list (chi-square stat, pval, rank) of each smooth."""
    m, s, idx = model_term(model, label)
    beta = np.asarray(m["coefficients"])[idx]
    if s["kind"] == "smooth":
        rdf = m["residual_df"] if m["scale_estimated"] else -1.0
        stat, p, rank, _ = _test_stat(beta, mat(m["R"])[:, idx],
                                      mat(m["Vp"])[np.ix_(idx, idx)],
                                      min(idx.size, s["edf1"]), rdf)
    else:
        Rm, Ve_j = re_inputs(m, s)
        res = smooth_test(Rm, beta, Ve_j, None, m["df_residual"], m["scale_estimated"],
                          kind="re", scale=m["sig2"])
        rank, p = res.ref_df, res.p_value
        stat = res.stat * rank if m["scale_estimated"] else res.stat
    assert_rel(stat, s["test"]["stat"])
    assert_rel(rank, s["test"]["rank"])
    assert_p(p, s["test"]["pval"])


@pytest.mark.parametrize("i", range(len(G["teststat"])))
def test_teststat_direct_calls(i):
    """mgcv:::testStat on synthetic inputs: ranks < 1, integer, fractional, r.est-limited."""
    c = G["teststat"][i]
    beta = np.atleast_1d(np.asarray(c["p"], dtype=float))
    X, V = mat(c["X"], beta.size), mat(c["V"], beta.size)
    est = c["res_df"] > 0
    res = smooth_test(X, beta, V, c["rank"], c["res_df"], scale_estimated=est)
    assert_rel(res.stat * res.ref_df if est else res.stat, c["stat"])
    assert_rel(res.ref_df, c["ref_df"])
    assert_p(res.p_value, c["pval"])


def test_smooth_test_edf_capped_at_number_of_coefficients():
    c = next(c for c in G["teststat"] if c["rank"] == 5 and c["res_df"] < 0)
    beta = np.asarray(c["p"], dtype=float)
    X, V = mat(c["X"], beta.size), mat(c["V"], beta.size)
    assert smooth_test(X, beta, V, 7.3) == smooth_test(X, beta, V, 5.0)


# ----------------------------------------------------------------------------- edf1
@pytest.mark.parametrize("model", [m["name"] for m in G["models"] if "F" in m])
def test_edf1_from_F(model):
    m = MODELS[model]
    F = mat(m["F"])
    np.testing.assert_allclose(edf1_from_F(F), m["edf1"], rtol=0, atol=1e-12)
    for s in m["smooths"]:
        assert_rel(edf1_from_F(F)[term_index(s)].sum(), s["edf1"], 1e-12)
    # F = (X'WX + S)^{-1} X'WX from the recorded R factor and total penalty
    XtWX = mat(m["R"]).T @ mat(m["R"])
    F2 = np.linalg.solve(XtWX + mat(m["S"]), XtWX)
    np.testing.assert_allclose(edf1_from_F(F2), m["edf1"], rtol=0, atol=1e-6)


def test_edf1_from_F_rejects_non_square():
    with pytest.raises(ValueError, match="square"):
        edf1_from_F(np.zeros((2, 3)))


# ----------------------------------------------------------------------------- Davies / Liu
@pytest.mark.parametrize("i", range(len(G["davies"])))
def test_psum_chisq_matches_mgcv(i):
    c = G["davies"][i]
    lb, df = np.atleast_1d(c["lb"]), np.atleast_1d(c["df"])
    assert_p(psum_chisq(c["q"], lb, df), c["p"])
    res = davies(c["q"], lb, df)
    assert res.ifault == c["ifault"]
    tr, tr_r = np.asarray(res.trace), np.asarray(c["trace"])
    assert tr[1] == tr_r[1] and tr[2] == tr_r[2]  # integration terms and integrations
    np.testing.assert_allclose(tr[3:6], tr_r[3:6], rtol=1e-9)


def test_davies_exact_cases():
    # a single chi^2_1: Pr(chi^2_1 < 3.84146) = 0.95 (to Davies' accuracy 2e-5)
    assert abs(davies(3.841458820694124, [1.0]).prob - 0.95) < 2e-5
    # weights 2 chi^2_2: Pr(Q > q) = exp(-q / 4)
    for q in (0.5, 3.0, 10.0):
        assert abs(psum_chisq(q, [2.0], df=[2]) - np.exp(-q / 4)) < 2e-5
    # Q = 0 identically: Pr(Q < c) is 1 for c > 0, 0 otherwise
    assert davies(0.3, [0.0])[:2] == (1.0, 0) and davies(-0.3, [0.0])[:2] == (0.0, 0)
    assert davies(1.0, [1.0], nc=[-1.0]).ifault == 3


def test_psum_chisq_validation_and_liu_fallback():
    with pytest.raises(ValueError, match="positive integers"):
        psum_chisq(1.0, [1.0, 2.0], df=[1, 0])
    with pytest.raises(ValueError, match="non-zero"):
        psum_chisq(1.0, [0.0, 0.0])
    # lim too small for the main integration: ifault 1, Liu et al. used instead
    res = davies(3.0, [1.0, 0.5], lim=2)
    assert res.ifault == 1
    assert psum_chisq(3.0, [1.0, 0.5], nlim=2) == liu2(3.0, [1.0, 0.5])


@pytest.mark.parametrize("i", range(len(G["liu2"])))
def test_liu2_matches_mgcv(i):
    c = G["liu2"][i]
    assert_rel(liu2(c["q"], c["lb"], c["h"]), c["p"], 1e-9)
    assert_rel(liu2(c["q"], c["lb"], c["h"], lower_tail=True), c["p_lower"], 1e-9)


# ----------------------------------------------------------------------------- properties
@pytest.mark.parametrize(("model", "label"),
                         [("gaussian_huge", "s(x1)"), ("gaussian_huge", "s(x2)"),
                          ("poisson_huge", "s(x1)"), ("gaussian_re", "s(g)")])
def test_huge_effect_tiny_p(model, label):
    m, s, idx = model_term(model, label)
    beta = np.asarray(m["coefficients"])[idx]
    if s["kind"] == "smooth":
        res = smooth_test(mat(m["R"])[:, idx], beta, mat(m["Vp"])[np.ix_(idx, idx)], s["edf1"],
                          m["residual_df"], m["scale_estimated"])
    else:
        Rm, Ve_j = re_inputs(m, s)
        res = smooth_test(Rm, beta, Ve_j, None, m["df_residual"], m["scale_estimated"],
                          kind="re", scale=m["sig2"])
    assert res.p_value < 1e-10


@pytest.mark.parametrize("scale_estimated", [True, False])
def test_huge_effect_integer_rank_tail(scale_estimated):
    """Integer rank: the F / chi-square tail itself, far below 1e-10 and still positive."""
    m, s, idx = model_term("gaussian_cr", "s(x2)")
    beta = 4 * np.asarray(m["coefficients"])[idx]  # 16 x the statistic
    res = smooth_test(mat(m["R"])[:, idx], beta, mat(m["Vp"])[np.ix_(idx, idx)], 4.0,
                      m["residual_df"], scale_estimated)
    assert 0 < res.p_value < 1e-10
    assert res.ref_df == 4.0


def _random_reparam(rng, k):
    """A well-conditioned dense A, and an upper-triangular one with positive diagonal."""
    Q, _ = np.linalg.qr(rng.normal(size=(k, k)))
    dense = Q @ np.diag(np.exp(rng.uniform(-1, 1, k))) @ np.linalg.qr(rng.normal(size=(k, k)))[0]
    tri = np.triu(rng.normal(size=(k, k)) * 0.5) + np.diag(np.exp(rng.uniform(-1, 1, k)))
    return dense, tri


@pytest.mark.parametrize(("model", "label"), SMOOTH_KIND)
def test_smooth_reparametrization_invariance(model, label):
    """X_j -> X_j A, beta -> A^-1 beta, V -> A^-1 V A^-T.

    Exactly invariant: Ref.df, the p-value (mgcv averages the p-values of the two
    statistics T_r, T_r^(1) that differ by the sign of the k-th eigenvector, so the pair is
    invariant) and, for a triangular A (whose R factor is R A), the statistic itself.  For a
    dense A mgcv's reported statistic is T_r or T_r^(1) depending on eigenvector signs.
    """
    m, s, idx = model_term(model, label)
    X = mat(m["R"])[:, idx]
    beta = np.asarray(m["coefficients"])[idx]
    V = mat(m["Vp"])[np.ix_(idx, idx)]
    rdf = m["residual_df"] if m["scale_estimated"] else -1.0
    rank = min(idx.size, s["edf1"])
    d0, p0, r0, d10 = _test_stat(beta, X, V, rank, rdf)
    dense, tri = _random_reparam(np.random.default_rng(len(model) * 100 + idx[0]), idx.size)
    for A in (dense, tri):
        Ai = np.linalg.inv(A)
        d, p, r, d1 = _test_stat(Ai @ beta, X @ A, Ai @ V @ Ai.T, rank, rdf)
        assert r == r0
        if p0 == 0:
            assert p == 0
        else:
            assert abs(p - p0) <= 1e-8 * p0 + 1e-13
        np.testing.assert_allclose(sorted([d, d1]), sorted([d0, d10]), rtol=1e-8)
    Ti = np.linalg.inv(tri)
    d, *_ = _test_stat(Ti @ beta, X @ tri, Ti @ V @ Ti.T, rank, rdf)
    assert_rel(d, d0, 1e-8)


def test_smooth_statistic_invariant_for_integer_rank():
    m, s, idx = model_term("gaussian_cr", "s(x2)")
    X, beta = mat(m["R"])[:, idx], np.asarray(m["coefficients"])[idx]
    V = mat(m["Vp"])[np.ix_(idx, idx)]
    base = smooth_test(X, beta, V, 4.0, m["residual_df"], True)
    A, _ = _random_reparam(np.random.default_rng(3), idx.size)
    Ai = np.linalg.inv(A)
    res = smooth_test(X @ A, Ai @ beta, Ai @ V @ Ai.T, 4.0, m["residual_df"], True)
    assert_rel(res.stat, base.stat, 1e-9)
    assert_rel(res.p_value, base.p_value, 1e-9)


@pytest.mark.parametrize(("model", "label"), RE_KIND)
def test_re_reparametrization_invariance(model, label):
    """reTest: with the whole model reparametrised in the term, stat and p are invariant."""
    m, s, idx = model_term(model, label)
    base = smooth_test(*re_inputs(m, s)[:1], np.asarray(m["coefficients"])[idx],
                       re_inputs(m, s)[1], None, m["df_residual"], m["scale_estimated"],
                       kind="re", scale=m["sig2"])
    A, _ = _random_reparam(np.random.default_rng(7), idx.size)
    p = len(m["coefficients"])
    T = np.eye(p)  # new coefficients = T beta
    T[np.ix_(idx, idx)] = np.linalg.inv(A)
    Ti = np.linalg.inv(T)
    R, Vp, Ve, S = (mat(m[k]) for k in ("R", "Vp", "Ve", "S"))
    Rm, Ve_j = re_inputs(m, s, R=R @ Ti, Vp=T @ Vp @ T.T, Ve=T @ Ve @ T.T, S=Ti.T @ S @ Ti)
    res = smooth_test(Rm, (T @ np.asarray(m["coefficients"]))[idx], Ve_j, None,
                      m["df_residual"], m["scale_estimated"], kind="re", scale=m["sig2"])
    assert_rel(res.stat, base.stat, 1e-8)
    assert res.ref_df == base.ref_df
    assert abs(res.p_value - base.p_value) <= 1e-8 * base.p_value + 1e-13


# ----------------------------------------------------------------------------- API checks
def test_smooth_test_input_errors():
    X, b, V = np.eye(3), np.ones(3), np.eye(3)
    with pytest.raises(ValueError, match="shapes"):
        smooth_test(X, np.ones(2), V, 2.0)
    with pytest.raises(ValueError, match="finite"):
        smooth_test(X, np.array([1.0, np.nan, 1.0]), V, 2.0)
    with pytest.raises(ValueError, match="edf_j"):
        smooth_test(X, b, V)
    with pytest.raises(ValueError, match="scale"):
        smooth_test(X, b, V, kind="re")
    with pytest.raises(ValueError, match="kind"):
        smooth_test(X, b, V, 2.0, kind="other")
    with pytest.raises(ValueError, match="random_terms"):
        re_test_inputs(np.eye(3), V, V, 1.0, V, [0, 1], [[1]])


def test_known_scale_ignores_res_df():
    c = next(c for c in G["teststat"] if c["res_df"] < 0 and c["rank"] == 2.5)
    beta = np.asarray(c["p"], dtype=float)
    X, V = mat(c["X"], beta.size), mat(c["V"], beta.size)
    assert smooth_test(X, beta, V, 2.5, res_df=12.0) == smooth_test(X, beta, V, 2.5)
