"""Coverage of 95% intervals for the average marginal effect (gKRLS, N = 500).

    python benchmarks/gkrls_coverage.py [--reps 500] [--n 500] [--seed 0]

Designs (true AME known for each simulated sample, so the target is the sample AME of
the true surface, conditional on X):
- gaussian: y = sin(x1) + 0.5 x2^2 + 0.5 x3 + N(0, 1), x ~ N(0, I_3);
  model ``y ~ x3 + krls(x1, x2)``; AME of x1 = mean cos(x1_i).
- binomial: P(y = 1) = expit(sin(x1) + 0.5 x1 x2 - 0.3 + 0.5 x3);
  model ``y ~ x3 + krls(x1, x2)``; AME of x1 = mean p_i (1 - p_i) (cos(x1_i) + 0.5 x2_i).
Intervals: estimate +- 1.96 SE with SEs from Vp ("bayes") and from HC1.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import pandas as pd
from scipy.special import expit

import flexcausal as fc


def simulate(design: str, n: int, rng: np.random.Generator) -> tuple[pd.DataFrame, float]:
    x1, x2, x3 = rng.normal(size=(3, n))
    df = pd.DataFrame({"x1": x1, "x2": x2, "x3": x3})
    if design == "gaussian":
        df["y"] = np.sin(x1) + 0.5 * x2**2 + 0.5 * x3 + rng.normal(size=n)
        return df, float(np.mean(np.cos(x1)))
    p = expit(np.sin(x1) + 0.5 * x1 * x2 - 0.3 + 0.5 * x3)
    df["y"] = rng.binomial(1, p).astype(float)
    return df, float(np.mean(p * (1 - p) * (np.cos(x1) + 0.5 * x2)))


def coverage(design: str, reps: int, n: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    hits = {"bayes": 0, "HC1": 0}
    widths = {"bayes": [], "HC1": []}
    errors = []
    for rep in range(reps):
        df, truth = simulate(design, n, rng)
        model = fc.gam(f"y ~ x3 + krls(x1, x2, seed={rep})", df, family=design)
        for vcov in hits:
            est = fc.marginal_effects(model, "x1", vcov=vcov).iloc[0]
            hits[vcov] += est.ci_low <= truth <= est.ci_high
            widths[vcov].append(est.ci_high - est.ci_low)
        errors.append(est.estimate - truth)
    return {
        "design": design,
        "reps": reps,
        "cover_bayes": hits["bayes"] / reps,
        "cover_HC1": hits["HC1"] / reps,
        "width_bayes": float(np.mean(widths["bayes"])),
        "width_HC1": float(np.mean(widths["HC1"])),
        "bias": float(np.mean(errors)),
        "rmse": float(np.sqrt(np.mean(np.square(errors)))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=500)
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"# machine: {platform.machine()}, {os.cpu_count()} cores; command: python "
          f"benchmarks/gkrls_coverage.py --reps {args.reps} --n {args.n} --seed {args.seed}")
    mc_se = np.sqrt(0.95 * 0.05 / args.reps)
    print(f"# Monte Carlo SE of a 95% coverage estimate: {mc_se:.4f}")
    header = (f"{'design':>9} {'reps':>5} {'cover Vp':>9} {'cover HC1':>10} {'width Vp':>9} "
              f"{'width HC1':>10} {'bias':>8} {'RMSE':>7} {'seconds':>8}")
    print(header)
    print("-" * len(header))
    for design in ("gaussian", "binomial"):
        start = time.perf_counter()
        r = coverage(design, args.reps, args.n, args.seed)
        secs = time.perf_counter() - start
        print(f"{design:>9} {r['reps']:>5} {r['cover_bayes']:>9.3f} {r['cover_HC1']:>10.3f} "
              f"{r['width_bayes']:>9.4f} {r['width_HC1']:>10.4f} {r['bias']:>8.4f} "
              f"{r['rmse']:>7.4f} {secs:>8.1f}")


if __name__ == "__main__":
    main()
