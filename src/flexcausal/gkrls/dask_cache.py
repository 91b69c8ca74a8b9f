"""Expanded model-matrix blocks kept on the Dask workers between the passes of one fit.

A GLM fit makes about ten passes over the rows (pirls.py), and on Dask each pass
re-expands every block from its encodings: for a ``krls()`` term that is the kernel
against the M anchors times the M x p projection, ~90% of a pass's CPU
(benchmarks/README.md). Each worker process therefore keeps the centred blocks it
expands during an iterative fit, up to a budget of ``BUDGET_FRACTION`` of its memory
limit (1 GiB where it has none, or without a cluster); blocks beyond the budget are
re-expanded on every pass as before, so memory stays bounded by the budget plus one
block, whatever N. The fit releases its blocks when it ends (``BlockCache.drop`` on
every worker), and the budget is per process, shared by all fits, so a fit that dies
before its release cannot make a worker grow past it.

A cached block is exactly the block a re-expansion would give (same function, same
rows); a worker lost between passes loses its blocks and its tasks re-expand, with the
same result. To make the blocks useful, partition i's task is asked to run on worker
i mod W of the cluster, as a preference (``allow_other_workers``), not a requirement.
"""

from __future__ import annotations

import threading
import uuid

import numpy as np

BUDGET_FRACTION = 0.4  # of a worker's memory limit
DEFAULT_BUDGET = 2**30  # bytes, where no limit is known


def worker_budget() -> int:
    """Bytes this process may keep: ``BUDGET_FRACTION`` of its Dask worker's memory
    limit, else ``DEFAULT_BUDGET``."""
    try:
        from distributed import get_worker

        limit = get_worker().memory_manager.memory_limit
    except (ImportError, ValueError, AttributeError):
        limit = None
    return int(BUDGET_FRACTION * limit) if limit else DEFAULT_BUDGET


class BlockCache:
    """Centred blocks keyed by (fit token, partition, block), within a byte budget."""

    def __init__(self):
        self.blocks: dict[tuple, np.ndarray] = {}
        self.nbytes = 0
        self.hits = 0  # blocks served from the cache (for benchmarks and tests)
        self._lock = threading.Lock()

    def get(self, key: tuple) -> np.ndarray | None:
        X = self.blocks.get(key)
        if X is not None:
            self.hits += 1
        return X

    def has_room(self, nbytes: int) -> bool:
        return self.nbytes + nbytes <= worker_budget()

    def put(self, key: tuple, X: np.ndarray) -> None:
        with self._lock:
            if key not in self.blocks and self.has_room(X.nbytes):
                X.flags.writeable = False  # kernels must not change a shared block
                self.blocks[key] = X
                self.nbytes += X.nbytes

    def drop(self, token: str) -> int:
        """Forget the blocks of fit ``token``; returns how many there were."""
        with self._lock:
            keys = [k for k in self.blocks if k[0] == token]
            for k in keys:
                self.nbytes -= self.blocks.pop(k).nbytes
            return len(keys)


CACHE = BlockCache()  # this process's blocks


def drop_blocks(token: str) -> int:
    return CACHE.drop(token)


def new_token() -> str:
    return uuid.uuid4().hex
