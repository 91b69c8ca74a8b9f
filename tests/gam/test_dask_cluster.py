"""gKRLS on a real ``distributed.LocalCluster`` (2 worker processes): the Dask fit equals
the in-memory fit of the same rows (same sketch rows, bit-identical standardization:
dask_setup.py), for Gaussian, binomial and Poisson with re(); predict, sandwich
variances and marginal effects on the cluster; a worker killed mid-fit is survived by
Dask's retry with the same result.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

import flexcausal as fc

distributed = pytest.importorskip("distributed")
dd = pytest.importorskip("dask.dataframe")

TOL = 1e-10


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       memory_limit="1GiB", dashboard_address=None)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def make_frame(n=600, seed=3):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"x1": rng.uniform(0, 6, n), "x2": rng.uniform(0, 6, n),
                       "z": rng.normal(size=n), "g": rng.choice(list("abcdefg"), n)})
    eta = 0.6 * np.sin(df.x1) * np.cos(df.x2) + 0.3 * df.z + 0.4 * (df.g == "b")
    df["y"] = eta + rng.normal(0, 0.4, n)
    df["yb"] = rng.binomial(1, 1 / (1 + np.exp(-eta))).astype(float)
    df["yc"] = rng.poisson(np.exp(0.5 * eta)).astype(float)
    return df


@pytest.fixture(scope="module")
def data():
    df = make_frame()
    return df, dd.from_pandas(df, npartitions=3)


def assert_same_fit(a, b, tol=TOL):
    np.testing.assert_allclose(b.coef_.to_numpy(), a.coef_.to_numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(b.sp_.to_numpy(), a.sp_.to_numpy(), rtol=tol)
    np.testing.assert_allclose(b.edf_.to_numpy(), a.edf_.to_numpy(), rtol=tol, atol=tol)
    assert b.reml_ == pytest.approx(a.reml_, rel=tol)
    assert b.scale_ == pytest.approx(a.scale_, rel=tol)
    np.testing.assert_allclose(b.Vp_, a.Vp_, rtol=1e-8, atol=tol)


CASES = [
    ("y ~ z + g + krls(x1, x2)", "gaussian"),
    ("yb ~ z + krls(x1, x2)", "binomial"),
    ("yc ~ z + krls(x1, x2) + re(g)", "poisson"),
]


@pytest.fixture(scope="module")
def fits(client, data):
    """(in-memory fit, cluster fit) per case, fitted once for the module."""
    df, ddf = data
    return {family: (fc.gam(formula, df, family=family), fc.gam(formula, ddf, family=family))
            for formula, family in CASES}


@pytest.mark.parametrize("formula, family", CASES)
def test_cluster_fit_equals_in_memory_fit(client, data, fits, formula, family):
    df, ddf = data
    a, b = fits[family]
    assert b.training_["dask"].rows.compute.client is client  # the active client ran it
    assert b.n_obs_ == a.n_obs_ == len(df)
    np.testing.assert_array_equal(b.terms[1].sketch_.indices, a.terms[1].sketch_.indices)
    assert_same_fit(a, b)
    # predictions come back as a Dask collection, equal to the in-memory ones
    pred = b.predict(ddf, type="response", se=True)
    assert hasattr(pred, "dask")
    np.testing.assert_allclose(pred.compute().to_numpy(),
                               a.predict(df, type="response", se=True).to_numpy(),
                               rtol=1e-9, atol=1e-12)
    for kind, cluster in (("HC1", None), ("cluster", "g")):
        np.testing.assert_allclose(b.vcov(kind, cluster=cluster).to_numpy(),
                                   a.vcov(kind, cluster=cluster).to_numpy(),
                                   rtol=1e-8, atol=1e-14)


def test_cluster_effects_equal_in_memory(data, fits):
    df, ddf = data
    a, b = fits["poisson"]
    for type_, names in (("derivative", ["x1", "z"]), ("IQR", ["z"])):
        ea = fc.marginal_effects(a, names, type=type_, vcov="HC1")
        eb = fc.marginal_effects(b, names, type=type_, vcov="HC1")
        np.testing.assert_allclose(eb.estimate, ea.estimate, rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(eb.std_error, ea.std_error, rtol=1e-8)
    # an in-memory model's effects over Dask data
    ec = fc.marginal_effects(a, ["x1"], data=ddf)
    np.testing.assert_allclose(ec.estimate, fc.marginal_effects(a, ["x1"]).estimate,
                               rtol=1e-12)


def _die_once(marker, after):
    """A partition function that kills its worker process once, after ``after`` calls
    (pickled by value: a closure, so the workers need not import this module)."""
    def touch(part):
        if os.path.exists(marker + ".died"):
            return part
        with open(marker, "a") as f:
            f.write("x\n")
        with open(marker) as f:
            calls = sum(1 for _ in f)
        if calls >= after:
            try:  # atomic: of two workers past the count at once, only one dies
                os.close(os.open(marker + ".died", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                return part
            os._exit(1)
        return part

    return touch


def test_worker_killed_mid_fit_is_retried_with_the_same_result(client, data, fits,
                                                               tmp_path):
    df, ddf = data
    a, _ = fits["gaussian"]
    marker = str(tmp_path / "calls")
    # 3 partitions: the metadata pass, the rows pass, then the gram pass (calls 7-9)
    flaky = ddf.map_partitions(_die_once(marker, after=8), meta=ddf._meta)
    b = fc.gam(CASES[0][0], flaky)
    assert os.path.exists(marker + ".died")  # a worker did die during the fit
    assert_same_fit(a, b)


def _cache_state():
    from flexcausal.gkrls.dask_cache import CACHE

    return CACHE.nbytes, len(CACHE.blocks), CACHE.hits


def test_glm_fit_reuses_expanded_blocks_on_the_workers_and_releases_them(client, data, fits):
    """The binomial cluster fit above kept its blocks on the workers (dask_cache.py): the
    workers served blocks from memory, and none is left after the fit."""
    before = client.run(_cache_state)
    assert all(s[0] == 0 and s[1] == 0 for s in before.values())  # released
    assert sum(s[2] for s in before.values()) > 0  # and used: hits on the workers

