"""Time the four-part gKRLS logit of the Newman (2016) application: ours vs R mgcv + gKRLS.

    python benchmarks/newman_fit.py [--sizes 3000 100000] [--seed 0] [--r-timeout 600]

The model of Chang & Goplerud (2024, Sec. 5), on ``fc.datasets.newman(N)`` (150
counties, 24 controls):

    ours: y ~ <controls> + krls(<controls>, earnings_ratio) + re(county) + s(earnings_ratio)
    R:    gam(y ~ <controls> + s(<controls>, earnings_ratio, bs = "gKRLS")
              + s(county, bs = "re") + s(earnings_ratio, bs = <same>), family = binomial,
              method = "REML")        (mgcv 1.8-41, gKRLS 1.0.2, default sketch)

both by REML with the same default kernel sketch (subsampling, multiplier 5, Mahalanobis
standardization; the subsample itself differs, so the fits are close, not identical),
the same spline basis for the key variable (tp where ours has it, else cr, in both),
on the same data (written to a CSV that R reads). A 300-row warm-up fit first pays our
one-time lazy imports, as R's timing excludes library(). When ``Rscript`` with gKRLS
(``/opt/rlib``) is on PATH, R is timed in the same run; an R fit predicted to take over
1.5 x ``--r-timeout`` seconds (from the smallest size, scaled by N p^2) is skipped and an
R fit that runs past ``--r-timeout`` is stopped (both said in the table). Without R, the
committed R figures in ``benchmarks/newman_fit_r.json`` (measured on the machine named
there) are printed instead; ``--write-r-json`` refreshes that file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
R_JSON = os.path.join(HERE, "newman_fit_r.json")

R_SCRIPT = r"""
.libPaths(c("/opt/rlib", .libPaths()))
suppressMessages({library(mgcv); library(gKRLS); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1]); bs <- args[2]; key <- args[3]
controls <- strsplit(args[4], ",")[[1]]
d$county <- factor(d$county)
f <- as.formula(paste0(
  "y ~ ", paste(controls, collapse = " + "),
  " + s(", paste(c(controls, key), collapse = ", "), ", bs = 'gKRLS')",
  " + s(county, bs = 're') + s(", key, ", bs = '", bs, "')"))
t0 <- proc.time()[["elapsed"]]
fit <- gam(f, data = d, family = binomial(), method = "REML")
secs <- proc.time()[["elapsed"]] - t0
edf <- sapply(fit$smooth, function(s) sum(fit$edf[s$first.para:s$last.para]))
cat(toJSON(list(seconds = secs, converged = fit$converged, reml = fit$gcv.ubre[[1]],
                edf = unname(edf), p = length(coef(fit)),
                mgcv = as.character(packageVersion("mgcv")),
                gkrls = as.character(packageVersion("gKRLS"))),
           auto_unbox = TRUE, digits = NA), "\n")
