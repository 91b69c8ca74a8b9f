"""The gKRLS paper's Sec. 6 design (Gulzar et al. 2020 shape) on simulated data with a
known effect: five estimators of the treatment effect with cluster-robust inference.

Data: ``fc.datasets.gulzar_like`` (N = 32,461 villages in ~1,000 clusters, a treatment
assigned by a wavy geographic boundary, imbalanced controls, true effect 0.25, the same
for every village, so the PLR theta and the ATE both equal it). Estimators:

* GHP: OLS of y on treat, the controls and a full 4th-order polynomial in (lat, lon)
  (14 terms with interactions; Gulzar et al.'s specification), statsmodels
  ``cov_type="cluster"`` (CR1, G/(G-1) (N-1)/(N-K)).
* gKRLS (Geog.): ``fc.gam("y ~ treat + controls + krls(lat, lon)")``; the coefficient of
  ``treat`` with ``model.vcov(type="cluster", cluster="cluster")``.
* gKRLS (All): ``fc.gam("y ~ treat + krls(lat, lon, controls...)")``: treat linear, one
  kernel over the coordinates and every control.
* DML-PLR / DML-ATE: ``fc.dml.plr`` / ``fc.dml.irm`` with the gKRLS (Geog.) learner
  ``~ controls + krls(lat, lon)`` (logistic for the propensity in DML-ATE), 5 folds of
  whole clusters, doubleml's cluster-robust SE.

Intervals are estimate +/- 1.96 SE (doubleml's own confint for DML).

    .venv/bin/python benchmarks/gulzar_design.py                 # one fit at N = 32,461
    .venv/bin/python benchmarks/gulzar_design.py --coverage --reps 200   # N = 3,000
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
import statsmodels.api as sm
from doubleml.utils import PSProcessorConfig

import flexcausal as fc

CONTROLS = list(fc.datasets.GULZAR_CONTROLS)
Z = 1.959963984540054
RESULTS = Path(__file__).resolve().parent / "results"
ESTIMATORS = ["GHP (OLS, poly 4)", "gKRLS (Geog.)", "gKRLS (All)", "DML-PLR (gKRLS)",
              "DML-ATE (gKRLS)", "DML-ATE (gKRLS, ps clip 0.05)"]
PS_CLIP = 0.05  # the last row: cross-fitted propensities clipped to [0.05, 0.95]


def ghp_design(df: pd.DataFrame) -> pd.DataFrame:
    """treat, the controls and all monomials lat^i lon^j, 1 <= i + j <= 4, plus a constant
    (lat/lon centred first, for conditioning)."""
    lat = df["lat"].to_numpy() - df["lat"].mean()
    lon = df["lon"].to_numpy() - df["lon"].mean()
    cols = {"treat": df["treat"].to_numpy(float)}
    cols.update({c: df[c].to_numpy(float) for c in CONTROLS})
    for deg in range(1, 5):
        for i in range(deg + 1):
            cols[f"lat{deg - i}_lon{i}"] = lat ** (deg - i) * lon ** i
    return sm.add_constant(pd.DataFrame(cols), has_constant="add")


def _row(name, est, se, seconds, ci=None):
    lo, hi = ci if ci is not None else (est - Z * se, est + Z * se)
    return {"estimator": name, "estimate": float(est), "se": float(se), "ci_low": float(lo),
            "ci_high": float(hi), "seconds": float(seconds)}


def fit_ghp(df):
    X = ghp_design(df)
    fit = sm.OLS(df["y"].to_numpy(), X).fit(cov_type="cluster",
                                           cov_kwds={"groups": df["cluster"].to_numpy()})
    return fit.params["treat"], fit.bse["treat"]


def fit_gkrls(df, formula):
    model = fc.gam(formula, df)
    V = model.vcov(type="cluster", cluster=df["cluster"].to_numpy())
    return model.coef_["treat"], np.sqrt(V.loc["treat", "treat"])


def estimate_all(df: pd.DataFrame, folds: int = 5, seed: int = 0,
                 which=tuple(ESTIMATORS)) -> pd.DataFrame:
    """One row per estimator: estimate, cluster-robust se, 95% CI, wall seconds."""
    controls = " + ".join(CONTROLS)
    learner = f"~ {controls} + krls(lat, lon)"
    rows = []
    for name in which:
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=UserWarning)
            if name == ESTIMATORS[0]:
                rows.append(_row(name, *fit_ghp(df), time.perf_counter() - t0))
                continue
            if name == ESTIMATORS[1]:
                est, se = fit_gkrls(df, f"y ~ treat + {controls} + krls(lat, lon)")
            elif name == ESTIMATORS[2]:
                est, se = fit_gkrls(df, f"y ~ treat + krls(lat, lon, {', '.join(CONTROLS)})")
            else:
                dml, options = fc.dml.plr, {}
                if name != ESTIMATORS[3]:
                    dml = fc.dml.irm
                    if name == ESTIMATORS[5]:
                        options = {"ps_processor_config": PSProcessorConfig(
                            clipping_threshold=PS_CLIP)}
                t = fc.dml.tidy(dml(df, "y", "treat", formula=learner, cluster="cluster",
                                    n_folds=folds, seed=seed, **options)).iloc[0]
                rows.append(_row(name, t.estimate, t.std_error, time.perf_counter() - t0,
                                 (t.ci_low, t.ci_high)))
                continue
        rows.append(_row(name, est, se, time.perf_counter() - t0))
    return pd.DataFrame(rows)


def coverage(reps: int = 200, n: int = 3000, n_clusters: int | None = None, seed: int = 0,
             folds: int = 5, which=tuple(ESTIMATORS), progress: bool = False,
             raw_csv: Path | None = None) -> pd.DataFrame:
    """Bias, RMSE, mean SE, SD of the estimates and 95% coverage over ``reps`` draws of
    ``gulzar_like(n, n_clusters)`` (n_clusters default: n / 32.5, the paper's ratio).

    With ``raw_csv`` every replication's rows are appended to that file as soon as they
    are computed, and replications already in it (same seed) are not recomputed, so an
    interrupted run resumes where it stopped."""
    unknown = [w for w in which if w not in ESTIMATORS]
    if unknown:
        raise ValueError(f"unknown estimators {unknown}; choose from {ESTIMATORS}")
    n_clusters = n_clusters or max(folds, round(n / 32.461))
    out = []
    done = set()
    if raw_csv is not None and Path(raw_csv).exists():
        old = pd.read_csv(raw_csv)
        old = old[(old["rep"] < reps) & (old["seed"] == seed + old["rep"])]
        done = {r for r, g in old.groupby("rep") if set(which) <= set(g["estimator"])}
        out.append(old[old["rep"].isin(done) & old["estimator"].isin(which)])
    for r in range(reps):
        if r in done:
            continue
        df = fc.datasets.gulzar_like(n, n_clusters, seed=seed + r)
        res = estimate_all(df, folds=folds, seed=seed + r, which=which)
        res["rep"], res["seed"], res["truth"] = r, seed + r, df.attrs["effect"]
        res["overlap_005"] = float(np.mean((df["propensity"] > 0.05)
                                           & (df["propensity"] < 0.95)))
        out.append(res)
        if raw_csv is not None:
            res.to_csv(raw_csv, mode="a", header=not Path(raw_csv).exists(), index=False)
        if progress:
            print(f"  rep {r + 1}/{reps} done", flush=True)
    raw = pd.concat(out, ignore_index=True)
    raw["error"] = raw["estimate"] - raw["truth"]
    raw["covered"] = (raw["ci_low"] <= raw["truth"]) & (raw["truth"] <= raw["ci_high"])
    summary = raw.groupby("estimator", sort=False).agg(
        bias=("error", "mean"), rmse=("error", lambda e: float(np.sqrt(np.mean(e ** 2)))),
        sd=("estimate", "std"), mean_se=("se", "mean"), coverage=("covered", "mean"),
        seconds=("seconds", "mean"), reps=("rep", "count"))
    summary.attrs["raw"] = raw
    return summary.reset_index()


def _header(args, extra: str) -> list[str]:
    load = os.getloadavg()
    return [f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, load average "
            f"{load[0]:.1f} at start (shared machine); flexcausal {fc.__version__}",
            f"command: python benchmarks/gulzar_design.py {extra}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=None,
                        help="villages (default 32,461; with --coverage 3,000)")
    parser.add_argument("--clusters", type=int, default=None)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--coverage", action="store_true")
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--out", default=None, help="results file (default under results/)")
    parser.add_argument("--which", nargs="+", default=None, metavar="NAME",
                        help="only these estimators (names as in the table)")
    args = parser.parse_args()
    pd.set_option("display.width", 160)
    if args.coverage:
        n = args.n or 3000
        extra = f"--coverage --reps {args.reps} --n {n} --seed {args.seed}" + (
            f" --clusters {args.clusters}" if args.clusters else "") + (
            " --which " + " ".join(f"'{w}'" for w in args.which) if args.which else "")
        lines = _header(args, extra)
        t0 = time.perf_counter()
        stem = f"gulzar_coverage_r{args.reps}" + (f"_c{args.clusters}" if args.clusters else "")
        raw_csv = Path(args.out or RESULTS / f"{stem}.txt").with_suffix(".csv")
        summary = coverage(args.reps, n, args.clusters, args.seed, args.folds, progress=True,
                           raw_csv=raw_csv, which=tuple(args.which or ESTIMATORS))
        overlap = summary.attrs["raw"].groupby("rep")["overlap_005"].first().mean()
        lines += [f"data: gulzar_like(n={n}, n_clusters={args.clusters or round(n / 32.461)}), "
                  f"true effect 0.25, {args.reps} replications (seeds {args.seed}..."
                  f"{args.seed + args.reps - 1}); 95% intervals; {time.perf_counter() - t0:.0f} s"
                  f" in all (resumable: raw rows in {raw_csv.name})",
                  f"overlap: on average {overlap:.0%} of villages have a true propensity in "
                  "[0.05, 0.95] (the boundary is sharp: most villages are almost surely "
                  "treated or untreated)", "",
                  summary.to_string(index=False, float_format="%.4f")]
        out = Path(args.out or RESULTS / f"{stem}.txt")
    else:
        n = args.n or 32_461
        clusters = args.clusters or 1000
        extra = f"--n {n} --clusters {clusters} --seed {args.seed}"
        lines = _header(args, extra)
        df = fc.datasets.gulzar_like(n, clusters, seed=args.seed)
        table = estimate_all(df, folds=args.folds, seed=args.seed)
        lines += [f"data: gulzar_like N = {n}, {df.cluster.nunique()} clusters, "
                  f"{df.treat.mean():.0%} treated, true effect {df.attrs['effect']}", "",
                  table.to_string(index=False, float_format="%.4f")]
        out = Path(args.out or RESULTS / "gulzar_design.txt")
    lines.append(f"load average at end: {os.getloadavg()[0]:.1f}")
    text = "\n".join(lines)
    print(text)
    out.write_text(text + "\n")


if __name__ == "__main__":
    main()
