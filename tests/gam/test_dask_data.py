"""gKRLS on Dask data with Dask's default (threaded) scheduler: parquet paths, and bad
input — unknown divisions, a partition missing a column, a factor level in one
partition only, empty partitions — each giving the in-memory result or a clear error;
a worker that dies on every try gives a clear RuntimeError, never a partial result.
"""

from __future__ import annotations

import numpy as np
import pytest

import flexcausal as fc

dask = pytest.importorskip("dask")
dd = pytest.importorskip("dask.dataframe")

from .test_dask_cluster import assert_same_fit, make_frame  # noqa: E402


@pytest.fixture(scope="module")
def df():
    return make_frame(n=500, seed=11)


def _from_parts(parts, meta, verify_meta=True):
    return dd.from_delayed([dask.delayed(p) for p in parts], meta=meta,
                           verify_meta=verify_meta)


def test_parquet_path_fit_predict_and_effects(df, tmp_path):
    path = tmp_path / "data.parquet"
    dd.from_pandas(df, npartitions=4).to_parquet(path)
    a = fc.gam("yb ~ z + g + krls(x1, x2)", df, family="binomial")
    b = fc.gam("yb ~ z + g + krls(x1, x2)", str(path), family="binomial")
    assert_same_fit(a, b)
    assert 3 < b.n_passes_ < 80  # metadata + rows passes, then PIRLS/LAML passes
    pred = b.predict(str(path), type="response")
    np.testing.assert_allclose(pred.compute().to_numpy(), a.predict(df, type="response"),
                               rtol=1e-9)
    np.testing.assert_allclose(b.fitted_values_.compute(), a.fitted_values_, rtol=1e-9)
    ea = fc.marginal_effects(a, ["x1", "g"])
    eb = fc.marginal_effects(b, ["x1", "g"])
    np.testing.assert_allclose(eb.estimate, ea.estimate, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(eb.std_error, ea.std_error, rtol=1e-8)
    assert list(eb.term) == list(ea.term)
    # summary's smooth tests are a reduction too
    np.testing.assert_allclose(b.smooth_p_values_, a.smooth_p_values_, rtol=1e-6)


def test_unknown_divisions_give_the_same_fit(df):
    ddf = dd.from_pandas(df, npartitions=3).clear_divisions()
    assert not ddf.known_divisions
    a = fc.gam("y ~ z + krls(x1, x2)", df)
    assert_same_fit(a, fc.gam("y ~ z + krls(x1, x2)", ddf))


def test_a_partition_missing_a_column_is_a_clear_error(df):
    parts = [df.iloc[:200], df.iloc[200:350].drop(columns="z"), df.iloc[350:]]
    # (Dask's own meta check would also stop it, in from_delayed; here the frame's meta
    # is not verified, as with partitions built by user code)
    ddf = _from_parts(parts, df.iloc[:0], verify_meta=False)
    with pytest.raises(ValueError, match=r"partition 1 of the data: has no column\(s\) \['z'\]"):
        fc.gam("y ~ z + krls(x1, x2)", ddf)


def test_a_factor_level_in_one_partition_only(df):
    data = df.copy()
    data.loc[data.index[-30:], "g"] = "zz"  # the last partition alone has level "zz"
    parts = [data.iloc[:250], data.iloc[250:470], data.iloc[470:]]
    ddf = _from_parts(parts, data.iloc[:0])
    for formula in ("y ~ z + g + krls(x1, x2)", "yc ~ z + krls(x1, x2) + re(g)"):
        family = "gaussian" if formula.startswith("y ~") else "poisson"
        a = fc.gam(formula, data, family=family)
        b = fc.gam(formula, ddf, family=family)
        assert b.coef_.index.equals(a.coef_.index)
        assert any("zz" in name for name in b.coef_.index) or "re(g)" in b.terms[-1].label
        assert_same_fit(a, b)


def test_empty_partitions_are_skipped(df):
    parts = [df.iloc[:0], df.iloc[:180], df.iloc[180:180], df.iloc[180:], df.iloc[:0]]
    ddf = _from_parts(parts, df.iloc[:0])
    a = fc.gam("yb ~ z + krls(x1, x2)", df, family="binomial")
    b = fc.gam("yb ~ z + krls(x1, x2)", ddf, family="binomial")
    assert b.n_obs_ == len(df)
    np.testing.assert_array_equal(b.terms[1].sketch_.indices, a.terms[1].sketch_.indices)
    assert_same_fit(a, b)
    assert len(b.predict(ddf).compute()) == len(df)


def test_what_dask_data_do_not_support_is_said(df):
    ddf = dd.from_pandas(df, npartitions=2)
    with pytest.raises(ValueError, match="s\\(x1\\) is not supported on Dask data"):
        fc.gam("y ~ s(x1) + krls(x2)", ddf)
    with pytest.raises(ValueError, match="sketch='gaussian'"):
        fc.gam("y ~ krls(x1, sketch='gaussian')", ddf)
    with pytest.raises(ValueError, match="stateful transforms"):
        fc.gam("y ~ center(z) + krls(x1)", ddf)
    with pytest.raises(ValueError, match="family 'ocat' is not supported on Dask"):
        fc.gam("yc ~ krls(x1)", ddf, family="ocat")
    with pytest.raises(TypeError, match="weights= must name a column"):
        fc.gam("y ~ krls(x1)", ddf, weights=np.ones(len(df)))
    with pytest.raises(ValueError, match="individual=True on Dask data"):
        fc.marginal_effects(fc.gam("y ~ krls(x1)", ddf), ["x1"], individual=True)
    bad = df.copy()
    bad.loc[bad.index[300], "z"] = np.nan
    with pytest.raises(ValueError, match="partition 1 of the data: column 'z' has 1 NaN"):
        fc.gam("y ~ z + krls(x1)", dd.from_pandas(bad, npartitions=2))


def test_a_worker_that_always_dies_is_a_clear_error(df, tmp_path):
    distributed = pytest.importorskip("distributed")
    import os

    def die(part):
        os._exit(1)

    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                       dashboard_address=None, memory_limit="1GiB")
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            distributed.Client(cluster):
        ddf = dd.from_pandas(df, npartitions=2).map_partitions(die, meta=df.iloc[:0])
        with pytest.raises(RuntimeError, match="lost the workers.*no partial result"):
            fc.gam("y ~ krls(x1)", ddf)
    cluster.close()


