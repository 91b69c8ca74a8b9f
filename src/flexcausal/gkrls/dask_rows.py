"""Row sources on Dask partitions: the engine's passes as cluster reductions.

``DaskRows`` implements the ``rows.RowSource`` protocol on a Dask DataFrame: every
pass maps one function over the partitions (each partition is encoded by the terms on
the worker that holds it, cut into row blocks of ``block_rows`` and reduced there by the
pass's kernel) and adds the per-partition results in a tree (``SPLIT_EVERY`` at a time)
on the cluster, so only one p x p (or smaller) result reaches this process. Nothing is
collected: a pass reads each partition (from parquet, or from cluster memory when the
user persisted the frame), uses it and drops it, so a worker's memory is bounded by one
partition plus one block x p, not by N.

Scheduling is Dask's: the default (threaded) scheduler, a ``LocalCluster`` or any
``distributed.Client`` given or active. Tasks are pure functions of their partition,
so a task lost with a worker is recomputed elsewhere and the pass's result is the same;
if Dask gives up (``KilledWorker``) the fit stops with a RuntimeError, never with a
partial sum. Progress: Dask's own bars (``distributed.progress`` with a cluster,
``dask.diagnostics.ProgressBar`` otherwise) when ``flexcausal.progress`` says to show.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import numpy as np
import pandas as pd

from .backend import row_blocks
from .blocks import design_block
from .dask_cache import CACHE, drop_blocks, new_token
from .heap import block_heap
from .rows import Chunk, Max, add, add_all, in_cache, reduce_expanded, term_rowmax

SPLIT_EVERY = 8  # partitions' results added per task of the reduction tree


def is_dask_frame(data) -> bool:
    """A Dask DataFrame (without importing dask when it is not in use)."""
    mod = type(data).__module__
    return mod.startswith(("dask.", "dask_expr")) and hasattr(data, "npartitions") and hasattr(
        data, "columns")


def is_parquet_path(data) -> bool:
    import os

    if isinstance(data, os.PathLike):
        data = os.fspath(data)
    return isinstance(data, str) and (data.endswith((".parquet", ".pq")) or os.path.isdir(data)
                                      or "://" in data)


def as_dask_frame(data):
    """A Dask DataFrame from one, or from a parquet path (file, directory or URL)."""
    if is_dask_frame(data):
        return data
    import dask.dataframe as dd

    try:
        return dd.read_parquet(data)
    except Exception as exc:  # noqa: BLE001 - say which path failed and why
        raise ValueError(f"cannot read parquet data from {data!r}: {exc}") from exc


def dask_training(model):
    """The ``dask_fit.DaskTraining`` of a model fitted on Dask data, else None."""
    return (getattr(model, "training_", None) or {}).get("dask")


def active_client(client=None):
    """``client``, else the active ``distributed.Client`` (if any), else None (Dask's
    default local scheduler)."""
    if client is not None:
        return client
    try:
        from distributed import default_client
    except ImportError:
        return None
    try:
        return default_client()
    except ValueError:
        return None


def labelled(func: Callable, i: int, *args):
    """``func(*args)``, with errors of bad input re-raised naming partition ``i`` (and
    block-sized arrays recycled meanwhile: heap.block_heap)."""
    try:
        with block_heap():
            return func(*args)
    except (ValueError, TypeError, KeyError) as exc:
        if str(exc).startswith("partition "):
            raise
        raise type(exc)(f"partition {i} of the data: {exc}") from exc


def reduce_partition(df: pd.DataFrame, i: int, encoder, kernel, rowmax: bool,
                     cache: str | None = None):
    """One partition's share of a pass: encode, cut into blocks, reduce by ``kernel``.
    With a ``cache`` token (an iterative fit, dask_cache.py) the centred blocks are kept
    in this process within its budget and reused by the next passes."""

    def run():
        frame = encoder.frame(df, i)
        if len(frame) == 0:
            return None
        enc, y, w, off = encoder.arrays(frame)
        bounds = np.cumsum([0] + [t.n_coef for t in encoder.terms]) if rowmax else None
        out = []
        for b, rows in enumerate(row_blocks(len(y), encoder.block_rows)):
            X = None if cache is None else CACHE.get((cache, i, b))
            if X is None and cache is not None and CACHE.has_room(
                    8 * (rows.stop - rows.start) * len(encoder.shift)):
                X = design_block(encoder.terms, enc, rows)
                rm = None if bounds is None else Max(term_rowmax(X, bounds))
                if np.any(encoder.shift):
                    X -= encoder.shift
                CACHE.put((cache, i, b), X)
            elif X is not None and bounds is not None:
                rm = Max(term_rowmax(X + encoder.shift, bounds))
            if X is None:
                out.append(reduce_expanded(
                    kernel, lambda sub: design_block(encoder.terms, enc, sub), encoder.shift,
                    y, w, off, rows, bounds))
                continue
            r = in_cache(kernel)(Chunk(X, y[rows], w[rows], off[rows]))
            out.append(r if bounds is None else (r, rm))
        return add_all(out)

    return labelled(run, i)


def map_partition(df: pd.DataFrame, i: int, func, *args):
    """``func(df, i, *args)`` with partition-labelled errors."""
    return labelled(func, i, df, i, *args)


def tree_add(parts: list):
    """Dask tasks adding ``parts`` (delayed results) SPLIT_EVERY at a time."""
    import dask

    while len(parts) > 1:
        parts = [dask.delayed(add_all, pure=True)(parts[j:j + SPLIT_EVERY])
                 for j in range(0, len(parts), SPLIT_EVERY)]
    return parts[0]


class DaskCompute:
    """Runs Dask graphs on the chosen scheduler, with progress and clear errors."""

    def __init__(self, client=None, progress: bool | None = None):
        self.client = active_client(client)
        self.progress = progress
        self.n_passes = 0

    def workers(self) -> list[str]:
        """The cluster's worker addresses, sorted ([] without a distributed client)."""
        if self.client is None:
            return []
        return sorted(self.client.scheduler_info(n_workers=-1)["workers"])

    def run_everywhere(self, func, *args) -> None:
        """``func(*args)`` in every worker process (and in this one, which runs the
        tasks of the local schedulers); a worker that cannot be reached is skipped."""
        func(*args)
        if self.client is not None:
            with contextlib.suppress(Exception):
                self.client.run(func, *args)

    def share(self, obj):
        """``obj`` as one graph input (sent once to each worker, not once per task)."""
        import dask

        if self.client is not None:
            return self.client.scatter(obj, broadcast=True, hash=False)
        return dask.delayed(obj, pure=False)

    def __call__(self, graph, what: str = "pass"):
        import dask

        from ..progress import show_progress

        self.n_passes += 1
        show = show_progress(self.progress)
        try:
            if self.client is not None:
                future = self.client.compute(graph)
                if show:
                    from distributed import progress

                    print(f"flexcausal: {what}", flush=True)
                    progress(future)
                return self.client.gather(future)
            bar = contextlib.nullcontext()
            if show:
                from dask.diagnostics import ProgressBar

                bar = ProgressBar()
            with bar:
                return dask.compute(graph)[0]
        except Exception as exc:
            if type(exc).__name__ in ("KilledWorker", "CommClosedError", "FutureCancelledError"):
                raise RuntimeError(
                    f"the Dask cluster lost the workers computing a {what} over the data "
                    f"({type(exc).__name__}: {exc}); no partial result is used: the fit is "
                    "stopped. Check the workers' memory limit (a partition and a row block "
                    "of the model matrix must fit), use smaller partitions or block_rows, "
                    "or restart the cluster") from exc
            raise


