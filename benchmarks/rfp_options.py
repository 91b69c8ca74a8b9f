"""Issue 14 evidence for the defaults: one option at a time against the default RFP fit.

RFP a = 0.5, k = 5, inner_lr = 0.1 (the setting whose adaptation blew up on new clusters
in results/rfp_simulations_d1.txt), early stopping on 20% of the training clusters; each
variant changes one option (``inner_safeguard``, ``validation_score``, ``init``,
``adapt_params``, ``inner_momentum``, ``standardize``), and "authors' exp1" changes all
of them to the authors' exp1 practice (SGD momentum 0.9 at 1e-2, inner 1e-3, k = 2,
pooled validation, their init, X standardized only, all clusters per step).  Metrics as
benchmarks/rfp_tuned.py (new clusters: pooled error vs the population CEF, error after
adapting on half of each new cluster's rows vs its own CEF).

    .venv/bin/python benchmarks/rfp_options.py --designs high1 exp1 --seeds 20 --workers 2
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from rfp_tuned import _se, load_design

RESULTS = Path(__file__).resolve().parent / "results"
BASE = dict(hidden=(64, 64), learning_rate=3e-3, epochs=300, batch_clusters=5,
            early_stopping=True, validation_fraction=0.2, patience=30,
            pooled_weight=0.5, inner_steps=5, inner_lr=0.1)
VARIANTS = {
    "default": {},
    "no safeguard": {"inner_safeguard": "none"},
    "validation pooled": {"validation_score": "pooled"},
    "validation adapted": {"validation_score": "adapted"},
    "init rfp": {"init": "rfp"},
    "head only": {"adapt_params": "head"},
    "inner momentum .9": {"inner_momentum": 0.9},
    "standardize X": {"standardize": "X"},
    "authors' exp1": {"optimizer": "sgd_momentum", "learning_rate": 1e-2, "inner_lr": 1e-3,
                      "inner_steps": 2, "validation_score": "pooled", "init": "rfp",
                      "standardize": "X", "batch_clusters": 64, "patience": 200,
                      "epochs": 2000},
}


def run_one(design: str, seed: int, epochs: int | None = None) -> list[dict]:
    from flexcausal.cluster import ClusterRegressor, RFPConvergenceWarning

    X, y, g, Xt, yt, gt, first, truth, ctruth = load_design(design, seed)
    rows = []
    for name, change in VARIANTS.items():
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RFPConvergenceWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            kw = {**BASE, **change}
            if epochs is not None:
                kw["epochs"] = epochs
            m = ClusterRegressor(seed=seed, **kw).fit(X, y, groups=g)
            fit_warn = len(caught)
            pred = m.predict(Xt)
            err = []
            for c in np.unique(gt):
                fit_rows, eval_rows = (gt == c) & first, (gt == c) & ~first
                try:
                    ad = m.adapt(Xt[fit_rows], yt[fit_rows])
                    err.append(ad.predict(Xt[eval_rows]) - ctruth[eval_rows])
                except FloatingPointError:
                    err.append(np.full(eval_rows.sum(), np.inf))
        e = np.concatenate(err)
        rows.append(dict(design=design, seed=seed, variant=name,
                         pooled=float(np.mean((pred - truth) ** 2)),
                         adapted=float(np.mean(e**2)), adapted_median_cluster=float(
                             np.median([np.mean(x**2) for x in err])),
                         fit_warnings=fit_warn, epochs=m.n_epochs_,
                         seconds=time.perf_counter() - t0))
    return rows


def summarise(df: pd.DataFrame) -> str:
    out = []
    for design, d in df.groupby("design", sort=False):
        out.append(f"\ndesign {design!r} ({d.seed.nunique()} seeds), RFP a=0.5 k=5 "
                   f"inner_lr=0.1 unless changed; mean +- se over seeds")
        out.append(f"{'variant':<22}{'pooled MSE vs truth':>22}{'adapted MSE':>24}"
                   f"{'paired pooled - default':>26}{'epochs':>8}{'s/fit':>7}")
        w = d.pivot(index="seed", columns="variant", values="pooled")
        for v, m in d.groupby("variant", sort=False):
            diff = (w[v] - w["default"]).dropna()
            n_inf = int(np.isinf(m.adapted).sum())
            adapted = (f"{m.adapted.mean():.3g} +- {_se(m.adapted):.2g}" if n_inf == 0 else
                       f"inf in {n_inf} seeds")
            out.append(f"{v:<22}{m.pooled.mean():>12.4f} +- {_se(m.pooled):.4f}"
                       f"{adapted:>24}{diff.mean():>+16.4f} +- {_se(diff):.4f}"
                       f"{m.epochs.mean():>8.0f}{m.seconds.mean():>7.1f}")
    return "\n".join(out)


def _worker(job):
    return run_one(*job)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--designs", nargs="+", default=["high1", "high8", "exp1"])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=None, help="override (smoke tests)")
    ap.add_argument("--out", default=str(RESULTS / "rfp_options_raw.csv"))
    ap.add_argument("--summarise", default=None)
    args = ap.parse_args(argv)
    if args.summarise:
        print(summarise(pd.read_csv(args.summarise)))
        return
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, {args.workers} "
          f"worker(s); seeds {args.first_seed}..{args.first_seed + args.seeds - 1}; base {BASE}")
    jobs = [(d, s, args.epochs) for s in range(args.first_seed, args.first_seed + args.seeds)
            for d in args.designs]
    out = Path(args.out)
    t0 = time.perf_counter()
    records = []

    def save(rows):
        records.extend(rows)
        pd.DataFrame(rows).to_csv(out, mode="a", header=not out.exists(), index=False)
        print(f"  {rows[0]['design']} seed {rows[0]['seed']} ({time.perf_counter() - t0:.0f} s)",
              flush=True)

    if args.workers > 1:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(args.workers, maxtasksperchild=4) as pool:
            for rows in pool.imap_unordered(_worker, jobs):
                save(rows)
    else:
        for job in jobs:
            save(run_one(*job))
    print(summarise(pd.DataFrame(records)))
    print(f"total {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
