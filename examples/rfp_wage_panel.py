"""RFP on real clustered data: log wages of 545 men x 8 years (Vella & Verbeek 1998).

``linearmodels.datasets.wage_panel`` ships with linearmodels.  Clusters are people; we hold
out 20% of the *people* (never rows) and predict their log wage from year, experience,
education, race, marital status, union membership and hours.

Two error measures on the held-out people:
* pooled: the pooled forward pass f(theta, x) on all 8 years (a new person, no data);
* adapted: each held-out person's first 4 years (1980-83) are used to adapt
  (``m.adapt(X_c, y_c)``: k inner steps, eq. 20), error on their last 4 years (1984-87).
  Baselines for this column: the pooled model plus the person's mean residual in 1980-83
  ("+ offset", a random-intercept style correction), and the pooled model unadapted.

    .venv/bin/python examples/rfp_wage_panel.py [--repeats 5] [--tune] [--csv FILE]

``--tune`` (issue 14) adds "tuned" rows: ERM, MAML and RFP with hyperparameters chosen
on each split's training people by ``fc.cluster.tune`` (2 folds of people, score = error
after adapting on each held-out person's first half of years, i.e. 1980-83).  ``--csv``
reads the data from a CSV (the file linearmodels ships) instead of importing linearmodels.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import GroupShuffleSplit

from flexcausal.cluster import ClusterRegressor, LocalLinear, RFPConvergenceWarning, tune

FEATURES = ["year", "exper", "educ", "black", "hisp", "married", "union", "hours"]
NN = dict(
    hidden=(32, 32),
    inner_lr=0.1,
    learning_rate=3e-3,
    epochs=200,
    batch_clusters=16,
    early_stopping=True,
    validation_fraction=0.2,
    patience=20,
)
METHODS = {
    "ERM (a=1)": (1.0, 0),
    "MAML (a=0, k=1)": (0.0, 1),
    "RFP (a=0.5, k=1)": (0.5, 1),
    "RFP (a=0.5, k=5)": (0.5, 5),
    "RFP (a=0.75, k=5)": (0.75, 5),
}
TUNE_GRIDS = {
    "ERM tuned": {"pooled_weight": [1.0], "inner_steps": [0], "inner_lr": [0.02, 0.1]},
    "MAML tuned": {"pooled_weight": [0.0], "inner_steps": [1, 5], "inner_lr": [0.02, 0.1]},
    "RFP tuned": {"pooled_weight": [0.25, 0.5, 0.75], "inner_steps": [1, 5],
                  "inner_lr": [0.02, 0.1]},
}


def evaluate(predict, adapt, X, y, g, early):
    """(pooled MSE on all rows, adapted MSE on late rows, offset-corrected MSE on late rows)."""
    pooled = predict(X)
    late_err, off_err = [], []
    for c in np.unique(g):
        fit_rows, eval_rows = (g == c) & early, (g == c) & ~early
        off = np.mean(y[fit_rows] - pooled[fit_rows])
        off_err.append(pooled[eval_rows] + off - y[eval_rows])
        if adapt is not None:
            late_err.append(adapt(X[fit_rows], y[fit_rows])(X[eval_rows]) - y[eval_rows])
    adapted = float(np.mean(np.concatenate(late_err) ** 2)) if late_err else np.nan
    return float(np.mean((pooled - y) ** 2)), adapted, float(np.mean(np.concatenate(off_err) ** 2))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5, help="random splits of the people")
    ap.add_argument("--tune", action="store_true", help="add tuned ERM / MAML / RFP rows")
    ap.add_argument("--csv", default=None, help="read wage_panel from this CSV")
    args = ap.parse_args(argv)
    if args.csv:
        df = pd.read_csv(args.csv)
    else:
        from linearmodels.datasets import wage_panel

        df = wage_panel.load()
    df = df.sort_values(["nr", "year"]).reset_index(drop=True)
    X = df[FEATURES].to_numpy(float)
    y = df["lwage"].to_numpy(float)
    g = df["nr"].to_numpy()
    early = df["year"].to_numpy() <= 1983
    print(
        f"wage_panel: {len(df)} rows, {len(np.unique(g))} people x 8 years; "
        f"{args.repeats} random splits, 20% of people held out"
    )
    res: dict[str, list] = {}
    chosen: dict[str, list] = {}
    splits = GroupShuffleSplit(n_splits=args.repeats, test_size=0.2, random_state=0)
    t0 = time.perf_counter()
    for r, (tr, te) in enumerate(splits.split(X, y, g)):
        Xt, yt, gt, et = X[te], y[te], g[te], early[te]
        ols = LinearRegression().fit(X[tr], y[tr])
        res.setdefault("pooled OLS", []).append(evaluate(ols.predict, None, Xt, yt, gt, et))
        for name, (a, k) in METHODS.items():
            m = ClusterRegressor(pooled_weight=a, inner_steps=k, seed=r, **NN)
            m.fit(X[tr], y[tr], groups=g[tr])
            steps = max(k, 1)

            def adapt(Xc, yc, m=m, steps=steps):
                return m.adapt(Xc, yc, steps=steps).predict

            res.setdefault(name, []).append(evaluate(m.predict, adapt, Xt, yt, gt, et))
        for name, grid in TUNE_GRIDS.items() if args.tune else ():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RFPConvergenceWarning)
                tuned = tune(ClusterRegressor(seed=r, **NN), X[tr], y[tr], g[tr], grid, cv=2,
                             seed=r)
                m = tuned.best_estimator_
                steps = max(m.inner_steps, 1)

                def adapt(Xc, yc, m=m, steps=steps):
                    return m.adapt(Xc, yc, steps=steps).predict

                res_row = evaluate(m.predict, adapt, Xt, yt, gt, et)
            bp = tuned.best_params_
            chosen.setdefault(name, []).append(
                f"({bp['pooled_weight']:g},{bp['inner_steps']},{bp['inner_lr']:g})")
            res.setdefault(name, []).append(res_row)
        ll = LocalLinear().fit(X[tr], y[tr], groups=g[tr])
        res.setdefault("local linear", []).append(evaluate(ll.predict, None, Xt, yt, gt, et))
        print(f"  split {r + 1}/{args.repeats} done ({time.perf_counter() - t0:.0f} s)", flush=True)
    print(f"\nheld-out people, mean +- se over {args.repeats} splits (var(lwage) = {y.var():.3f})")
    print(f"{'method':<20}{'pooled MSE':>18}{'adapted MSE 84-87':>22}{'pooled+offset 84-87':>24}")
    for name, vals in res.items():
        v = np.asarray(vals)
        mean, se = v.mean(axis=0), v.std(axis=0, ddof=1) / np.sqrt(len(v))
        ad = "" if np.isnan(mean[1]) else f"{mean[1]:.4f} +- {se[1]:.4f}"
        print(f"{name:<20}{mean[0]:>9.4f} +- {se[0]:.4f}{ad:>22}{mean[2]:>13.4f} +- {se[2]:.4f}")
    print(
        "(ERM is adapted with 1 inner step; adapted = k inner steps on the person's 1980-83 rows)"
    )
    for name, picks in chosen.items():
        print(f"{name}: chosen (a, k, inner_lr) per split: {', '.join(picks)}")


if __name__ == "__main__":
    main()
