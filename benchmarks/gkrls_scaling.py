"""gKRLS scaling on Three Hills: fit time, peak memory, sketch size, accuracy.

    python benchmarks/gkrls_scaling.py [--sizes 1e3 1e4 1e5 1e6] [--reps 1]

Each size runs in a fresh subprocess so peak RSS is that fit's own; a 200-row warm-up
fit first pays the one-time lazy imports (formulaic), as R's timings exclude library().
The R columns are R gKRLS 1.0.2 / mgcv 1.8-41 measured on the same 2-core machine class
(shared/notes/gkrls-reference.md: ``bam`` fREML, default sketch); with ``--with-r NMAX``
and R + gKRLS installed, R ``bam`` is instead timed now on the same data for N <= NMAX
(peer adapter benchmarks/r_gkrls_fit.R). The ratio column is R bam time / our fit time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

R_BAM_SECONDS = {1_000: 0.21, 10_000: 0.63, 100_000: 8.89, 1_000_000: 203.9}
R_GAM_SECONDS = {1_000: 0.31, 10_000: 3.67, 100_000: 61.0}
R_BAM_RMSE = {1_000: 0.0717, 10_000: 0.0281, 100_000: 0.0109, 1_000_000: 0.0035}


def one_size(n: int, seed: int) -> dict:
    import numpy as np
    import pandas as pd

    import flexcausal as fc

    rng = np.random.default_rng(seed)
    x1, x2 = rng.uniform(0, 2 * np.pi, (2, n))
    df = pd.DataFrame({"x1": x1, "x2": x2, "y": np.sin(x1) * np.cos(x2) + rng.normal(0, 0.5, n)})
    test = pd.DataFrame({"x1": rng.uniform(0, 2 * np.pi, 10_000),
                         "x2": rng.uniform(0, 2 * np.pi, 10_000)})
    truth = np.sin(test.x1) * np.cos(test.x2)
    fc.gam("y ~ krls(x1, x2)", df.iloc[:200])  # warm-up: one-time lazy imports, not fit time
    cpu0, start = time.process_time(), time.perf_counter()
    fit = fc.gam("y ~ krls(x1, x2)", df)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu0
    rmse = float(np.sqrt(np.mean((fit.predict(test) - truth) ** 2)))
    term = fit.terms[1]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB on Linux
    return {"n": n, "seconds": elapsed, "cpu": cpu, "load": os.getloadavg()[0],
            "peak_mib": peak, "m": term.sketch_.size_before,
            "m_kept": term.n_coef, "rmse": rmse, "edf": fit.edf_total_}


def r_peer(n: int, seed: int, engine: str) -> dict | None:
    """Time R gKRLS on the same data through benchmarks/r_gkrls_fit.R (if R is here)."""
    import shutil
    import tempfile

    import numpy as np
    import pandas as pd

    if shutil.which("Rscript") is None:
        return None
    rng = np.random.default_rng(seed)
    x1, x2 = rng.uniform(0, 2 * np.pi, (2, n))
    df = pd.DataFrame({"x1": x1, "x2": x2, "y": np.sin(x1) * np.cos(x2) + rng.normal(0, 0.5, n)})
    tx1, tx2 = rng.uniform(0, 2 * np.pi, (2, 10_000))
    test = pd.DataFrame({"x1": tx1, "x2": tx2, "truth": np.sin(tx1) * np.cos(tx2)})
    with tempfile.TemporaryDirectory() as tmp:
        df.to_csv(f"{tmp}/d.csv", index=False)
        test.to_csv(f"{tmp}/t.csv", index=False)
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "r_gkrls_fit.R")
        env = {**os.environ, "R_LIBS": os.environ.get("R_LIBS", "/opt/rlib")}
        out = subprocess.run(["Rscript", script, f"{tmp}/d.csv", f"{tmp}/t.csv", engine],
                             capture_output=True, text=True, env=env)
    if out.returncode != 0:
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=float, default=[1e3, 1e4, 1e5, 1e6])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--with-r", type=float, default=0, metavar="NMAX",
                        help="also time R gKRLS bam on the same data for N <= NMAX")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_size(args.one, args.seed)))
        return
    print(f"# machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}")
    print("# command: python benchmarks/gkrls_scaling.py --sizes "
          + " ".join(f"{s:g}" for s in args.sizes)
          + (f" --with-r {args.with_r:g}" if args.with_r else ""))
    header = (f"{'N':>9} {'fit s':>8} {'fit CPU':>8} {'peak MiB':>9} {'M':>5} {'M kept':>7} "
              f"{'RMSE':>8} {'R RMSE':>8} {'R bam s':>8} {'R gam s':>8} {'bam/ours':>9} "
              f"{'load':>5}")
    print(header)
    print("-" * len(header))
    for size in args.sizes:
        n = int(size)
        out = subprocess.run([sys.executable, __file__, "--one", str(n), "--seed",
                              str(args.seed)], capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        bam = R_BAM_SECONDS.get(n, float("nan"))
        peer = r_peer(n, args.seed, "bam") if n <= args.with_r else None
        if peer is not None:  # measured now, on the same data
            bam = peer["seconds"]
            R_BAM_RMSE[n] = peer["rmse"]
        print(f"{n:>9} {r['seconds']:>8.3f} {r['cpu']:>8.2f} {r['peak_mib']:>9.0f} {r['m']:>5} "
              f"{r['m_kept']:>7} {r['rmse']:>8.4f} {R_BAM_RMSE.get(n, float('nan')):>8.4f} "
              f"{bam:>8.2f} {R_GAM_SECONDS.get(n, float('nan')):>8.2f} "
              f"{bam / r['seconds']:>9.1f} {r['load']:>5.1f}", flush=True)


if __name__ == "__main__":
    main()
