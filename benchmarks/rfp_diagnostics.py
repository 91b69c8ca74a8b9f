"""Fig. 7: convex-hull membership and 5-nearest-neighbour cluster mix vs dimension.

Design (paper, Fig. 7 caption): 25 clusters x 25 observations; clusters differ only in the
mean, mu_c ~ N(0, I_d); rows x = mu_c + z, z ~ N(0, I_d).  For each dimension d we report

(a) P(test point in the convex hull of the 625 training points), by HiGHS linear programming
    (``flexcausal.cluster.diagnostics.in_convex_hull``), for test points that are
    - "iid": an iid sample from the same marginal N(0, 2 I_d) (training set iid too),
    - "same clusters": new rows of the training clusters,
    - "new clusters": rows of 4 clusters not in the training set;
(b) the fraction of each training point's 5 nearest neighbours in a different cluster
    (1 - 1/25 ~ 0.96 if cluster membership were unrelated to location).

    .venv/bin/python benchmarks/rfp_diagnostics.py --seeds 5
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

from flexcausal.cluster.diagnostics import in_convex_hull, other_cluster_neighbor_fraction
from flexcausal.datasets.rfp import rfp_gaussian_clusters

RESULTS = Path(__file__).resolve().parent / "results"


def one(dim: int, seed: int, n_test: int) -> dict:
    rng = np.random.default_rng(seed)
    both = rfp_gaussian_clusters(dim, n_clusters=25, n_per_cluster=50, seed=seed)
    X_all = both.filter(regex=r"^x").to_numpy()
    g_all = both["g"].to_numpy()
    first = both.groupby("g").cumcount().to_numpy() < 25
    X, g = X_all[first], g_all[first]
    same = X_all[~first][rng.choice((~first).sum(), n_test, replace=False)]
    new = rfp_gaussian_clusters(dim, 4, 25, seed=10_000 + seed).filter(regex=r"^x").to_numpy()
    new = new[rng.choice(len(new), n_test, replace=False)]
    X_iid = rng.normal(scale=np.sqrt(2.0), size=(625, dim))
    T_iid = rng.normal(scale=np.sqrt(2.0), size=(n_test, dim))
    return {
        "dim": dim,
        "seed": seed,
        "hull_iid": in_convex_hull(T_iid, X_iid).mean(),
        "hull_same_clusters": in_convex_hull(same, X).mean(),
        "hull_new_clusters": in_convex_hull(new, X).mean(),
        "nn5_other_cluster": other_cluster_neighbor_fraction(X, g, 5).mean(),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--dims", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32, 64])
    ap.add_argument("--n-test", type=int, default=100)
    args = ap.parse_args(argv)
    RESULTS.mkdir(exist_ok=True)
    t0 = time.perf_counter()
    df = pd.DataFrame([one(d, s, args.n_test) for d in args.dims for s in range(args.seeds)])
    cols = ["hull_iid", "hull_same_clusters", "hull_new_clusters", "nn5_other_cluster"]
    mean = df.groupby("dim")[cols].mean()
    se = df.groupby("dim")[cols].std(ddof=1) / np.sqrt(args.seeds)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPU cores; {args.seeds} seeds x "
        f"{args.n_test} test points per dimension; 25 clusters x 25 rows"
    )
    print(f"\n{'dim':>4}" + "".join(f"{c:>22}" for c in cols))
    for d in mean.index:
        print(f"{d:>4}" + "".join(f"{mean.loc[d, c]:>14.3f} +- {se.loc[d, c]:.3f}" for c in cols))
    df.to_csv(RESULTS / "rfp_fig7_diagnostics.csv", index=False)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    for c, lab in zip(
        cols[:3], ["iid", "test rows of training clusters", "new clusters"], strict=True
    ):
        a.errorbar(mean.index, mean[c], yerr=se[c], marker="o", label=lab)
    a.set(
        xscale="log",
        xlabel="dimension d",
        ylabel="P(test point in convex hull)",
        title="(a) interpolation vs extrapolation",
    )
    a.legend()
    b.errorbar(mean.index, mean[cols[3]], yerr=se[cols[3]], marker="o", color="C3")
    b.axhline(24 / 25, ls="--", color="grey", label="no cluster structure (24/25)")
    b.set(
        xscale="log",
        xlabel="dimension d",
        ylabel="share of 5-NN in another cluster",
        title="(b) nearest neighbours come from the own cluster",
        ylim=(0, 1),
    )
    b.legend()
    fig.suptitle("Fig. 7 analogue: 25 clusters x 25 obs, cluster means ~ N(0, I_d)")
    fig.tight_layout()
    fig.savefig(RESULTS / "rfp_fig7_diagnostics.png", dpi=110)
    print(
        f"\nfigure: {RESULTS / 'rfp_fig7_diagnostics.png'}; total {time.perf_counter() - t0:.0f} s"
    )


if __name__ == "__main__":
    main()
