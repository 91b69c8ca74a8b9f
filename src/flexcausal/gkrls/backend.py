"""The one row-block map/reduce that every pass over the data goes through.

Fitting (X'WX, QR factors), prediction (X b, standard errors), sandwich scores and
effects all split the N rows into blocks of ``block_rows``, map a function over the
blocks and reduce the results. Only this module decides *how* the blocks run: a thread
pool today (NumPy's exp and BLAS release the GIL; BLAS is pinned to one thread per
worker so the threads do not oversubscribe the cores), serially when asked, and a
different ``Backend`` (e.g. Dask partitions) can be installed with ``set_backend``.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from threadpoolctl import ThreadpoolController, threadpool_limits


def row_blocks(n: int, block_rows: int) -> list[slice]:
    """Consecutive row slices of at most ``block_rows`` rows covering 0..n."""
    return [slice(s, min(s + block_rows, n)) for s in range(0, n, block_rows)]


class Backend(Protocol):
    def map(self, func: Callable[[slice], object], blocks: list[slice]) -> list: ...


class SerialBackend:
    """Blocks one after the other in this thread (BLAS may use all cores itself)."""

    def map(self, func, blocks):
        return [func(b) for b in blocks]


class ThreadBackend:
    """Blocks on a thread pool with BLAS pinned to one thread per worker."""

    def __init__(self, workers: int | None = None):
        self.workers = workers

    def map(self, func, blocks):
        workers = min(self.workers or os.cpu_count() or 1, len(blocks))
        if workers <= 1:
            return [func(b) for b in blocks]
        with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(workers) as pool:
            return list(pool.map(func, blocks))


_BACKEND: Backend = ThreadBackend()


def set_backend(backend: Backend) -> Backend:
    """Install ``backend`` for all row-block passes; returns the previous one."""
    global _BACKEND
    previous, _BACKEND = _BACKEND, backend
    return previous


def map_blocks(func: Callable[[slice], object], n: int, block_rows: int,
               parallel: bool = True) -> list:
    """``func`` applied to each row block, in row order (``parallel=False``: serially,
    for callers whose blocks are already BLAS-bound matrix products)."""
    blocks = row_blocks(n, block_rows)
    bar = _PROGRESS
    if bar is not None:
        bar.passes += 1
        bar.set_postfix_str(f"pass {bar.passes}", refresh=False)
        inner = func

        def func(rows, _inner=inner):
            out = _inner(rows)
            bar.update(rows.stop - rows.start)
            return out

    return (_BACKEND if parallel else SerialBackend()).map(func, blocks)


_PROGRESS = None  # the bar of the fit in progress (``progress``), updated by map_blocks
PROGRESS_MIN_ROWS = 200_000  # automatic bars only for fits at least this large


@contextlib.contextmanager
def progress(desc: str, n_rows: int, show: bool | None = None):
    """A tqdm bar counting the rows that the row-block passes inside the context process
    (all passes together, the pass number as postfix), shown per
    ``flexcausal.progress.show_progress(show)`` and, when automatic, for at least
    PROGRESS_MIN_ROWS rows. Dask passes show Dask's own bars instead (dask_rows.py)."""
    global _PROGRESS
    from ..progress import progress_bar, show_progress

    enabled = show_progress(show) and (show is True or n_rows >= PROGRESS_MIN_ROWS)
    if not enabled or _PROGRESS is not None:
        yield None
        return
    bar = progress_bar(desc=desc, unit="row", progress=True)
    bar.unit_scale = True
    bar.passes = 0
    _PROGRESS = bar
    try:
        yield bar
    finally:
        _PROGRESS = None
        bar.close()


def map_reduce(func: Callable[[slice], object], n: int, block_rows: int,
               reduce: Callable[[list], object], parallel: bool = True):
    """``reduce`` of the per-block results of ``func``."""
    return reduce(map_blocks(func, n, block_rows, parallel))


_CONTROLLER: ThreadpoolController | None = None
SMALL_P = 1000  # below this many coefficients, a fit's p x p algebra runs on one thread


def blas_one_thread(active: bool = True):
    """Context pinning BLAS to one thread (a no-op when ``active`` is False).

    For the p x p linear algebra of the smoothing-parameter search (p in the tens to
    hundreds) threaded BLAS only adds synchronisation, and when the cores are shared it
    stalls: the Newman logit at n = 500 (p = 99) took 0.5 s on one thread and 14 s with
    2 BLAS threads on a loaded 2-core machine. Passes over the N rows still use every
    core: the row blocks run on the thread pool (``ThreadBackend``)."""
    global _CONTROLLER
    if not active:
        return contextlib.nullcontext()
    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")


def one_blas_thread(func: Callable) -> Callable:
    """Decorator form of ``blas_one_thread`` for functions doing p x p algebra only."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with blas_one_thread():
            return func(*args, **kwargs)

    return wrapper
