"""Issue 14 evidence: held-out-cluster error of *tuned* ERM, MAML, RFP and local linear.

Every neural method is tuned on each seed's training clusters by ``fc.cluster.tune``
(3 folds of whole clusters, score = squared error after adapting on the first half of each
held-out cluster's rows); local linear chooses its bandwidth by cluster CV.  Then, on 50 new
clusters (30 for exp1):

* ``pooled`` = mean (f_hat(x) - truth(x))^2, truth = the population CEF (the paper's
  "draw the CEF"); ``pooled_y`` = error against the outcomes;
* ``adapted`` = after ``adapt`` on the first half of each new cluster's rows, mean squared
  error against that cluster's own CEF on the second half (local linear: pooled).

Designs: "high" = little overlap (Fig. 9a-c) in d = 1, 2, 8, 32 (``rfp_clusters(design=
"high", dim=d, cef="norm")``: truth |x|/sqrt(d)), "low" = much overlap (d = 1), and "exp1" =
the authors' exp1 process (``rfp_exp1``, 20 training clusters x 100 rows).

    .venv/bin/python benchmarks/rfp_tuned.py --designs high1 exp1 --seeds 20 --workers 2
    .venv/bin/python benchmarks/rfp_tuned.py --summarise results/rfp_tuned_raw.csv

Grids (a = pooled_weight, k = inner_steps, eta = inner_lr): ERM a = 1 (adapts with one
safeguarded step of 0.1); MAML a = 0, k in {1, 5}, eta in {0.02, 0.1}; RFP
a in {0.25, 0.5, 0.75} x k in {1, 5} x eta in {0.02, 0.1}; 2 folds of clusters.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

RESULTS = Path(__file__).resolve().parent / "results"

NN = dict(hidden=(64, 64), learning_rate=3e-3, epochs=200, batch_clusters=5,
          early_stopping=True, validation_fraction=0.2, patience=20)
GRIDS = {
    "ERM": {"pooled_weight": [1.0], "inner_steps": [0], "inner_lr": [0.1]},
    "MAML": {"pooled_weight": [0.0], "inner_steps": [1, 5], "inner_lr": [0.02, 0.1]},
    "RFP": {"pooled_weight": [0.25, 0.5, 0.75], "inner_steps": [1, 5],
            "inner_lr": [0.02, 0.1]},
}
DESIGNS = ["high1", "high2", "high8", "high32", "low1", "exp1"]


def make_data(design: str, seed: int):
    from flexcausal.datasets.rfp import rfp_clusters, rfp_exp1

    if design == "exp1":
        return rfp_exp1(20, 100, seed=seed), rfp_exp1(30, 100, seed=10_000 + seed)
    overlap = design.rstrip("0123456789")
    dim = int(design[len(overlap):])
    kw = dict(design=overlap, dim=dim, cef="norm")
    return rfp_clusters(25, 25, seed=seed, **kw), rfp_clusters(50, 25, seed=10_000 + seed, **kw)


def _xy(df):
    return df.filter(regex=r"^x\d+$").to_numpy(), df["y"].to_numpy(), df["g"].to_numpy()


class Design(NamedTuple):
    """Train and test arrays of one replication: ``first`` marks the first half of each
    test cluster's rows (what adaptation sees), ``truth``/``ctruth`` the population and
    the cluster-specific conditional means on the test rows."""

    X: np.ndarray
    y: np.ndarray
    g: np.ndarray
    Xt: np.ndarray
    yt: np.ndarray
    gt: np.ndarray
    first: np.ndarray
    truth: np.ndarray
    ctruth: np.ndarray


def load_design(design: str, seed: int) -> Design:
    train, test = make_data(design, seed)
    first = test.groupby("g").cumcount().to_numpy() < test.groupby("g")["g"].transform(
        "size").to_numpy() // 2
    return Design(*_xy(train), *_xy(test), first, test["truth"].to_numpy(),
                  test["cluster_truth"].to_numpy())


def run_one(design: str, seed: int, folds: int = 2, epochs: int | None = None) -> list[dict]:
    from flexcausal.cluster import ClusterRegressor, LocalLinear, RFPConvergenceWarning, tune

    X, y, g, Xt, yt, gt, first, truth, ctruth = load_design(design, seed)
    rows = []
    for name, grid in GRIDS.items():
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RFPConvergenceWarning)
            nn = NN if epochs is None else {**NN, "epochs": epochs}
            res = tune(ClusterRegressor(seed=seed, **nn), X, y, g, grid, cv=folds, seed=seed)
            m = res.best_estimator_
            pred = m.predict(Xt)
            err, rej = [], 0
            for c in np.unique(gt):
                fit_rows, eval_rows = (gt == c) & first, (gt == c) & ~first
                steps = max(m.inner_steps, 1)  # ERM adapts with one step, for comparability
                ad = m.adapt(Xt[fit_rows], yt[fit_rows], steps=steps)
                rej += ad.adapt_info_["rejected"]
                err.append(ad.predict(Xt[eval_rows]) - ctruth[eval_rows])
        bp = res.best_params_
        rows.append(dict(design=design, seed=seed, method=name,
                         pooled=float(np.mean((pred - truth) ** 2)),
                         pooled_y=float(np.mean((pred - yt) ** 2)),
                         adapted=float(np.mean(np.concatenate(err) ** 2)),
                         a=bp["pooled_weight"], k=bp["inner_steps"], eta=bp["inner_lr"],
                         rejected=rej, seconds=time.perf_counter() - t0))
    t0 = time.perf_counter()
    ll = LocalLinear().fit(X, y, groups=g)
    pred = ll.predict(Xt)
    rows.append(dict(design=design, seed=seed, method="local linear",
                     pooled=float(np.mean((pred - truth) ** 2)),
                     pooled_y=float(np.mean((pred - yt) ** 2)),
                     adapted=float(np.mean((pred[~first] - ctruth[~first]) ** 2)),
                     a=np.nan, k=np.nan, eta=np.nan, rejected=0,
                     seconds=time.perf_counter() - t0))
    return rows


def _se(x):
    return x.std(ddof=1) / np.sqrt(len(x)) if len(x) > 1 else np.nan


def summarise(df: pd.DataFrame) -> str:
    out = []
    for design, d in df.groupby("design", sort=False):
        n = d.seed.nunique()
        out.append(f"\ndesign {design!r} ({n} seeds): new clusters, mean +- se over seeds")
        out.append(f"{'method':<14}{'pooled MSE vs truth':>22}{'MSE vs y':>20}"
                   f"{'adapted MSE':>20}{'s/tune':>8}  chosen (a, k, eta): counts")
        for meth, m in d.groupby("method", sort=False):
            chosen = ("" if meth == "local linear" else
                      ", ".join(f"{t}: {c}" for t, c in m.apply(
                          lambda r: f"({r.a:g},{r.k:g},{r.eta:g})", axis=1)
                          .value_counts().head(3).items()))
            out.append(f"{meth:<14}{m.pooled.mean():>12.4f} +- {_se(m.pooled):.4f}"
                       f"{m.pooled_y.mean():>10.4f} +- {_se(m.pooled_y):.4f}"
                       f"{m.adapted.mean():>10.4f} +- {_se(m.adapted):.4f}"
                       f"{m.seconds.mean():>8.0f}  {chosen}")
        w = {c: d.pivot(index="seed", columns="method", values=c) for c in
             ("pooled", "adapted")}
        for other in ("ERM", "MAML", "local linear"):
            if "RFP" not in w["pooled"] or other not in w["pooled"]:
                continue
            parts = []
            for c in ("pooled", "adapted"):
                diff = (w[c]["RFP"] - w[c][other]).dropna()
                if other == "local linear" and c == "adapted":
                    continue
                parts.append(f"{c} {diff.mean():+.4f} +- {_se(diff):.4f}"
                             f" (RFP better in {int((diff < 0).sum())}/{len(diff)})")
            out.append(f"  paired RFP minus {other}: " + "; ".join(parts))
    return "\n".join(out)


def figure(df: pd.DataFrame, path: Path) -> None:
    """Box plots over seeds of the pooled and the adapted held-out MSE, per design and
    method (log axis; local linear has no adaptation, its adapted box is its pooled)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    designs = list(dict.fromkeys(df.design))
    methods = ["ERM", "MAML", "RFP", "local linear"]
    fig, axes = plt.subplots(2, len(designs), figsize=(2.6 * len(designs), 5.6),
                             squeeze=False)
    for j, design in enumerate(designs):
        d = df[df.design == design]
        for i, col in enumerate(("pooled", "adapted")):
            ax = axes[i][j]
            data = [d[d.method == m][col].to_numpy() for m in methods]
            bp = ax.boxplot([x if len(x) else [np.nan] for x in data], patch_artist=True,
                            widths=0.7)
            for k, patch in enumerate(bp["boxes"]):
                patch.set_facecolor(f"C{k}")
                patch.set_alpha(0.6)
            ax.set_yscale("log")
            ax.set_xticks(range(1, len(methods) + 1), ["ERM", "MAML", "RFP", "LL"],
                          fontsize=8)
            ax.set_title(f"{design}: {col}", fontsize=9)
    axes[0][0].set_ylabel("pooled MSE vs CEF")
    axes[1][0].set_ylabel("adapted MSE vs cluster CEF")
    fig.suptitle("tuned methods on new clusters, one box over seeds per method", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _worker(job):
    return run_one(*job)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--designs", nargs="+", default=DESIGNS)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=None, help="override (smoke tests)")
    ap.add_argument("--out", default=str(RESULTS / "rfp_tuned_raw.csv"))
    ap.add_argument("--summarise", default=None, help="only summarise this raw CSV")
    args = ap.parse_args(argv)
    if args.summarise:
        df = pd.read_csv(args.summarise)
        print(summarise(df))
        figure(df, Path(args.summarise).with_name("rfp_tuned.png"))
        return
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, {args.workers} "
          f"worker process(es); seeds {args.first_seed}..{args.first_seed + args.seeds - 1}; "
          f"NN {NN}; grids {GRIDS}; tune: 2 folds of clusters, adapted score")
    out = Path(args.out)
    done = set()
    if out.exists():  # resume: (design, seed) pairs already in the raw CSV are not rerun
        old = pd.read_csv(out)
        done = {(d, int(s)) for (d, s), grp in old.groupby(["design", "seed"])
                if len(grp) >= len(GRIDS) + 1}
    jobs = [(d, s, 2, args.epochs) for s in range(args.first_seed, args.first_seed + args.seeds)
            for d in args.designs if (d, s) not in done]
    t0 = time.perf_counter()
    if args.workers > 1:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(args.workers, maxtasksperchild=4) as pool:
            for rows in pool.imap_unordered(_worker, jobs):
                pd.DataFrame(rows).to_csv(out, mode="a", header=not out.exists(), index=False)
                print(f"  {rows[0]['design']} seed {rows[0]['seed']} done "
                      f"({time.perf_counter() - t0:.0f} s)", flush=True)
    else:
        for job in jobs:
            rows = run_one(*job)
            pd.DataFrame(rows).to_csv(out, mode="a", header=not out.exists(), index=False)
            print(f"  {job} done ({time.perf_counter() - t0:.0f} s)", flush=True)
    print(summarise(pd.read_csv(out)) if out.exists() else "nothing to run")
    print(f"total {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
