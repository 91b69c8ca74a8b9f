"""Clusters of unequal size as padded, masked arrays.

A data set of ``C`` clusters with ``n_c`` rows each becomes three dense arrays

    X: (C, n_max, d)    rows of cluster c in X[c, :n_c], zeros after
    y: (C, n_max)       likewise
    mask: (C, n_max)    1.0 for real rows, 0.0 for padding

so that per-cluster losses are ``sum(mask * loss) / max(sum(mask), 1)`` and the inner
loops of RFP can be ``vmap``-ped over clusters.  Padding rows are zeros (never NaN),
so ``0 * loss`` is exactly zero and padding never changes a gradient.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PaddedClusters:
    """Padded, masked clusters (see module docstring); ``labels`` are the group values."""

    X: np.ndarray
    y: np.ndarray
    mask: np.ndarray
    labels: np.ndarray

    @property
    def n_clusters(self) -> int:
        return int(self.X.shape[0])

    @property
    def sizes(self) -> np.ndarray:
        return self.mask.sum(axis=1).astype(np.int64)

    def take(self, index) -> PaddedClusters:
        """The clusters ``index`` (an integer array), in that order."""
        index = np.asarray(index, dtype=np.int64)
        return PaddedClusters(self.X[index], self.y[index], self.mask[index], self.labels[index])

    def with_empty(self, n_extra: int = 1) -> PaddedClusters:
        """Append ``n_extra`` all-padding clusters (used to fill the last minibatch)."""
        C, n, d = self.X.shape
        return PaddedClusters(
            np.concatenate([self.X, np.zeros((n_extra, n, d), self.X.dtype)]),
            np.concatenate([self.y, np.zeros((n_extra, n), self.y.dtype)]),
            np.concatenate([self.mask, np.zeros((n_extra, n), self.mask.dtype)]),
            np.concatenate([self.labels, np.full(n_extra, None, dtype=object)]),
        )


def pad_clusters(
    X: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    pad_to: int | None = None,
    dtype=np.float32,
) -> PaddedClusters:
    """Group the rows of ``X`` (n, d) and ``y`` (n,) by ``groups`` (n,) into padded arrays.

    Clusters are ordered by sorted group label; rows keep their order inside a cluster.
    ``pad_to`` (>= the largest cluster) fixes ``n_max``; by default it is the largest size.
    """
    X = np.asarray(X)
    y = np.asarray(y)
    labels, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    n_max = int(counts.max())
    if pad_to is not None:
        if pad_to < n_max:
            raise ValueError(f"pad_to={pad_to} is smaller than the largest cluster ({n_max} rows)")
        n_max = int(pad_to)
    C, d = len(labels), X.shape[1]
    order = np.argsort(inverse, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    within = np.arange(len(order)) - np.repeat(starts, counts)
    cl = inverse[order]
    Xp = np.zeros((C, n_max, d), dtype=dtype)
    yp = np.zeros((C, n_max), dtype=dtype)
    mp = np.zeros((C, n_max), dtype=dtype)
    Xp[cl, within] = X[order]
    yp[cl, within] = y[order]
    mp[cl, within] = 1.0
    return PaddedClusters(Xp, yp, mp, labels.astype(object))

