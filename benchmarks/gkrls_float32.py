"""Why the kernel blocks stay float64: the error float32 would put into the basis.

    python benchmarks/gkrls_float32.py [--n 100000] [--rows 20000]

Issue 15 asked for float32 kernel evaluation with float64 accumulation wherever the
golden tests still pass. A krls() column is K(x, anchors) u_j / sqrt(lambda_j), with u_j
the j-th eigenvector of the sketched kernel: for small kept eigenvalues it is a
difference of kernel values of order 1 whose result is of order sqrt(lambda_j), so the
relative rounding of K (6e-8 in float32) is amplified by up to lambda_max / lambda_j.
This script fits the logistic Three Hills design, re-expands ``--rows`` rows of the
kernel basis in float64 (the reference), with float32 K and float64 projection, and
all-float32, and prints each column's max error relative to the column's max |value|.
A relative error of 1e-6 or more in a column already breaks the 1e-6 golden match;
the float32 versions are far beyond that, so the engine keeps float64 and gains its
speed elsewhere (cache-sized blocks, fewer passes: benchmarks/README.md).
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from scipy.special import expit

import flexcausal as fc
from flexcausal.gkrls.kernel import gaussian_kernel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    x1, x2 = rng.uniform(0, 2 * np.pi, (2, args.n))
    y = rng.binomial(1, expit(2 * np.sin(x1) * np.cos(x2))).astype(float)
    df = pd.DataFrame({"x1": x1, "x2": x2, "y": y})
    fit = fc.gam("y ~ krls(x1, x2)", df, family="binomial", progress=False)
    term = fit.terms[1]
    sk = term.sketch_
    enc = term.encode(df.iloc[:args.rows])
    ref = gaussian_kernel(enc, sk.anchors, term.bandwidth) @ sk.weights
    k32 = gaussian_kernel(enc.astype(np.float32), sk.anchors.astype(np.float32),
                          np.float32(term.bandwidth))
    variants = {"float32 K, float64 projection": k32.astype(float) @ sk.weights,
                "float32 K and projection": (k32 @ sk.weights.astype(np.float32)).astype(float)}
    kept = sk.weights.shape[1]
    lam = np.sort(sk.eigenvalues)[::-1][:kept]
    print(f"# N = {args.n}, {args.rows} rows re-expanded, M = {sk.anchors.shape[0]} anchors, "
          f"{kept} columns kept, kept eigenvalues span {lam[0] / lam[-1]:.3g}")
    print(f"{'variant':>32} {'median rel. col. error':>24} {'max':>10} {'cols > 1e-6':>12}")
    for name, X in variants.items():
        err = np.abs(X - ref).max(axis=0) / np.abs(ref).max(axis=0)
        print(f"{name:>32} {np.median(err):>24.3g} {err.max():>10.3g} "
              f"{int(np.sum(err > 1e-6)):>8}/{kept}")


if __name__ == "__main__":
    main()
