"""Command line: ``flexcausal demo [--out DIR] [--n N] [--only SECTION ...]``.

The demo is a short tour of the library on built-in simulated data. It is made of
*sections*, registered in ``DEMO_SECTIONS`` (name -> ``DemoSection``); each section
prints its results and saves its figures through the ``DemoContext`` it is given.
To add one (e.g. RFP or NPIV), write ``def _demo_xxx(ctx: DemoContext) -> None`` and
add ``"xxx": DemoSection("title", _demo_xxx)`` to ``DEMO_SECTIONS``; keep each section
to a few seconds (the whole demo must stay under a minute on 2 cores).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import __version__

__all__ = ["DEMO_SECTIONS", "DemoContext", "DemoSection", "main"]

DEFAULT_OUT = "flexcausal-demo"
DEFAULT_N = 2000


@dataclass
class DemoContext:
    """What a demo section gets: where to write, how big to make the data, how to print."""

    out: Path
    n: int = DEFAULT_N
    seed: int = 0
    echo: Callable[[str], None] = print
    figures: list[Path] = field(default_factory=list)

    def save(self, fig, name: str, dpi: int = 110) -> Path:
        """Write ``fig`` to ``out/name`` (PNG) and remember it for the final listing."""
        self.out.mkdir(parents=True, exist_ok=True)
        path = self.out / name
        fig.savefig(path, dpi=dpi)
        self.figures.append(path)
        return path

    def heading(self, text: str) -> None:
        self.echo("")
        self.echo(text)
        self.echo("=" * len(text))


@dataclass(frozen=True)
class DemoSection:
    title: str
    run: Callable[[DemoContext], None]


# --------------------------------------------------------------------------- gKRLS
def _rmse(a, b) -> float:
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


def _demo_gkrls(ctx: DemoContext) -> None:
    """Three Hills (a kernel alone) and a mixed design (linear + kernel + random effect)."""
    import flexcausal as fc
    from flexcausal import plotting

    # Three Hills, Three Valleys: Chang & Goplerud (2024, Sec. 4).
    ctx.heading(f"gKRLS 1/2: Three Hills, y = sin(x1) cos(x2) + N(0, 0.5^2), n = {ctx.n}")
    df = fc.datasets.three_hills(ctx.n, seed=ctx.seed)
    start = time.perf_counter()
    fit = fc.gam("y ~ krls(x1, x2)", data=df)
    elapsed = time.perf_counter() - start
    ctx.echo(str(fit.summary()))
    test = fc.datasets.three_hills(ctx.n, seed=ctx.seed + 1)
    ctx.echo("")
    ctx.echo(f"fit time: {elapsed:.2f} s")
    ctx.echo(
        f"RMSE vs truth: {_rmse(fit.predict(test), test['truth']):.4f} on {len(test)} "
        f"new points ({_rmse(fit.fitted_values_, df['truth']):.4f} in-sample; "
        "noise sd 0.5)"
    )

    def truth(grid):
        return fc.datasets.three_hills_truth(grid["x1"], grid["x2"])

    fig = plotting.plot_surface_heatmaps(fit, df, "x1", "x2", truth=truth)
    ctx.save(fig, "three_hills_surface.png")
    fig = plotting.plot_surface_slice(
        fit,
        df,
        "x1",
        truth=truth,
        title=f"Three Hills: slice at x2 = median ({df['x2'].median():.2f})",
    )
    ctx.save(fig, "three_hills_slice_x1.png")

    # Mixed design: Chang & Goplerud (2024, Sec. 4.1) -- group effects outside the kernel.
    formula = "y ~ x3 + krls(x1, x2) + re(g)"
    ctx.heading(f"gKRLS 2/2: hierarchical design, {formula}, n = {ctx.n}, 20 groups")
    ctx.echo("truth: y = 0.5 x3 + sin(x1) + 0.5 x2^2 + u_g + N(0, 1),  u_g ~ N(0, 0.7^2)")
    dh = fc.datasets.hierarchical(ctx.n, n_groups=20, seed=ctx.seed)
    start = time.perf_counter()
    fit_h = fc.gam(formula, data=dh)
    elapsed = time.perf_counter() - start
    ctx.echo(str(fit_h.summary()))
    ctx.echo("")
    ctx.echo(
        f"fit time: {elapsed:.2f} s;  x3 coefficient {fit_h.coef_['x3']:.3f} (true 0.5);"
        f"  RMSE of the fitted mean vs truth: {_rmse(fit_h.fitted_values_, dh['truth']):.4f}"
    )
    fig = plotting.plot_fit_vs_truth(
        fit_h.fitted_values_, dh["truth"], title="hierarchical design: fitted mean vs truth"
    )
    ctx.save(fig, "hierarchical_fit_vs_truth.png")


def _demo_effects(ctx: DemoContext) -> None:
    """Logistic gKRLS with average marginal effects under Bayesian and clustered SEs."""
    import numpy as np
    import pandas as pd

    import flexcausal as fc

    rng = np.random.default_rng(ctx.seed)
    n = ctx.n
    df = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n),
                       "x3": rng.normal(size=n), "school": rng.integers(0, 30, n)})
    eta = np.sin(df.x1) + 0.5 * df.x1 * df.x2 + 0.5 * df.x3 - 0.3
    p = 1 / (1 + np.exp(-eta))
    df["y"] = rng.binomial(1, p).astype(float)
    ctx.heading(f"gKRLS effects: logistic y ~ x3 + krls(x1, x2), n = {n}")
    start = time.perf_counter()
    fit = fc.gam("y ~ x3 + krls(x1, x2)", df, family="binomial")
    ctx.echo(f"fit time {time.perf_counter() - start:.2f} s, edf {fit.edf_total_:.1f}")
    true_ame = float(np.mean(p * (1 - p) * (np.cos(df.x1) + 0.5 * df.x2)))
    for vcov in ("bayes", "cluster"):
        out = fc.marginal_effects(fit, ["x1", "x3"], vcov=vcov,
                                  cluster="school" if vcov == "cluster" else None)
        ctx.echo(f"AMEs on P(y = 1), SEs from {vcov!r}:")
        ctx.echo(out[["term", "estimate", "std_error", "ci_low", "ci_high"]].round(4)
                 .to_string(index=False))
    ctx.echo(f"true sample AME of x1: {true_ame:.4f}")
    ctx.echo(fc.interactions(fit, ["x1", "x2"])[["qoi", "term", "estimate", "std_error"]]
             .round(4).to_string(index=False))
    ctx.save(fc.plot_effects(fit, "x1", n_points=15), "effects_x1.png")


def _demo_newman(ctx: DemoContext) -> None:
    """The gKRLS paper's Fig. 4 (Newman 2016) on simulated data: binary and ordered."""
    from .applications.newman import figure4
    from .datasets import newman

    n = min(ctx.n, 1500)
    ctx.heading(f"gKRLS paper, Sec. 5: the four-part model (krls + re + s + controls), n = {n}")
    data = newman(n, n_counties=max(20, n // 20), seed=ctx.seed, ordered=True)
    fig, _ = figure4(data, n_grid=12, echo=ctx.echo)
    ctx.save(fig, "newman_fig4.png")


def _demo_rfp(ctx: DemoContext) -> None:
    """RFP: ERM vs RFP vs local linear on new clusters."""
    from .cluster.demo import demo_rfp

    ctx.heading("RFP: regularized bilevel training on clustered data")
    ctx.figures.append(demo_rfp(ctx.out, seed=ctx.seed, echo=ctx.echo))


def _demo_npiv(ctx: DemoContext) -> None:
    """Nonparametric IV on the demand design (F2BMLD, KIV, sieve and linear 2SLS)."""
    from .iv.demo import demo_npiv

    ctx.heading("NPIV: demand design (Hartford et al. 2017)")
    demo_npiv(ctx.out, echo=ctx.echo)
    ctx.figures.append(ctx.out / "npiv_demand_slice.png")


# Register new sections here (RFP, NPIV, ...); they run in this order.
DEMO_SECTIONS: dict[str, DemoSection] = {
    "gkrls": DemoSection("gKRLS: kernels, random effects and REML", _demo_gkrls),
    "effects": DemoSection("gKRLS: GLMs, robust SEs and marginal effects", _demo_effects),
    "newman": DemoSection("gKRLS paper's application: Newman (2016), Fig. 4", _demo_newman),
    "rfp": DemoSection("RFP: bilevel training on clustered data", _demo_rfp),
    "npiv": DemoSection("NPIV: F2BMLD, KIV, sieve and linear 2SLS", _demo_npiv),
}


def run_demo(
    out,
    n: int = DEFAULT_N,
    only: Sequence[str] | None = None,
    seed: int = 0,
    echo: Callable[[str], None] = print,
) -> DemoContext:
    """Run the demo sections (all, or those named in ``only``); return the context."""
    names = list(only) if only else list(DEMO_SECTIONS)
    unknown = [s for s in names if s not in DEMO_SECTIONS]
    if unknown:
        raise ValueError(f"unknown demo section(s) {unknown}; choose from {list(DEMO_SECTIONS)}")
    ctx = DemoContext(out=Path(out), n=n, seed=seed, echo=echo)
    start = time.perf_counter()
    echo(f"flexcausal demo: sections {', '.join(names)}; figures go to {ctx.out}/")
    for name in names:
        DEMO_SECTIONS[name].run(ctx)
    echo("")
    echo("figures:")
    for path in ctx.figures:
        echo(f"  {path}")
    echo(f"demo finished in {time.perf_counter() - start:.1f} s")
    return ctx


def _sample_size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 50, got {text!r}") from None
    if value < 50:
        raise argparse.ArgumentTypeError(f"must be an integer >= 50, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flexcausal",
        description="Flexible, trustworthy estimation: gKRLS, RFP, NPIV.",
    )
    parser.add_argument("--version", action="version", version=f"flexcausal {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser(
        "demo",
        help="a short tour on simulated data; writes PNG figures",
        description="A short tour on simulated data; writes PNG figures.",
    )
    demo.add_argument(
        "--out", default=DEFAULT_OUT, help=f"folder for the figures (default: ./{DEFAULT_OUT}/)"
    )
    demo.add_argument(
        "--n",
        type=_sample_size,
        default=DEFAULT_N,
        help=f"rows per simulated data set (default: {DEFAULT_N})",
    )
    demo.add_argument(
        "--only",
        nargs="+",
        choices=list(DEMO_SECTIONS),
        metavar="SECTION",
        help=f"run only these sections: {', '.join(DEMO_SECTIONS)}",
    )
    demo.add_argument("--seed", type=int, default=0, help="simulation seed (default: 0)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``flexcausal`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(None if argv is None else [str(a) for a in argv])
    if args.command == "demo":
        run_demo(args.out, n=args.n, only=args.only, seed=args.seed)
        return 0
    parser.print_help()
    return 2
