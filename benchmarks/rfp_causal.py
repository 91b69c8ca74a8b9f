"""Issue 14 evidence: the effect of a cluster-level treatment with RFP and other outcome models.

Design ``fc.datasets.cluster_trial(60, 20)``: 60 clusters x 20 rows in 4 strata of the
cluster-level control w, treated shares 0.2..0.8 across strata (w confounds), individual
controls x1, x2 with little overlap across clusters, cluster-specific deviations of the
outcome (intercept and slope), effect tau(x) = 1 + 0.5 tanh(x1); the target is the sample
average effect mean(tau) (``attrs["ate"]``).  Per replication and outcome model:

* ``aipw``: cross-fitted doubly robust estimator (2 folds of clusters, propensity = the
  stratum's treated share), cluster-robust standard error, normal 95% interval;
* ``regression``: outcome regression (each arm's model predicts the other arm's clusters);
  point estimate only (its cluster bootstrap refits the models, too slow for 100 reps).

Table: bias, s.d., RMSE over replications, mean s.e., coverage of the 95% interval.

    .venv/bin/python benchmarks/rfp_causal.py --reps 100 --workers 2
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

RESULTS = Path(__file__).resolve().parent / "results"
CTRL = ["w", "x1", "x2"]
NN = dict(hidden=(32, 32), learning_rate=3e-3, epochs=200, batch_clusters=4,
          early_stopping=True, validation_fraction=0.2, patience=20)


def models(seed: int):
    from sklearn.dummy import DummyRegressor
    from sklearn.linear_model import LinearRegression

    from flexcausal.cluster import ClusterRegressor, LocalLinear

    return {
        "difference in means": DummyRegressor(),
        "OLS": LinearRegression(),
        "ERM (a=1)": ClusterRegressor(pooled_weight=1.0, inner_steps=0, seed=seed, **NN),
        "RFP (a=0.5, k=1)": ClusterRegressor(pooled_weight=0.5, inner_steps=1, inner_lr=0.1,
                                             seed=seed, **NN),
        "local linear": LocalLinear(),
        "gKRLS + re(g)": "y ~ w + x1 + x2 + krls(w, x1, x2) + re(g)",
    }


def run_rep(rep: int) -> list[dict]:
    from flexcausal.cluster import RFPConvergenceWarning, cluster_ate
    from flexcausal.datasets import cluster_trial

    df = cluster_trial(60, 20, seed=rep)
    truth = df.attrs["ate"]
    rows = []
    for name, model in models(rep).items():
        for method in ("aipw", "regression"):
            if name == "difference in means" and method == "aipw":
                continue
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RFPConvergenceWarning)
                r = cluster_ate(df, model, controls=CTRL, strata="stratum", method=method,
                                n_folds=2, seed=rep)
            rows.append(dict(rep=rep, model=name, method=method, truth=truth,
                             estimate=r.estimate, se=r.se,
                             covered=float(r.ci_low <= truth <= r.ci_high)
                             if np.isfinite(r.se) else np.nan,
                             seconds=time.perf_counter() - t0))
    return rows


def summarise(df: pd.DataFrame) -> str:
    out = [f"{'model':<22}{'method':<12}{'bias':>9}{'sd':>8}{'RMSE':>8}{'mean se':>9}"
           f"{'cover95':>9}{'s/rep':>7}"]
    for (model, method), d in df.groupby(["model", "method"], sort=False):
        err = d.estimate - d.truth
        cov = d.covered.mean()
        out.append(f"{model:<22}{method:<12}{err.mean():>+9.4f}{err.std(ddof=1):>8.4f}"
                   f"{np.sqrt(np.mean(err**2)):>8.4f}"
                   f"{(d.se.mean() if d.se.notna().any() else np.nan):>9.4f}"
                   f"{(cov if np.isfinite(cov) else np.nan):>9.3f}{d.seconds.mean():>7.1f}")
    n = df.rep.nunique()
    out.append(f"({n} replications; coverage s.e. about {np.sqrt(0.95 * 0.05 / max(n, 1)):.3f};"
               f" bias s.e. = sd / sqrt({n}))")
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=100)
    ap.add_argument("--first-rep", type=int, default=0)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--out", default=str(RESULTS / "rfp_causal_raw.csv"))
    ap.add_argument("--summarise", default=None)
    args = ap.parse_args(argv)
    if args.summarise:
        print(summarise(pd.read_csv(args.summarise)))
        return
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, {args.workers} "
          f"worker(s); cluster_trial(60, 20), reps {args.first_rep}.."
          f"{args.first_rep + args.reps - 1}; NN {NN}")
    out = Path(args.out)
    reps = range(args.first_rep, args.first_rep + args.reps)
    t0 = time.perf_counter()
    records = []

    def save(rows):
        records.extend(rows)
        pd.DataFrame(rows).to_csv(out, mode="a", header=not out.exists(), index=False)

    if args.workers > 1:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(args.workers, maxtasksperchild=10) as pool:
            for i, rows in enumerate(pool.imap_unordered(run_rep, reps)):
                save(rows)
                if (i + 1) % 10 == 0:
                    print(f"  {i + 1} reps ({time.perf_counter() - t0:.0f} s)", flush=True)
    else:
        for rep in reps:
            save(run_rep(rep))
            print(f"  rep {rep} ({time.perf_counter() - t0:.0f} s)", flush=True)
    print(summarise(pd.DataFrame(records)))
    print(f"total {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