"""


def spline_basis() -> str:
    from flexcausal.gkrls.terms.registry import BASES

    return "tp" if "tp" in BASES else "cr"


def make_data(n: int, seed: int):
    import flexcausal as fc

    return fc.datasets.newman(n, seed=seed)


def formula(bs: str) -> str:
    from flexcausal.datasets import NEWMAN_CONTROLS, NEWMAN_KEY

    controls = " + ".join(NEWMAN_CONTROLS)
    kernel = ", ".join([*NEWMAN_CONTROLS, NEWMAN_KEY])
    return (f"y ~ {controls} + krls({kernel}) + re(county) "
            f"+ s({NEWMAN_KEY}, bs='{bs}')")


def ours(df, bs: str) -> dict:
    import flexcausal as fc

    f = formula(bs)
    fc.gam(f, df.iloc[:300], family="binomial")  # warm-up: lazy imports, not fit time
    start = time.perf_counter()
    fit = fc.gam(f, df, family="binomial")
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "converged": bool(fit.converged_), "reml": float(fit.reml_),
            "edf": [round(float(v), 2) for v in fit.edf_], "p": len(fit.coef_)}


def r_available() -> bool:
    if shutil.which("Rscript") is None:
        return False
    probe = subprocess.run(
        ["Rscript", "-e", '.libPaths(c("/opt/rlib", .libPaths())); '
         "suppressMessages({library(mgcv); library(gKRLS); library(jsonlite)})"],
        capture_output=True, text=True)
    return probe.returncode == 0


def r_fit(df, bs: str, timeout: float) -> dict:
    from flexcausal.datasets import NEWMAN_CONTROLS, NEWMAN_KEY

    with tempfile.TemporaryDirectory() as tmp:
        csv, script = os.path.join(tmp, "newman.csv"), os.path.join(tmp, "fit.R")
        df.to_csv(csv, index=False)
        with open(script, "w") as fh:
            fh.write(R_SCRIPT)
        try:
            out = subprocess.run(["Rscript", script, csv, bs, NEWMAN_KEY,
                                  ",".join(NEWMAN_CONTROLS)],
                                 capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"status": f"stopped after {timeout:.0f} s"}
    if out.returncode != 0:
        return {"status": "R failed: " + out.stderr.strip().splitlines()[-1][:120]}
    return {"status": "ok", **json.loads(out.stdout.strip().splitlines()[-1])}


def fmt_r(res: dict | None) -> str:
    if res is None:
        return "-"
    if res.get("status", "ok") != "ok":
        return res["status"]
    return f"{res['seconds']:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[3000, 100_000])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--r-timeout", type=float, default=600.0,
                        help="stop an R fit after this many seconds (default 600)")
    parser.add_argument("--no-r", action="store_true", help="do not run R even if present")
    parser.add_argument("--write-r-json", action="store_true",
                        help=f"store the R figures measured now in {R_JSON}")
    parser.add_argument("--blas-threads", type=int, default=None,
                        help="limit BLAS threads for our fit (threadpoolctl); default: as is")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes]

    limiter = None  # holds the BLAS thread limit for the whole run
    if args.blas_threads is not None:
        from threadpoolctl import threadpool_limits

        limiter = threadpool_limits(args.blas_threads, user_api="blas")
    bs = spline_basis()
    run_r = not args.no_r and r_available()
    stored = None
    if not run_r and os.path.exists(R_JSON):
        with open(R_JSON) as fh:
            stored = json.load(fh)
    print(f"Newman four-part logit (24 controls, krls of 25 covariates, re(county) with 150 "
          f"levels, s(earnings_ratio, bs='{bs}')), REML; seed {args.seed}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, python "
          f"{platform.python_version()}, load average "
          f"{' '.join(f'{v:.1f}' for v in os.getloadavg())}; BLAS threads: "
          f"{args.blas_threads or 'default'}")
    if run_r:
        print("R: timed now (Rscript, mgcv gam + gKRLS)")
    elif stored is not None:
        print(f"R: not run here; committed figures from {os.path.basename(R_JSON)} "
              f"({stored.get('machine', '?')}, {stored.get('date', '?')}, "
              f"s(key) bs='{stored.get('bs', '?')}')")
    else:
        print("R: not available and no committed figures")

    rows, measured = [], {}
    first_r = None  # (n, p, seconds) of the smallest R fit, for the skip rule
    for n in sizes:
        df = make_data(n, args.seed)
        res = ours(df, bs)
        r = None
        if run_r:
            predicted = None
            if first_r is not None:
                n0, p0, s0 = first_r
                predicted = s0 * (n / n0) * (res["p"] / p0) ** 2
            if predicted is not None and predicted > 1.5 * args.r_timeout:
                r = {"status": f"skipped (est. {predicted:.0f} s)"}
            else:
                r = r_fit(df, bs, args.r_timeout)
                if r.get("status") == "ok" and first_r is None:
                    first_r = (n, r["p"], r["seconds"])
            measured[str(n)] = r
        elif stored is not None:
            r = stored.get("results", {}).get(str(n))
        rows.append((n, res, r))
        ratio = (f"{r['seconds'] / res['seconds']:.1f}"
                 if r and r.get("status", "ok") == "ok" else "-")
        print(f"  N={n}: ours {res['seconds']:.1f} s (p={res['p']}, edf {res['edf']}, "
              f"REML {res['reml']:.2f}); R {fmt_r(r)}"
              + (f" (edf {[round(v, 2) for v in r['edf']]}, REML {r['reml']:.2f})"
                 if r and r.get("status", "ok") == "ok" else "") + f"; ratio {ratio}",
              flush=True)

    print()
    print(f"{'N':>8} {'ours s':>9} {'R s':>26} {'R / ours':>9}")
    for n, res, r in rows:
        ratio = (f"{r['seconds'] / res['seconds']:.1f}"
                 if r and r.get("status", "ok") == "ok" else "-")
        print(f"{n:>8} {res['seconds']:>9.1f} {fmt_r(r):>26} {ratio:>9}")

    if args.write_r_json and run_r and measured:
        ok = next((m for m in measured.values() if m.get("status") == "ok"), {})
        payload = {
            "what": "R mgcv gam(method='REML', binomial) + gKRLS, Newman four-part model "
                    "on flexcausal.datasets.newman(N, seed)",
            "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            "date": time.strftime("%Y-%m-%d"),
            "mgcv": ok.get("mgcv"), "gKRLS": ok.get("gkrls"), "bs": bs, "seed": args.seed,
            "results": {n: ({k: v for k, v in m.items() if k not in ("mgcv", "gkrls")})
                        for n, m in measured.items()},
        }
        with open(R_JSON, "w") as fh:
            json.dump(payload, fh, indent=1)
            fh.write("\n")
        print(f"wrote {R_JSON}")
    del limiter
    sys.stdout.flush()


if __name__ == "__main__":
    main()
