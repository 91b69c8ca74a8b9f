"""The NPIV section of ``flexcausal demo``: the demand design at n = 1000, rho = 0.5."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np


def demo_npiv(out_dir, echo=print) -> None:
    """Fit Linear2SLS, Sieve2SLS, KIV and a short F2BMLD run on the demand design; print the
    MSE on DFIV's 2800-point test grid and fit times; save ``npiv_demand_slice.png``.
    (DFIV is left out: its JIT compilation alone takes ~10 s; see benchmarks/npiv_demand.py.)"""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..datasets.demand import demand, demand_test_grid
    from . import F2BMLD, KIV, Linear2SLS, Sieve2SLS

    df = demand(1000, rho=0.5, seed=0)
    grid = demand_test_grid()
    echo("NPIV: demand design (Hartford et al. 2017), n = 1000, rho = 0.5; treatment price,")
    echo("covariates (time, emotion), instrument cost; MSE vs true h on the 2800-point grid")
    ests = {
        "Linear2SLS": Linear2SLS(),
        "Sieve2SLS": Sieve2SLS(),
        "KIV (Nystroem 300)": KIV(nystrom=300),
        "F2BMLD (400 steps)": F2BMLD(outer_steps=400, inner_steps=3, n_particles_x=128,
                                     n_particles_z=128),
    }
    args = dict(treatment=df[["price"]].to_numpy(), instrument=df[["cost"]].to_numpy(),
                outcome=df["outcome"].to_numpy(), covariates=df[["time", "emotion"]].to_numpy())
    echo(f"{'method':26s} {'MSE':>10s} {'fit s':>7s}")
    preds = {}
    for name, est in ests.items():
        start = time.perf_counter()
        est.fit(**args)
        elapsed = time.perf_counter() - start
        preds[name] = est.predict(grid[["price"]].to_numpy(), grid[["time", "emotion"]].to_numpy())
        mse = float(np.mean((preds[name] - grid["structural"].to_numpy()) ** 2))
        echo(f"{name:26s} {mse:10.1f} {elapsed:7.1f}")
    sl = (grid["emotion"] == 4) & np.isclose(grid["time"], grid["time"].unique()[10])
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(grid.loc[sl, "price"], grid.loc[sl, "structural"], "k", lw=2, label="true h")
    for name, pred in preds.items():
        ax.plot(grid.loc[sl, "price"], pred[sl.to_numpy()], label=name)
    ax.set_xlabel("price")
    ax.set_ylabel("h(price, t = 5.3, s = 4)")
    ax.set_title("demand design: structural function slice")
    ax.legend(fontsize=7)
    fig.tight_layout()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "npiv_demand_slice.png", dpi=110)
    plt.close(fig)
    echo(f"saved {out / 'npiv_demand_slice.png'}")
