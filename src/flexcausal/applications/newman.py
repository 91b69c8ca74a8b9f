"""The first application of the gKRLS paper (Newman 2016; Chang & Goplerud 2024, Sec. 5,
Fig. 4), on simulated data of the same shape (``fc.datasets.newman``).

Newman (2016) models women's rejection of meritocracy with a hierarchical logit in which
the county's female/male earnings ratio enters as a concave quadratic. Chang and
Goplerud refit it with four parts, all smoothing parameters by REML:

    y ~ <24 controls> + krls(<controls>, earnings_ratio) + re(county) + s(earnings_ratio)

(controls linear and unpenalized, a kernel of all covariates, county random intercepts,
a thin-plate spline of the key variable), and draw (a) the average predicted probability
with the key variable set to each value of a grid for every respondent and (b) the
average marginal effect (AME) of the key variable across that grid, against Newman's
quadratic specification ``y ~ <controls> + ratio + I(ratio**2) + re(county)``. Both
curves carry 95% pointwise delta-method intervals (``fc.marginal_effects`` with a
``conditional`` grid). The supplement's ordered outcome (four categories, ``ocat``) is
drawn for the top category's probability; its cut points are held at their estimates,
as in mgcv's Vp and gKRLS ``calculate_effects``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ..datasets import NEWMAN_CONTROLS, NEWMAN_KEY, newman_truth
from ..gkrls.effects import marginal_effects
from ..gkrls.model import gam

KEY = NEWMAN_KEY
COLORS = {"gKRLS": "#1f4e79", "Newman": "#d35400", "truth": "#333333"}


@dataclass(frozen=True)
class Outcome:
    """One row of the figure: a response column, its family and the category drawn."""

    response: str
    family: str
    label: str
    category: str | None = None  # the response category whose probability is drawn


BINARY = Outcome("y", "binomial", "P(reject meritocracy)")
ORDERED = Outcome("y_ord", "ocat", "P(top of 4 ordered categories)", category="4")


def formulas(response: str, bs: str = "tp") -> dict[str, str]:
    """The four-part gKRLS model and Newman's quadratic hierarchical logit."""
    controls = " + ".join(NEWMAN_CONTROLS)
    kernel = ", ".join([*NEWMAN_CONTROLS, KEY])
    return {
        "gKRLS": f"{response} ~ {controls} + krls({kernel}) + re(county) + s({KEY}, bs='{bs}')",
        "Newman": f"{response} ~ {controls} + {KEY} + I({KEY}**2) + re(county)",
    }


def curves(fit, grid: np.ndarray, category: str | None = None) -> dict[str, pd.DataFrame]:
    """Average predicted probability and AME of the key variable at each grid value (the
    key set to it for every row), with delta-method SEs; ``category`` picks one
    response column of an ordered/multinomial fit."""
    cond = pd.DataFrame({KEY: grid})
    out = {}
    for q, kw in (("prob", {"type": "predict"}),
                  ("ame", {"variables": [KEY], "type": "derivative"})):
        table = marginal_effects(fit, conditional=cond, **kw)
        if category is not None:
            table = table[table["response"] == category]
        out[q] = table[["estimate", "std_error"]].reset_index(drop=True)
    return out


def truth(data: pd.DataFrame, grid: np.ndarray, ordered: bool) -> dict[str, np.ndarray]:
    return {"prob": newman_truth(data, grid, "probability", ordered=ordered),
            "ame": newman_truth(data, grid, "ame", ordered=ordered)}


def draw(axes, fitted: dict, true: dict, grid: np.ndarray, key_values: np.ndarray,
         what: str, panels: str) -> None:
    """Fig. 4's two panels: probability and AME curves with 95% bands, the truth dashed."""
    z = stats.norm.ppf(0.975)
    ax_p, ax_a = axes
    for name in ("Newman", "gKRLS"):
        for ax, q in ((ax_p, "prob"), (ax_a, "ame")):
            est, se = fitted[name][q]["estimate"], fitted[name][q]["std_error"]
            ax.fill_between(grid, est - z * se, est + z * se, color=COLORS[name],
                            alpha=0.15, linewidth=0)
            ax.plot(grid, est, color=COLORS[name], lw=2, label=name)
    for ax, q in ((ax_p, "prob"), (ax_a, "ame")):
        ax.plot(grid, true[q], color=COLORS["truth"], lw=1.5, ls="--", label="truth")
        ax.plot(key_values, np.zeros_like(key_values), "|", color="0.3", ms=6, alpha=0.5,
                transform=ax.get_xaxis_transform())
        ax.set_xlabel("earnings ratio (female / male median earnings in the county)")
    ax_a.axhline(0.0, color="0.5", lw=0.8)
    ax_p.set(ylabel=f"average {what}", title=f"({panels[0]}) average predicted probability")
    ax_a.set(ylabel=f"AME on {what}", title=f"({panels[1]}) average marginal effect")
    ax_p.legend(frameon=False)


def summary_table(fitted: dict, true: dict, grid: np.ndarray, every: int) -> pd.DataFrame:
    """Every ``every``-th grid point: truth and each model's probability and AME."""
    idx = np.arange(0, len(grid), every)
    out = {KEY: grid[idx], "truth_prob": np.asarray(true["prob"])[idx]}
    for name in fitted:
        out[f"{name}_prob"] = fitted[name]["prob"]["estimate"].to_numpy()[idx]
        out[f"{name}_ame"] = fitted[name]["ame"]["estimate"].to_numpy()[idx]
        out[f"{name}_ame_se"] = fitted[name]["ame"]["std_error"].to_numpy()[idx]
    out["truth_ame"] = np.asarray(true["ame"])[idx]
    return pd.DataFrame(out)


def figure4(data: pd.DataFrame, outcomes=(BINARY, ORDERED), n_grid: int = 30,
            bs: str = "tp", echo: Callable[[str], None] = print):
    """Fit both models for each outcome, print a summary table, return the figure and
    the fitted curves ({response: {model: curves}})."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    grid = np.linspace(data[KEY].min(), data[KEY].max(), n_grid)
    fig = Figure(figsize=(12, 4.6 * len(outcomes)), layout="constrained")
    FigureCanvasAgg(fig)
    axes = np.atleast_2d(fig.subplots(len(outcomes), 2))
    key_values = np.unique(data[KEY].to_numpy())
    results = {}
    for r, outcome in enumerate(outcomes):
        fitted = {}
        for name, formula in formulas(outcome.response, bs).items():
            t0 = time.perf_counter()
            fit = gam(formula, data, family=outcome.family)
            seconds = time.perf_counter() - t0
            edf = ", ".join(f"{k.split('(')[0]}: {v:.1f}" for k, v in fit.edf_.items())
            echo(f"[{outcome.family}] {name}: fitted in {seconds:.1f} s, converged "
                 f"{fit.converged_}, edf {{{edf}}}")
            fitted[name] = curves(fit, grid, outcome.category)
        true = truth(data, grid, ordered=outcome.category is not None)
        draw(axes[r], fitted, true, grid, key_values, outcome.label, "abcd"[2 * r:2 * r + 2])
        echo(summary_table(fitted, true, grid, max(1, n_grid // 6))
             .to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        results[outcome.response] = fitted
    fig.suptitle(f"Newman (2016) application, simulated (n = {len(data)}): gKRLS "
                 "four-part model vs the quadratic specification", fontsize=11)
    return fig, results
