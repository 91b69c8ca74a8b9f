"""Speed of one DML-PLR (5 folds, folds of whole clusters, cluster-robust SE) at the size
of the gKRLS paper's Sec. 6 application (N = 32,461 villages, ~1,000 clusters).

Issue 12 target: the gKRLS learner (a kernel on the coordinates + the controls linear,
``~ controls + krls(lat, lon)``, the paper's "gKRLS (Geog.)" learner) in under 60 s on 2
cores (the paper: "a few minutes"). Peers in the same script, same data, same folds:
a random forest on the same covariates, and LassoCV on the controls plus a 4th-order
polynomial in (lat, lon) (the "GHP" basis of Gulzar et al.). Data:
``fc.datasets.gulzar_like`` (known effect, 0.25). DML is doubleml's ``DoubleMLPLR``.

    .venv/bin/python benchmarks/dml_speed.py [--n 32461] [--clusters 1000] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings

import doubleml
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LassoCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler

import flexcausal as fc

CONTROLS = fc.datasets.GULZAR_CONTROLS
X_COLS = [*CONTROLS, "lat", "lon"]
FORMULA = "~ " + " + ".join(CONTROLS) + " + krls(lat, lon)"


def lasso_ghp(seed: int):
    """LassoCV on the controls and a 4th-order polynomial (with interactions) in lat, lon."""
    lat_lon = [X_COLS.index("lat"), X_COLS.index("lon")]
    basis = ColumnTransformer([("ghp", PolynomialFeatures(4, include_bias=False), lat_lon)],
                              remainder="passthrough")
    return make_pipeline(basis, StandardScaler(), LassoCV(cv=5, random_state=seed))


def learners(seed: int):
    """name -> keyword arguments of fc.dml.plr."""
    forest = RandomForestRegressor(n_estimators=200, min_samples_leaf=5, n_jobs=-1,
                                   random_state=seed)
    return {
        "gKRLS ~ controls + krls(lat, lon)": {"formula": FORMULA},
        "random forest (200 trees, leaf 5)": {"x": X_COLS, "ml_l": forest, "ml_m": forest},
        "LassoCV (controls + GHP poly 4)": {"x": X_COLS, "ml_l": lasso_ghp(seed),
                                            "ml_m": lasso_ghp(seed)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=32_461)
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    df = fc.datasets.gulzar_like(args.n, args.clusters, seed=args.seed)
    effect = df.attrs["effect"]
    print(f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} CPU "
          f"cores; doubleml {doubleml.__version__}, scikit-learn {sklearn.__version__}, "
          f"flexcausal {fc.__version__}")
    print(f"command: python benchmarks/dml_speed.py --n {args.n} --clusters {args.clusters} "
          f"--folds {args.folds} --seed {args.seed}")
    print(f"data: fc.datasets.gulzar_like, N = {args.n}, {df.cluster.nunique()} clusters, "
          f"{df.treat.mean():.0%} treated, true effect {effect}")
    print(f"DML-PLR (doubleml.DoubleMLPLR, partialling out), {args.folds} folds of whole "
          "clusters (one draw, seeded), cluster-robust SE; every learner fitted "
          f"{2 * args.folds} times\n")
    header = (f"{'learner':36s} {'estimate':>9s} {'bias':>7s} {'cluster SE':>10s} "
              f"{'95% CI':>18s} {'seconds':>8s} {'CPU s':>7s} {'time ratio':>10s}")
    print(header)
    print("-" * len(header))
    base = None
    for name, kwargs in learners(args.seed).items():
        t0, c0 = time.perf_counter(), time.process_time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=UserWarning)
            obj = fc.dml.plr(df, "y", "treat", cluster="cluster", n_folds=args.folds,
                             seed=args.seed, **kwargs)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        base = base or seconds
        row = fc.dml.tidy(obj).iloc[0]
        ci = f"[{row.ci_low:.3f}, {row.ci_high:.3f}]"
        print(f"{name:36s} {row.estimate:9.4f} {row.estimate - effect:7.4f} "
              f"{row.std_error:10.4f} {ci:>18s} {seconds:8.1f} {cpu:7.1f} {seconds / base:9.2f}x")
    print("seconds: wall clock; CPU s: CPU time of this process over all its threads (on a "
          "busy machine wall clock > CPU s / cores)")
    print()
    met = "met" if base < 60 else "NOT met"
    print(f"target (gKRLS learner, one DML-PLR with {args.folds} folds, < 60 s on 2 cores): "
          f"{met} ({base:.1f} s)")


if __name__ == "__main__":
    main()
