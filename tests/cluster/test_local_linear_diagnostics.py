"""LocalLinear, the convex-hull LP and the nearest-neighbour diagnostic, against independent
computations (weighted least squares by lstsq, Delaunay triangulation, a hand-made layout)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.spatial import Delaunay

import flexcausal.datasets.rfp as rfp
from flexcausal.cluster import LocalLinear
from flexcausal.cluster.diagnostics import in_convex_hull, other_cluster_neighbor_fraction


def test_local_linear_reproduces_a_linear_function_exactly():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 2))
    y = 1.5 + X @ np.array([2.0, -1.0])
    Xn = rng.normal(size=(10, 2))
    m = LocalLinear(n_neighbors=12, ridge=0.0).fit(X, y)
    np.testing.assert_allclose(m.predict(Xn), 1.5 + Xn @ np.array([2.0, -1.0]), atol=1e-8)


def test_local_linear_matches_weighted_least_squares_by_hand():
    rng = np.random.default_rng(1)
    x = rng.uniform(-2, 2, size=60)
    y = np.sin(2 * x) + 0.1 * rng.normal(size=60)
    x0, k = 0.3, 15
    m = LocalLinear(n_neighbors=k, ridge=0.0, standardize=False).fit(x[:, None], y)
    dist = np.abs(x - x0)
    h = np.sort(dist)[k - 1] * (1 + 1e-8)
    w = np.clip(1 - (dist / h) ** 3, 0, None) ** 3
    Z = np.column_stack([np.ones(60), x - x0]) * np.sqrt(w)[:, None]
    beta = np.linalg.lstsq(Z, y * np.sqrt(w), rcond=None)[0]
    np.testing.assert_allclose(m.predict(np.array([[x0]]))[0], beta[0], rtol=1e-7)


def test_local_linear_cross_validates_by_cluster():
    df = rfp.rfp_clusters(n_clusters=8, n_per_cluster=10, seed=2)
    m = LocalLinear().fit(df[["x1"]].to_numpy(), df["y"].to_numpy(), groups=df["g"].to_numpy())
    assert m.n_neighbors_ in m.cv_grid_ and len(m.cv_mse_) == len(m.cv_grid_)


def test_convex_hull_lp_agrees_with_delaunay():
    rng = np.random.default_rng(3)
    H = rng.normal(size=(30, 2))
    P = rng.normal(scale=1.5, size=(200, 2))
    lp = in_convex_hull(P, H)
    tri = Delaunay(H).find_simplex(P) >= 0
    assert 0 < lp.sum() < len(P)
    np.testing.assert_array_equal(lp, tri)


def test_convex_hull_high_dimension_simplex():
    d = 10
    H = np.vstack([np.zeros(d), np.eye(d)])  # the unit simplex
    inside = np.full((1, d), 0.5 / d)
    outside = np.full((1, d), 2.0 / d)
    assert in_convex_hull(inside, H)[0] and not in_convex_hull(outside, H)[0]


def test_other_cluster_neighbor_fraction_by_hand():
    # two tight clusters far apart, plus one point of cluster 2 sitting inside cluster 0
    X = np.array([[0.0], [0.1], [0.2], [0.3], [0.15], [10.0], [10.1], [10.2]])
    g = np.array([0, 0, 0, 0, 2, 1, 1, 1])
    f = other_cluster_neighbor_fraction(X, g, n_neighbors=2)
    assert f[4] == 1.0 and np.all(f[5:] == 0.0)
    assert f[0] == 0.5  # neighbours of 0.0: 0.1 (cluster 0) and 0.15 (cluster 2)
    q = other_cluster_neighbor_fraction(X, g, 3, queries=np.array([[10.05]]), query_groups=[1])
    assert q[0] == 0.0


def test_rfp_designs_are_reproducible_and_shaped():
    a = rfp.rfp_clusters(n_clusters=5, n_per_cluster=4, design="low", dim=3, seed=1)
    b = rfp.rfp_clusters(n_clusters=5, n_per_cluster=4, design="low", dim=3, seed=1)
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns) == ["x1", "x2", "x3", "y", "g", "truth", "cluster_truth"]
    np.testing.assert_allclose(a["truth"], np.abs(a["x1"]))
    t = rfp.rfp_tragic_triad(seed=0)
    mid = np.abs(t["x1"]) < 1
    np.testing.assert_allclose(t.loc[mid, "cluster_truth"], t.loc[mid, "truth"])
    assert rfp.rfp_gaussian_clusters(dim=4).shape == (625, 4 + 4)