class DaskRows:
    """``rows.RowSource`` over the partitions of a Dask DataFrame (module docstring).

    ``encoder`` (dask_setup.RowEncoder) turns a partition into the terms' encodings, y,
    prior weights and offset; ``n`` is the number of rows."""

    def __init__(self, parts: list, encoder, n: int, compute: DaskCompute, ls_table=None):
        self.parts = parts  # delayed partitions, in order
        self.encoder = encoder
        self.n = n
        self.p = sum(t.n_coef for t in encoder.terms)
        self.compute = compute
        self._shared = None
        self.ls_table = ls_table  # (unique weights, counts, y part) for saturated_loglik
        self.cache_token = None  # set while an iterative fit keeps blocks (dask_cache)

    @property
    def shift(self) -> np.ndarray:
        return self.encoder.shift

    def _encoder_input(self):
        if self._shared is None:
            self._shared = self.compute.share(self.encoder)
        return self._shared

    @contextlib.contextmanager
    def cached_blocks(self):
        """Keep expanded blocks on the workers for the passes inside the ``with`` (an
        iterative fit; dask_cache.py), and release them at its end."""
        self.cache_token = new_token()
        try:
            yield
        finally:
            token, self.cache_token = self.cache_token, None
            self.compute.run_everywhere(drop_blocks, token)

    def reduce(self, kernel, rowmax: bool = False):
        import dask

        enc = self._encoder_input()
        workers = self.compute.workers() if self.cache_token is not None else []
        parts = []
        for i, p in enumerate(self.parts):
            # with cached blocks, partition i prefers the worker that kept them
            where = ({"workers": [workers[i % len(workers)]], "allow_other_workers": True}
                     if workers else {})
            with dask.annotate(**where):
                parts.append(dask.delayed(reduce_partition, pure=False)(
                    p, i, enc, kernel, rowmax, self.cache_token))
        out = self.compute(tree_add(parts), "pass")
        if out is None:
            raise ValueError("the data have no rows")
        if rowmax:
            return out[0], out[1].v
        return out

    def map(self, func, *args, what: str = "pass"):
        """``add`` of ``func(partition, i, *args)`` over the partitions (tree on the
        cluster); ``func`` sees raw partitions."""
        import dask

        parts = [dask.delayed(map_partition, pure=False)(p, i, func, *args)
                 for i, p in enumerate(self.parts)]
        return self.compute(tree_add(parts), what)

    def saturated_loglik(self, family, scale: float) -> float:
        """mgcv ``ls`` from the table of distinct prior weights built by the metadata
        pass: for the families with an estimated scale (Gaussian, Gamma) ls is
        sum_i f(w_i, phi) + g(y_i, w_i), so sum_w count_w f(w, phi) + (the y part at
        phi = 1) gives it at any phi without a pass."""
        if isinstance(self.ls_table, float):  # a known scale: ls is a constant
            return self.ls_table
        if self.ls_table is None:  # too many distinct weights for a table
            return self._ls_pass(family, scale)
        values, counts, ypart = self.ls_table
        ones = np.ones(1)
        total = sum(c * family.saturated_loglik(ones, np.array([v]), scale)
                    for v, c in zip(values, counts, strict=True))
        return float(total + ypart)

    def _ls_pass(self, family, scale: float) -> float:
        return float(self.reduce(_LsKernel(family, scale)))


class _LsKernel:
    def __init__(self, family, scale):
        self.family, self.scale = family, scale

    def __call__(self, ch):
        return float(self.family.saturated_loglik(ch.y, ch.w, self.scale))


__all__ = ["DaskCompute", "DaskRows", "active_client", "add", "as_dask_frame",
           "is_dask_frame", "is_parquet_path", "tree_add"]
