"""Heterogeneous effects with the R-learner and gKRLS (gKRLS paper, Supplement E.2), on
simulated data with a known CATE: villages in 8 states at coordinates (lat, lon), a
treatment whose probability depends on the coordinates and the state (confounding), and

    tau(x) = 0.5 + 0.5 lat + 1.0 [state == "S3"]      (one state with a larger effect,
                                                        as Himachal Pradesh in E.2).

Nuisances m(x) = E[Y|X] and e(x) = P(D = 1|X) are cross-fitted gKRLS models (``~ state +
krls(lat, lon)``; e(x) binomial), then tau(x) is the weighted gKRLS regression of the
pseudo-outcome (Nie & Wager 2021). Prints the average CATE and tables of the CATE by
state and by quartile of lat against the truth; ``--sketches K`` also repeats the whole
R-learner over K kernel sketches (``fc.sketch_sensitivity``, Supplement E.1).

    python examples/rlearner_cate.py --n 3000 --folds 5 --sketches 0
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from scipy.special import expit

import flexcausal as fc


def simulate(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    state = rng.integers(0, 8, n)
    df = pd.DataFrame({"lat": rng.normal(size=n) + 0.2 * state - 0.7,
                       "lon": rng.normal(size=n),
                       "state": pd.Categorical([f"S{s}" for s in state])})
    df["d"] = rng.binomial(1, expit(0.8 * df.lat - 0.5 * df.lon + 0.1 * (state - 4)))
    df["tau"] = 0.5 + 0.5 * df.lat + 1.0 * (df.state == "S3")
    base = np.sin(1.5 * df.lat) + 0.5 * df.lon**2 + 0.3 * state
    df["y"] = base + df.d * df.tau + rng.normal(size=n)
    return df


def with_truth(table: pd.DataFrame, truth: pd.Series) -> pd.DataFrame:
    out = table[["level", "n", "estimate", "std_error"]].copy()
    out.insert(2, "true_cate", truth.to_numpy())
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=3000, help="villages (default 3000)")
    parser.add_argument("--folds", type=int, default=5, help="cross-fitting folds")
    parser.add_argument("--seed", type=int, default=0, help="simulation seed")
    parser.add_argument("--sketches", type=int, default=0,
                        help="repeat the R-learner over this many kernel sketches")
    args = parser.parse_args(argv)
    df = simulate(args.n, args.seed)
    formula = "~ state + krls(lat, lon)"
    start = time.perf_counter()
    r = fc.rlearner(df, "y", "d", outcome_formula=formula, treatment_formula=formula,
                    effect_formula=formula, n_folds=args.folds, seed=args.seed)
    elapsed = time.perf_counter() - start
    cate = r.cate()
    rmse = float(np.sqrt(np.mean((cate - df.tau) ** 2)))
    print(f"R-learner, n = {len(df)}, {args.folds} folds, {2 * args.folds + 1} gKRLS fits "
          f"in {elapsed:.1f} s")
    print(f"CATE RMSE vs truth {rmse:.3f} (sd of the true CATE {df.tau.std():.3f})")
    avg = r.average()
    print(f"average CATE {avg.estimate.iloc[0]:.3f} (SE {avg.std_error.iloc[0]:.3f}); "
          f"true sample ATE {df.tau.mean():.3f}\n")
    pd.set_option("display.width", 120)
    by_state = r.by("state")
    truth = df.groupby("state", observed=True).tau.mean()
    print("CATE by state (mean over the state's villages):")
    print(with_truth(by_state, truth).round(3).to_string(index=False), "\n")
    by_lat = r.by("lat", bins=4)
    truth = df.groupby(pd.qcut(df.lat, 4), observed=True).tau.mean()
    print("CATE by quartile of lat:")
    print(with_truth(by_lat, truth).round(3).to_string(index=False))
    if args.sketches > 0:
        def fit_fn(s):
            f = "~ state + krls(lat, lon, seed=s)"
            return fc.rlearner(df, "y", "d", outcome_formula=f, treatment_formula=f,
                               effect_formula=f, n_folds=args.folds, seed=args.seed,
                               progress=False)

        ss = fc.sketch_sensitivity(fit_fn, lambda m: m.by("state"), n_sketches=args.sketches,
                                   seed=1)
        print(f"\nover {args.sketches} kernel sketches (all three models re-sketched):")
        print(ss.table.round(4).to_string(index=False))


if __name__ == "__main__":
    main()