def test_progress_bars(df, capsys):
    """progress=True: a tqdm bar of rows processed in memory, Dask's bar on Dask data."""
    fc.gam("yb ~ z + krls(x1, x2)", df, family="binomial", progress=True)
    err = capsys.readouterr().err
    # the pass counter is a postfix that tqdm shows only at a refresh (timing-dependent)
    assert "fitting a binomial GAM" in err and "row" in err
    fc.gam("y ~ krls(x1, x2)", dd.from_pandas(df, npartitions=2), progress=True)
    out = capsys.readouterr()
    assert "Completed" in out.out + out.err
    fc.gam("y ~ krls(x1, x2)", df)  # automatic: no bar in tests
    assert capsys.readouterr().err == ""


def test_kept_blocks_respect_the_budget_and_do_not_change_the_fit(df, monkeypatch):
    """An iterative fit keeps expanded blocks between passes (dask_cache.py): with a
    budget too small for any block nothing is kept and the fit is the same; either
    way the process holds no block after the fit."""
    from flexcausal.gkrls import dask_cache

    ddf = dd.from_pandas(df, npartitions=3)
    formula = "yb ~ z + krls(x1, x2)"
    hits = dask_cache.CACHE.hits
    kept = fc.gam(formula, ddf, family="binomial")
    assert dask_cache.CACHE.hits > hits and dask_cache.CACHE.nbytes == 0
    assert not dask_cache.CACHE.blocks
    monkeypatch.setattr(dask_cache, "DEFAULT_BUDGET", 0)
    hits = dask_cache.CACHE.hits
    streamed = fc.gam(formula, ddf, family="binomial")
    assert dask_cache.CACHE.hits == hits and not dask_cache.CACHE.blocks
    assert_same_fit(kept, streamed, tol=1e-12)
    assert_same_fit(fc.gam(formula, df, family="binomial"), kept)


def test_a_kept_block_is_read_only():
    from flexcausal.gkrls.dask_cache import BlockCache

    cache = BlockCache()
    X = np.ones((4, 3))
    cache.put(("t", 0, 0), X)
    with pytest.raises(ValueError):
        cache.get(("t", 0, 0))[0, 0] = 2.0
    assert cache.drop("t") == 1 and cache.nbytes == 0
