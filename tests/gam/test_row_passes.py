"""Row passes: cache-sized sub-blocks, the gemm Gram and the worker heap setting.

Sums over rows do not depend on how the rows are split (exact arithmetic); the
sub-blocked passes must agree with whole-block ones to round-off, for in-memory, streamed
and kernels that ask for whole blocks."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from flexcausal.gkrls import heap
from flexcausal.gkrls.rows import (
    Chunk,
    RFactor,
    cache_rows,
    in_cache,
    reduce_expanded,
    weighted_gram,
)


def _chunk(n=5000, p=40, seed=0):
    rng = np.random.default_rng(seed)
    return Chunk(rng.standard_normal((n, p)), rng.standard_normal(n), rng.random(n) + 0.5,
                 np.zeros(n))


def test_weighted_gram_matches_the_definition_for_any_sign_of_weights():
    ch = _chunk(n=700, p=9)
    for W in (ch.w, ch.w - 0.9):  # positive, then mixed signs (full Newton weights)
        G = weighted_gram(ch.X, W)
        np.testing.assert_allclose(G, ch.X.T @ np.diag(W) @ ch.X, rtol=1e-12, atol=1e-10)
        assert np.array_equal(G, G.T)
    assert weighted_gram(ch.X[:0], ch.w[:0]).shape == (9, 9)


def test_in_cache_splits_a_block_and_adds_the_parts():
    ch = _chunk(n=3 * cache_rows(40) + 17)
    seen = []

    def kernel(c):
        seen.append(c.X.shape[0])
        return (weighted_gram(c.X, c.w), c.X.T @ (c.w * c.y), c.X.shape[0])

    G, b, n = in_cache(kernel)(ch)
    assert len(seen) == 4 and max(seen) <= cache_rows(40) and n == ch.X.shape[0]
    np.testing.assert_allclose(G, weighted_gram(ch.X, ch.w), rtol=1e-12)
    np.testing.assert_allclose(b, ch.X.T @ (ch.w * ch.y), rtol=1e-12)


def test_whole_block_kernels_see_the_block_whole():
    ch = _chunk(n=3 * cache_rows(40))

    class QRKernel:
        whole_block = True

        def __call__(self, c):
            seen.append(c.X.shape[0])
            return RFactor(np.linalg.qr(c.X, mode="r"))

    seen = []
    R = in_cache(QRKernel())(ch).R
    assert seen == [ch.X.shape[0]]
    np.testing.assert_allclose(np.abs(R.T @ R), np.abs(ch.X.T @ ch.X), rtol=1e-10)
    seen = []
    reduce_expanded(QRKernel(), lambda s: ch.X[s].copy(), np.zeros(40), ch.y, ch.w, ch.off,
                    slice(0, ch.X.shape[0]))
    assert seen == [ch.X.shape[0]]


def test_reduce_expanded_centres_and_measures_row_sums_per_sub_block():
    ch = _chunk(n=2 * cache_rows(40) + 5)
    shift = np.linspace(-1, 1, 40)
    bounds = np.array([0, 10, 40])
    (G, n), rm = reduce_expanded(lambda c: (weighted_gram(c.X, c.w), c.X.shape[0]),
                                 lambda s: ch.X[s].copy(), shift, ch.y, ch.w, ch.off,
                                 slice(3, ch.X.shape[0]), bounds)
    Xc = ch.X[3:] - shift
    np.testing.assert_allclose(G, weighted_gram(Xc, ch.w[3:]), rtol=1e-11)
    assert n == Xc.shape[0]
    np.testing.assert_allclose(rm.v, [np.abs(ch.X[3:, :10]).sum(1).max(),
                                      np.abs(ch.X[3:, 10:]).sum(1).max()])


@pytest.mark.skipif(heap._LIBC is None, reason="needs glibc's mallopt")
def test_block_heap_restores_after_nested_and_concurrent_use(monkeypatch):
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    calls = []
    monkeypatch.setattr(heap, "_LIBC", _RecordingLibc(calls))
    errors = []

    def task():
        try:
            with heap.block_heap():
                np.ones(10**6).sum()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=task) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and heap._active == 0
    # the last one out restores the environment's thresholds and trims
    assert calls[-3:] == [("mallopt", heap.M_TRIM_THRESHOLD, 65536),
                          ("mallopt", heap.M_MMAP_THRESHOLD, 128 * 1024), ("trim", 0)]
    assert ("mallopt", heap.M_TRIM_THRESHOLD, heap.HEAP_BYTES) in calls


def test_block_heap_changes_nothing_where_the_environment_fixed_nothing(monkeypatch):
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    calls = []
    monkeypatch.setattr(heap, "_LIBC", _RecordingLibc(calls))
    with heap.block_heap():
        pass
    assert calls == []


class _RecordingLibc:
    def __init__(self, calls):
        self.calls = calls

    def mallopt(self, param, value):
        self.calls.append(("mallopt", param, value))
        return 1

    def malloc_trim(self, pad):
        self.calls.append(("trim", pad))
        return 1
