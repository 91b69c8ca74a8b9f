"""Where does a clustered sample leave new points?  The diagnostics of the paper's Fig. 7.

(a) Convex-hull membership (Balestriero, Pesenti & LeCun 2021): p is in the convex hull of
the rows of X (n, d) iff the linear program

    find lambda >= 0  with  X' lambda = p,  1' lambda = 1

is feasible; we solve it with ``scipy.optimize.linprog(method="highs")`` (zero objective).
(b) The fraction of each point's 5 nearest neighbours that belong to a *different*
cluster: with clustered sampling in high dimensions it falls towards zero, so local
averages are dominated by the point's own cluster (Sec. 3, Fig. 2 and Fig. 7b).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linprog
from sklearn.neighbors import NearestNeighbors

from .. import _checks

__all__ = ["in_convex_hull", "other_cluster_neighbor_fraction"]


def in_convex_hull(points, hull_points) -> np.ndarray:
    """Boolean (m,): is each row of ``points`` (m, d) in the convex hull of ``hull_points``?

    One HiGHS feasibility LP per point (see module docstring).  Raises RuntimeError if the
    solver reports anything but "optimal" (feasible) or "infeasible".
    """
    P = _checks.check_array_2d(points, "points")
    H = _checks.check_array_2d(hull_points, "hull_points")
    if P.shape[1] != H.shape[1]:
        raise ValueError(f"points have {P.shape[1]} columns, hull_points {H.shape[1]}")
    n = H.shape[0]
    A_eq = np.vstack([H.T, np.ones((1, n))])
    c = np.zeros(n)
    out = np.empty(len(P), dtype=bool)
    for i, p in enumerate(P):
        b_eq = np.append(p, 1.0)
        # HiGHS' default (dual simplex) occasionally ends in model status "unknown" on
        # near-degenerate points; the interior-point solver then settles them.
        for method in ("highs", "highs-ipm", "highs-ds"):
            res = linprog(c, A_eq=A_eq, b_eq=b_eq, bounds=(0, None), method=method)
            if res.status in (0, 2):
                break
        else:
            raise RuntimeError(f"linprog failed on point {i}: {res.message}")
        out[i] = res.status == 0
    return out


def other_cluster_neighbor_fraction(
    X, groups, n_neighbors: int = 5, queries=None, query_groups=None
) -> np.ndarray:
    """For each query row, the share of its ``n_neighbors`` nearest rows of X in another cluster.

    Without ``queries`` the rows of X query themselves (the point itself is excluded).
    With ``queries`` (m, d) and their ``query_groups``, neighbours are searched in X.
    """
    X = _checks.check_array_2d(X, "X")
    groups = _checks.check_groups(groups, X.shape[0], min_groups=1)
    k = _checks.check_int(n_neighbors, "n_neighbors", minimum=1)
    if queries is None:
        if k >= len(X):
            raise ValueError(f"n_neighbors={k} needs more than {len(X)} rows")
        nn = NearestNeighbors(n_neighbors=k + 1).fit(X)
        _, idx = nn.kneighbors(X)
        idx, qg = idx[:, 1:], groups
    else:
        Q = _checks.check_array_2d(queries, "queries")
        if Q.shape[1] != X.shape[1]:
            raise ValueError(f"queries have {Q.shape[1]} columns but X has {X.shape[1]}")
        if k > len(X):
            raise ValueError(f"n_neighbors={k} exceeds the {len(X)} rows of X")
        if query_groups is None:
            raise ValueError("query_groups is required with queries: the cluster label of "
                             "each query row")
        qg = _checks.check_groups(query_groups, Q.shape[0], min_groups=1, argname="query_groups")
        _, idx = NearestNeighbors(n_neighbors=k).fit(X).kneighbors(Q)
    return (groups[idx] != np.asarray(qg)[:, None]).mean(axis=1)
