"""The RFP section of ``flexcausal demo``: ERM vs RFP vs local linear on new clusters."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

__all__ = ["demo_rfp"]

FIGURE = "rfp_new_clusters.png"


def demo_rfp(out_dir, *, seed: int = 0, echo: Callable[[str], None] = print) -> Path:
    """Fit ERM (a = 1), RFP (a = 0.5, k = 1) and the local-linear smoother to 20 clusters of
    the little-overlap design (``datasets.rfp.rfp_clusters(design="high")``), print their
    error against the population CEF |x| on 40 new clusters, and save one PNG in ``out_dir``.
    Returns the figure's path.  Takes a few seconds (mostly JAX compilation)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..datasets.rfp import rfp_clusters
    from .estimators import ClusterRegressor
    from .local_linear import LocalLinear

    train = rfp_clusters(20, 20, design="high", seed=seed)
    test = rfp_clusters(40, 20, design="high", seed=seed + 1000)
    X, y, g = train[["x1"]].to_numpy(), train["y"].to_numpy(), train["g"].to_numpy()
    Xt = test[["x1"]].to_numpy()
    nn = dict(hidden=(32, 32), learning_rate=1e-2, epochs=80, batch_clusters=5, seed=seed)
    models = {
        "ERM (a=1)": ClusterRegressor(pooled_weight=1.0, inner_steps=0, **nn),
        "RFP (a=0.5, k=1)": ClusterRegressor(pooled_weight=0.5, inner_steps=1, **nn),
        "local linear": LocalLinear(),
    }
    echo("RFP (Power & Ghosh 2025): 20 training clusters x 20 rows, little overlap;")
    echo("y = |x| + cluster intercept/slope + noise; error vs |x| on 40 new clusters")
    echo(f"{'method':<20}{'MSE vs |x|':>12}{'fit (s)':>10}")
    fits = {}
    for name, m in models.items():
        t0 = time.perf_counter()
        m.fit(X, y, groups=g)
        secs = time.perf_counter() - t0
        mse = float(np.mean((m.predict(Xt) - test["truth"]) ** 2))
        echo(f"{name:<20}{mse:>12.4f}{secs:>10.2f}")
        fits[name] = m
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.scatter(X[:, 0], y, c=g, cmap="tab20", s=10, alpha=0.7)
    grid = np.linspace(X.min(), X.max(), 300)[:, None]
    ax.plot(grid[:, 0], np.abs(grid[:, 0]), "k--", lw=1, label="|x| (population CEF)")
    for name, m in fits.items():
        ax.plot(grid[:, 0], m.predict(grid), lw=2, label=name)
    ax.set(xlabel="x", ylabel="y", title="RFP demo: colours are clusters")
    ax.legend(fontsize=8)
    fig.tight_layout()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / FIGURE
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
