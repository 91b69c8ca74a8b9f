"""Sec. 5 simulations (Figs. 8-9): held-out-cluster error of ERM, MAML, RFP and local linear.

Designs (``flexcausal.datasets.rfp.rfp_clusters``): "high" = little overlap across clusters
(the paper's "quasi-high-dimensional" Fig. 9a-c), "low" = much overlap (Fig. 9d-f).  Each
seed draws 25 training clusters x 25 rows and 50 *new* clusters x 25 rows for testing.

Columns: ``mse_truth`` = mean (f_hat(x) - |x1|)^2 over the new clusters' rows (how well the
method "draws" the population CEF); ``mse_y`` = error against their outcomes;
``adapted`` = after ``adapt`` on the first half of each new cluster's rows, error against
that cluster's own CEF on the second half (NN methods only).  Mean +- s.e. over seeds.

    .venv/bin/python benchmarks/rfp_simulations.py --seeds 20
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

from flexcausal.cluster import ClusterRegressor, LocalLinear
from flexcausal.datasets.rfp import rfp_clusters

RESULTS = Path(__file__).resolve().parent / "results"

METHODS = {"ERM (a=1)": (1.0, 0)}
METHODS.update({f"MAML k={k}": (0.0, k) for k in (1, 5)})
METHODS.update({f"RFP a={a} k={k}": (a, k) for k in (1, 5) for a in (0.25, 0.5, 0.75)})

NN = dict(
    hidden=(64, 64),
    activation="relu",
    inner_lr=0.1,
    learning_rate=3e-3,
    epochs=400,
    batch_clusters=5,
    early_stopping=True,
    validation_fraction=0.2,
    patience=40,
)


def _split(df):
    X = df.filter(regex=r"^x\d+$").to_numpy()
    return X, df["y"].to_numpy(), df["g"].to_numpy()


def run_seed(design: str, seed: int, dim: int, epochs: int, inner_lr: float):
    train = rfp_clusters(25, 25, design=design, dim=dim, seed=seed)
    test = rfp_clusters(50, 25, design=design, dim=dim, seed=10_000 + seed)
    X, y, g = _split(train)
    Xt, yt, gt = _split(test)
    first = test.groupby("g").cumcount().to_numpy() < 12  # adaptation rows of each new cluster
    rows, fits = [], {}
    for name, (a, k) in METHODS.items():
        t0 = time.perf_counter()
        m = ClusterRegressor(
            pooled_weight=a,
            inner_steps=k,
            seed=seed,
            **{**NN, "epochs": epochs, "inner_lr": inner_lr},
        )
        m.fit(X, y, groups=g)
        pred = m.predict(Xt)
        steps = max(k, 1)  # ERM adapts with one step too, for comparability
        err = []
        for c in np.unique(gt):
            fit_rows, eval_rows = (gt == c) & first, (gt == c) & ~first
            ad = m.adapt(Xt[fit_rows], yt[fit_rows], steps=steps)
            err.append(ad.predict(Xt[eval_rows]) - test["cluster_truth"].to_numpy()[eval_rows])
        adapted = float(np.mean(np.concatenate(err) ** 2))
        rows.append((name, pred, adapted, time.perf_counter() - t0, m.n_epochs_))
        fits[name] = m
    t0 = time.perf_counter()
    ll = LocalLinear().fit(X, y, groups=g)
    rows.append(("local linear", ll.predict(Xt), np.nan, time.perf_counter() - t0, 0))
    fits["local linear"] = ll
    out = []
    for name, pred, adapted, secs, ep in rows:
        out.append(
            {
                "design": design,
                "seed": seed,
                "method": name,
                "mse_truth": float(np.mean((pred - test["truth"]) ** 2)),
                "mse_y": float(np.mean((pred - yt) ** 2)),
                "adapted": adapted,
                "seconds": secs,
                "epochs": ep,
            }
        )
    return out, fits, train


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    def se(x):
        return x.std(ddof=1) / np.sqrt(len(x)) if len(x) > 1 else np.nan

    agg = df.groupby(["design", "method"], sort=False).agg(
        mse_truth=("mse_truth", "mean"),
        se_truth=("mse_truth", se),
        mse_y=("mse_y", "mean"),
        se_y=("mse_y", se),
        adapted=("adapted", "mean"),
        se_adapted=("adapted", se),
        seconds=("seconds", "mean"),
        epochs=("epochs", "mean"),
        seeds=("seed", "nunique"),
    )
    return agg.reset_index()


def paired(df: pd.DataFrame, design: str, a: str, b: str, col="mse_truth"):
    w = df[df.design == design].pivot(index="seed", columns="method", values=col)
    d = w[a] - w[b]
    return d.mean(), d.std(ddof=1) / np.sqrt(len(d))


def plot_fits(fits_by_design, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    show = ["local linear", "MAML k=1", "RFP a=0.5 k=1", "ERM (a=1)"]
    fig, axes = plt.subplots(2, 4, figsize=(15, 7), sharey="row")
    for r, (design, (fits, train)) in enumerate(fits_by_design.items()):
        x = train["x1"].to_numpy()
        grid = np.linspace(x.min(), x.max(), 300)[:, None]
        for c, name in enumerate(show):
            ax = axes[r, c]
            ax.scatter(x, train["y"], c=train["g"], cmap="tab20", s=8, alpha=0.7)
            ax.plot(grid[:, 0], np.abs(grid[:, 0]), "k--", lw=1, label="|x| (truth)")
            ax.plot(grid[:, 0], fits[name].predict(grid), "k", lw=2, label=name)
            ax.set_title(f"design {design!r}: {name}", fontsize=9)
            ax.legend(fontsize=7, loc="upper center")
    fig.suptitle(
        "Fig. 9 analogue (seed 0): 'high' = little overlap, 'low' = much overlap; "
        "colours are clusters"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--designs", nargs="+", default=["high", "low"])
    ap.add_argument("--dim", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=NN["epochs"])
    ap.add_argument("--inner-lr", type=float, default=NN["inner_lr"])
    args = ap.parse_args(argv)
    RESULTS.mkdir(exist_ok=True)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPU cores; seeds 0..{args.seeds - 1}; "
        f"dim {args.dim}; NN {NN['hidden']} relu, inner_lr {args.inner_lr}, adam "
        f"{NN['learning_rate']}, <= {args.epochs} epochs, early stopping on 20% held-out "
        "clusters (patience 40)"
    )
    t0 = time.perf_counter()
    records, figs = [], {}
    for design in args.designs:
        for seed in range(args.seeds):
            out, fits, train = run_seed(design, seed, args.dim, args.epochs, args.inner_lr)
            records += out
            if seed == 0 and args.dim == 1:
                figs[design] = (fits, train)
        print(f"  {design}: done ({time.perf_counter() - t0:.0f} s)", flush=True)
    df = pd.DataFrame(records)
    tag = f"d{args.dim}" + ("" if args.inner_lr == NN["inner_lr"] else f"_lr{args.inner_lr:g}")
    df.to_csv(RESULTS / f"rfp_simulations_{tag}_raw.csv", index=False)
    table = summarise(df)
    pd.set_option("display.width", 160)
    for design in args.designs:
        t = table[table.design == design]
        print(f"\ndesign '{design}' ({int(t.seeds.iloc[0])} seeds): held-out clusters, mean +- se")
        print(
            f"{'method':<18}{'MSE vs truth':>20}{'MSE vs y':>20}{'adapted MSE':>20}"
            f"{'s/fit':>8}{'epochs':>8}"
        )
        for _, r in t.sort_values("mse_truth").iterrows():
            ad = "" if np.isnan(r.adapted) else f"{r.adapted:.3g} +- {r.se_adapted:.2g}"
            print(
                f"{r.method:<18}{r.mse_truth:>11.4f} +- {r.se_truth:.4f}"
                f"{r.mse_y:>11.4f} +- {r.se_y:.4f}{ad:>20}{r.seconds:>8.1f}{r.epochs:>8.0f}"
            )
        rfp_names = [m for m in METHODS if m.startswith("RFP")]
        best = min(rfp_names, key=lambda m: float(t.set_index("method").loc[m, "mse_truth"]))
        for rfp in dict.fromkeys(["RFP a=0.5 k=1", best]):  # pre-specified, then best (post hoc)
            for other in ["ERM (a=1)", "MAML k=1", "MAML k=5", "local linear"]:
                d, s = paired(df, design, rfp, other)
                print(f"  paired: {rfp} minus {other}: {d:+.4f} +- {s:.4f} (MSE vs truth)")
    table.to_csv(RESULTS / f"rfp_simulations_{tag}.csv", index=False)
    if figs:
        plot_fits(figs, RESULTS / f"rfp_fig9_fits_{tag}.png")
        print(f"\nfigure: {RESULTS / f'rfp_fig9_fits_{tag}.png'}")
    print(f"total {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
