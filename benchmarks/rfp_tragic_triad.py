"""Fig. 5 ("the tragic triad") and Fig. 8: one smoothing parameter cannot serve both regions.

Data: ``flexcausal.datasets.rfp.rfp_tragic_triad`` -- 8 clusters x 30 rows; all clusters
agree on the 'v' |x| for |x| < 1 and bend the tails their own way.  A local-linear smoother
with a small window fits the 'v' but chases each cluster in the tails; a wide window
flattens the 'v'.  We report the error against |x| separately in the middle (|x| < 1)
and in the tails, for local linear at several windows (and the cluster-CV window), ERM and
RFP (Fig. 8: RFP should fit the 'v' without overfitting the tails).

    .venv/bin/python benchmarks/rfp_tragic_triad.py --seeds 10
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

from flexcausal.cluster import ClusterRegressor, LocalLinear
from flexcausal.datasets.rfp import rfp_tragic_triad

RESULTS = Path(__file__).resolve().parent / "results"
NN = dict(hidden=(64, 64), learning_rate=3e-3, epochs=300, batch_clusters=2, inner_lr=0.1)


def models(seed):
    out = {f"local linear k={k}": LocalLinear(n_neighbors=k) for k in (8, 30, 120)}
    out["local linear (CV)"] = LocalLinear()
    out["ERM (a=1)"] = ClusterRegressor(pooled_weight=1.0, inner_steps=0, seed=seed, **NN)
    out["MAML (k=1)"] = ClusterRegressor(pooled_weight=0.0, inner_steps=1, seed=seed, **NN)
    out["RFP (a=0.5, k=1)"] = ClusterRegressor(pooled_weight=0.5, inner_steps=1, seed=seed, **NN)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    args = ap.parse_args(argv)
    RESULTS.mkdir(exist_ok=True)
    t0 = time.perf_counter()
    rows, keep = [], None
    for seed in range(args.seeds):
        df = rfp_tragic_triad(seed=seed)
        X, y, g = df[["x1"]].to_numpy(), df["y"].to_numpy(), df["g"].to_numpy()
        grid = np.linspace(X.min(), X.max(), 400)[:, None]
        mid = np.abs(grid[:, 0]) < 1
        fitted = {}
        for name, m in models(seed).items():
            m.fit(X, y, groups=g)
            err = (m.predict(grid) - np.abs(grid[:, 0])) ** 2
            rows.append(
                {"seed": seed, "method": name, "mid": err[mid].mean(), "tails": err[~mid].mean()}
            )
            fitted[name] = m
        if seed == 0:
            keep = (df, fitted)
    res = pd.DataFrame(rows)
    agg = res.groupby("method", sort=False).agg(["mean", "sem"])
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPU cores; {args.seeds} seeds; "
        "error vs |x| on a grid over the data range"
    )
    print(f"{'method':<22}{'MSE |x|<1 (the v)':>22}{'MSE |x|>=1 (tails)':>22}")
    for name, r in agg.iterrows():
        print(
            f"{name:<22}{r[('mid', 'mean')]:>12.4f} +- {r[('mid', 'sem')]:.4f}"
            f"{r[('tails', 'mean')]:>12.4f} +- {r[('tails', 'sem')]:.4f}"
        )
    res.to_csv(RESULTS / "rfp_fig5_tragic_triad.csv", index=False)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df, fitted = keep
    show = ["local linear k=8", "local linear k=120", "local linear (CV)", "RFP (a=0.5, k=1)"]
    fig, axes = plt.subplots(1, 4, figsize=(16, 4), sharey=True)
    grid = np.linspace(df["x1"].min(), df["x1"].max(), 400)[:, None]
    for ax, name in zip(axes, show, strict=True):
        ax.scatter(df["x1"], df["y"], c=df["g"], cmap="tab10", s=8)
        ax.plot(grid[:, 0], np.abs(grid[:, 0]), "k--", lw=1)
        ax.plot(grid[:, 0], fitted[name].predict(grid), "k", lw=2)
        ax.set_title(name)
    fig.suptitle("Fig. 5 / Fig. 8 analogue: the tragic triad of clustered data (seed 0)")
    fig.tight_layout()
    fig.savefig(RESULTS / "rfp_fig5_tragic_triad.png", dpi=110)
    print(
        f"figure: {RESULTS / 'rfp_fig5_tragic_triad.png'}; total {time.perf_counter() - t0:.0f} s"
    )


if __name__ == "__main__":
    main()
