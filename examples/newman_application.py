"""The first application of the gKRLS paper (Newman 2016; Chang & Goplerud 2024, Fig. 4),
on simulated data of the same shape: the four-part gKRLS logit against Newman's quadratic
hierarchical logit, for the binary outcome and the ordered (4-category) one. The models,
curves and drawing live in ``flexcausal.applications.newman`` (the demo uses them too).

    python examples/newman_application.py --n 3000 --out newman_fig4.png
"""

from __future__ import annotations

import argparse

from flexcausal.applications.newman import figure4
from flexcausal.datasets import newman


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=3000, help="respondents (default 3000)")
    parser.add_argument("--counties", type=int, default=150, help="counties (default 150)")
    parser.add_argument("--seed", type=int, default=0, help="simulation seed (default 0)")
    parser.add_argument("--grid", type=int, default=30, help="grid points (default 30)")
    parser.add_argument("--out", default="newman_fig4.png", help="figure file")
    args = parser.parse_args(argv)
    data = newman(args.n, n_counties=args.counties, seed=args.seed, ordered=True)
    print(f"simulated Newman data: {len(data)} respondents in {data.county.nunique()} "
          "counties")
    fig, _ = figure4(data, n_grid=args.grid)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
