"""Cross-fitting folds: whole clusters per fold, or rows stratified by a binary treatment.

For the multi-fit procedures (``fc.rlearner``), with the rules of doubleml's resampling
(which ``flexcausal.dml`` follows): with clusters, KFold over the cluster labels
(doubleml ``DoubleMLClusterResampling``), so no cluster has rows in both the training
and the held-out part of a fold; without, KFold over rows, stratified by the treatment
when it is binary (as doubleml's IRM). Every draw comes from ``seed``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold, StratifiedKFold

__all__ = ["make_folds"]


def make_folds(n_folds: int, d: np.ndarray, binary: bool = False, groups=None,
               seed: int | None = 0) -> np.ndarray:
    """Fold id (0..K-1) of each row of ``d`` (the treatment; its values matter only when
    ``binary``): whole clusters per fold when ``groups`` (one label per row) is given,
    else KFold over rows, stratified by ``d`` when it is binary 0/1. ``seed`` is the
    scikit-learn ``random_state`` of the (shuffled) KFold/StratifiedKFold."""
    n = d.size
    if groups is not None:
        codes, levels = pd.factorize(groups, sort=True)
        if len(levels) < n_folds:
            raise ValueError(f"cluster has {len(levels)} level(s), fewer than n_folds="
                             f"{n_folds}: a cluster never spans folds, so use fewer folds")
        folds = np.empty(n, dtype=np.int64)
        by_cluster = np.empty(len(levels), dtype=np.int64)
        for k, (_, test) in enumerate(KFold(n_folds, shuffle=True,
                                            random_state=seed).split(levels)):
            by_cluster[test] = k
        folds[:] = by_cluster[codes]
        return folds
    folds = np.empty(n, dtype=np.int64)
    if binary:
        fewest = int(min(np.sum(d == 0), np.sum(d == 1)))
        if fewest < n_folds:
            raise ValueError(f"the treatment has only {fewest} row(s) in one arm, fewer "
                             f"than n_folds={n_folds}: every fold needs treated and control "
                             "rows")
        splits = StratifiedKFold(n_folds, shuffle=True, random_state=seed).split(
            np.zeros(n), d)
    else:
        splits = KFold(n_folds, shuffle=True, random_state=seed).split(np.zeros(n))
    for k, (_, test) in enumerate(splits):
        folds[test] = k
    return folds
