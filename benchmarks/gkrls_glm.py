"""Logistic gKRLS at scale: fit time, peak memory, and marginal effects with SEs.

    python benchmarks/gkrls_glm.py [--sizes 1e5 1e6]

Design: logistic Three Hills, P(y = 1) = expit(2 sin(x1) cos(x2)), x ~ U(0, 2 pi)^2,
``y ~ krls(x1, x2)`` with the default sketch, LAML (mgcv ``gam(method="REML")``).
Each size runs in its own subprocess so peak RSS is that run's. The effects column
times ``fc.marginal_effects(fit, ["x1", "x2"])`` (derivative AMEs with Bayesian SEs);
the baseline column times one plain ``predict`` over the data, for scale. CPU columns
are the process's CPU seconds (all threads): on a shared machine they move far less
with the load (last column, 1-minute load average) than the wall times.
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


def one_size(n: int, seed: int) -> dict:
    import numpy as np
    import pandas as pd
    from scipy.special import expit

    import flexcausal as fc

    rng = np.random.default_rng(seed)
    x1, x2 = rng.uniform(0, 2 * np.pi, (2, n))
    p = expit(2 * np.sin(x1) * np.cos(x2))
    df = pd.DataFrame({"x1": x1, "x2": x2, "y": rng.binomial(1, p).astype(float)})
    fc.gam("y ~ krls(x1, x2)", df.iloc[:200], family="binomial")  # warm-up (lazy imports)
    cpu0, start = time.process_time(), time.perf_counter()
    fit = fc.gam("y ~ krls(x1, x2)", df, family="binomial")
    fit_s, fit_cpu = time.perf_counter() - start, time.process_time() - cpu0
    start = time.perf_counter()
    fit.predict(df, type="response")
    predict_s = time.perf_counter() - start
    cpu0, start = time.process_time(), time.perf_counter()
    eff = fc.marginal_effects(fit, ["x1", "x2"])
    effects_s, effects_cpu = time.perf_counter() - start, time.process_time() - cpu0
    truth_ame = np.mean(p * (1 - p) * 2 * np.cos(x1) * np.cos(x2))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rmse = float(np.sqrt(np.mean((fit.fitted_values_ - p) ** 2)))
    return {"n": n, "fit_s": fit_s, "fit_cpu": fit_cpu, "effects_cpu": effects_cpu,
            "load": os.getloadavg()[0], "predict_s": predict_s, "effects_s": effects_s,
            "peak_mib": peak, "m_kept": fit.terms[1].n_coef, "rmse_p": rmse,
            "ame_x1": float(eff.estimate.iloc[0]), "se_x1": float(eff.std_error.iloc[0]),
            "true_ame_x1": float(truth_ame), "n_iter": fit.n_iter_}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=float, default=[1e5, 1e6])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_size(args.one, args.seed)))
        return
    print(f"# machine: {platform.machine()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}")
    print("# command: python benchmarks/gkrls_glm.py --sizes "
          + " ".join(f"{s:g}" for s in args.sizes))
    header = (f"{'N':>9} {'fit s':>8} {'fit CPU':>8} {'peak MiB':>9} {'M kept':>7} "
              f"{'Newton':>7} {'RMSE(p)':>8} {'AME x1':>8} {'SE':>7} {'true AME':>9} "
              f"{'effects s':>10} {'eff CPU':>8} {'predict s':>10} {'eff/pred':>9} {'load':>5}")
    print(header)
    print("-" * len(header))
    for size in args.sizes:
        out = subprocess.run([sys.executable, __file__, "--one", str(int(size)), "--seed",
                              str(args.seed)], capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{r['n']:>9} {r['fit_s']:>8.2f} {r['fit_cpu']:>8.1f} {r['peak_mib']:>9.0f} "
              f"{r['m_kept']:>7} {r['n_iter']:>7} {r['rmse_p']:>8.4f} {r['ame_x1']:>8.4f} "
              f"{r['se_x1']:>7.4f} {r['true_ame_x1']:>9.4f} {r['effects_s']:>10.2f} "
              f"{r['effects_cpu']:>8.1f} {r['predict_s']:>10.2f} "
              f"{r['effects_s'] / r['predict_s']:>9.1f} {r['load']:>5.1f}", flush=True)


if __name__ == "__main__":
    main()
