"""The streamed model matrix (design.StreamedDesign) gives the cached fit, for real.

``design_memory_gb=0`` leaves no memory for a cached N x p model matrix, so penalized
IRLS must re-expand row blocks from the terms' encodings on every pass. The fit must
agree with the default (cached) one to rounding error, and must actually have streamed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import flexcausal as fc
from flexcausal.gkrls import design


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    n = 300
    df = pd.DataFrame(
        {
            "x1": rng.normal(size=n),
            "x2": rng.uniform(-2, 2, size=n),
            "x3": rng.normal(size=n),
            "g": rng.choice(["a", "b", "c", "d"], size=n),
        }
    )
    eta = 0.3 + 0.6 * df.x1 + np.sin(df.x2) - 0.4 * (df.g == "b")
    df["yb"] = rng.binomial(1, 1 / (1 + np.exp(-eta)))
    df["yc"] = rng.poisson(np.exp(0.5 * eta)).astype(float)
    return df


def _spy(monkeypatch):
    """Count row passes of each design kind (patched on the classes: any import path)."""
    calls = {"streamed": 0, "cached": 0}
    for cls, key in ((design.StreamedDesign, "streamed"), (design.CachedDesign, "cached")):
        original = cls.map_rows

        def counted(self, func, _original=original, _key=key):
            calls[_key] += 1
            return _original(self, func)

        monkeypatch.setattr(cls, "map_rows", counted)
    return calls


CASES = [
    ("yb ~ x1 + g + krls(x2, x3) + s(x3, k=6)", "binomial"),
    ("yc ~ x1 + krls(x2) + re(g)", "poisson"),
]


@pytest.mark.parametrize("formula, family", CASES)
def test_streamed_fit_equals_cached_fit(data, monkeypatch, formula, family):
    calls = _spy(monkeypatch)
    cached = fc.gam(formula, data, family=family, block_rows=64)
    assert calls["cached"] > 0 and calls["streamed"] == 0
    calls.update(streamed=0, cached=0)
    streamed = fc.gam(formula, data, family=family, block_rows=64, design_memory_gb=0)
    # the streamed operator did the work: many passes, each over 5 blocks of 64 rows
    assert calls["streamed"] > 0 and calls["cached"] == 0

    np.testing.assert_allclose(streamed.coef_, cached.coef_, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(streamed.sp_, cached.sp_, rtol=1e-6)
    np.testing.assert_allclose(streamed.edf_, cached.edf_, rtol=1e-8, atol=1e-8)
    assert streamed.reml_ == pytest.approx(cached.reml_, rel=1e-10, abs=1e-8)
    for kind in ("link", "response"):
        a = streamed.predict(data, type=kind, se=True)
        b = cached.predict(data, type=kind, se=True)
        np.testing.assert_allclose(a["fit"], b["fit"], rtol=1e-8, atol=1e-8)
        np.testing.assert_allclose(a["se"], b["se"], rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(streamed.vcov().to_numpy(), cached.vcov().to_numpy(),
                               rtol=1e-7, atol=1e-10)


def test_design_memory_gb_reaches_the_model(data):
    """``fc.gam(design_memory_gb=...)`` used to be dropped on the way to ``GAM``."""
    fit = fc.gam("yb ~ x1 + krls(x2)", data, family="binomial", design_memory_gb=0.5)
    assert fit.memory_budget == 0.5 * 2**30
    assert fc.gam("yb ~ x1", data, family="binomial", design_memory_gb=0).memory_budget == 0


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"block_rows": 0}, ValueError, "block_rows must be >= 1, got 0"),
        ({"block_rows": -3}, ValueError, "block_rows must be >= 1"),
        ({"block_rows": 2.5}, TypeError, "block_rows must be an integer"),
        ({"block_rows": True}, TypeError, "block_rows must be an integer"),
        ({"design_memory_gb": -1}, ValueError, "design_memory_gb must be a finite number >= 0"),
        ({"design_memory_gb": float("nan")}, ValueError, "design_memory_gb must be a finite"),
        ({"design_memory_gb": float("inf")}, ValueError, "design_memory_gb must be a finite"),
        ({"design_memory_gb": "1"}, TypeError, "design_memory_gb must be a non-negative"),
    ],
)
def test_block_rows_and_memory_are_validated(data, kwargs, error, match):
    with pytest.raises(error, match=match):
        fc.gam("yb ~ x1", data, family="binomial", **kwargs)
    with pytest.raises(error, match=match):
        fc.GAM("yb ~ x1", family="binomial", **kwargs)
