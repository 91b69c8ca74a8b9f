"""Matplotlib figures for fitted models: slices with confidence bands, surfaces, fit vs truth.

Every function builds a standalone ``matplotlib.figure.Figure`` on the Agg canvas and
returns it; nothing touches pyplot's global state or calls ``show``. Save with
``fig.savefig("file.png")``. Pass ``ax=`` to draw into an existing Axes instead (its
figure is returned).

Bands are pointwise: fit +- z * se, with se = sqrt(diag(X Vp X')) from the Bayesian
covariance Vp (Wood 2017, Sec. 6.10; mgcv ``predict.gam(se.fit=TRUE)``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from scipy import stats

from ._frames import check_columns_present, check_dataframe, is_categorical

__all__ = [
    "plot_effects",
    "plot_fit_vs_truth",
    "plot_surface_heatmaps",
    "plot_surface_slice",
    "reference_row",
]

_FIT_COLOR = "#1f4e79"
_TRUTH_COLOR = "#c0392b"


def _new_axes(ax, figsize, ncols: int = 1):
    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(1, ncols)


def _model_columns(model, data: pd.DataFrame) -> list[str]:
    """Columns of ``data`` that ``model`` uses (all of them if the model does not say)."""
    used = {c for t in getattr(model, "terms", []) for c in getattr(t, "columns", [])}
    return [c for c in data.columns if c in used] or list(data.columns)


def reference_row(data, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """One row holding each column at a typical value: median if numeric, mode otherwise.

    Categorical columns keep their dtype (and categories), so model encodings still work.
    """
    data = check_dataframe(data)
    columns = list(data.columns) if columns is None else list(columns)
    check_columns_present(data, columns)
    row = {}
    for col in columns:
        s = data[col]
        if is_categorical(s):
            value = s.mode(dropna=True).iloc[0]
            row[col] = pd.Series([value], dtype=s.dtype)
        else:
            row[col] = pd.Series([s.median()], dtype=float)
    return pd.DataFrame(row)


def _grid_frame(base: pd.DataFrame, updates: dict[str, np.ndarray]) -> pd.DataFrame:
    n = len(next(iter(updates.values())))
    grid = base.loc[base.index.repeat(n)].reset_index(drop=True)
    for col, values in updates.items():
        grid[col] = values
    return grid


def _z(level: float) -> float:
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    return float(stats.norm.ppf(0.5 + level / 2))


def plot_surface_slice(
    model,
    data,
    var: str,
    *,
    n_grid: int = 100,
    level: float = 0.95,
    at: dict | None = None,
    truth: Callable[[pd.DataFrame], np.ndarray] | None = None,
    rug: bool = True,
    ax=None,
    title: str | None = None,
):
    """Prediction along ``var`` with a pointwise ``level`` band, other inputs held fixed.

    The grid spans the range of ``data[var]``; every other column the model uses is
    held at its median (numeric) or mode (categorical), or at the value given in ``at``.

    Args:
        model: a fitted model with ``predict(newdata, se=True)`` -> DataFrame(fit, se).
        data: the DataFrame the grid and held values come from (usually the training data).
        var: numeric column to vary.
        n_grid: number of grid points.
        level: coverage of the pointwise band (0.95 -> fit +- 1.96 se).
        at: ``{column: value}`` overrides for the held values.
        truth: optional callable ``f(grid_df) -> array`` drawn as the true curve.
        rug: mark the observed values of ``var`` along the x axis.
        ax: draw into this Axes instead of a new figure.
        title: axes title (default describes the held values).

    Returns:
        The matplotlib Figure.
    """
    data = check_dataframe(data)
    check_columns_present(data, [var])
    if is_categorical(data[var]) or not pd.api.types.is_numeric_dtype(data[var]):
        raise TypeError(f"var {var!r} must be a numeric column, got dtype {data[var].dtype}")
    if int(n_grid) < 2:
        raise ValueError(f"n_grid must be >= 2, got {n_grid}")
    z = _z(level)
    columns = _model_columns(model, data)
    held = [c for c in columns if c != var]
    base = reference_row(data, held) if held else pd.DataFrame(index=[0])
    for col, value in (at or {}).items():
        check_columns_present(data, [col], "at")
        base[col] = pd.Series([value], dtype=data[col].dtype)
    x = data[var].to_numpy(dtype=float)
    grid_x = np.linspace(np.min(x), np.max(x), int(n_grid))
    grid = _grid_frame(base, {var: grid_x})
    pred = model.predict(grid, se=True)
    fit, se = pred["fit"].to_numpy(), pred["se"].to_numpy()

    fig, ax = _new_axes(ax, (6.0, 4.0))
    ax.fill_between(
        grid_x,
        fit - z * se,
        fit + z * se,
        color=_FIT_COLOR,
        alpha=0.2,
        linewidth=0,
        label=f"{100 * level:g}% pointwise CI",
    )
    ax.plot(grid_x, fit, color=_FIT_COLOR, lw=2, label="fit")
    if truth is not None:
        ax.plot(
            grid_x,
            np.asarray(truth(grid), dtype=float),
            color=_TRUTH_COLOR,
            lw=1.5,
            ls="--",
            label="truth",
        )
    if rug:
        ax.plot(
            x,
            np.zeros_like(x),
            "|",
            color="0.4",
            ms=6,
            alpha=0.3,
            transform=ax.get_xaxis_transform(),
        )
    if title is None:
        shown = [f"{c}={_fmt(base[c].iloc[0])}" for c in held][:4]
        title = "held at " + ", ".join(shown) if shown else f"prediction along {var}"
    ax.set(xlabel=var, ylabel="prediction", title=title)
    ax.legend(frameon=False)
    return fig


def _fmt(value) -> str:
    return f"{value:.3g}" if isinstance(value, (float, np.floating)) else str(value)


def plot_surface_heatmaps(
    model,
    data,
    x: str,
    y: str,
    *,
    truth: Callable[[pd.DataFrame], np.ndarray] | None = None,
    n_grid: int = 80,
    at: dict | None = None,
    cmap: str = "RdBu_r",
    titles: tuple[str, str] = ("true surface", "fitted surface"),
):
    """Fitted surface over (``x``, ``y``) as a heatmap, beside the true one if ``truth`` is given.

    Other columns are held as in ``plot_surface_slice``. Both panels share one colour
    scale (symmetric about 0) so they can be compared by eye.

    Args:
        truth: optional callable ``f(grid_df) -> array`` giving the true mean on the grid.

    Returns:
        The matplotlib Figure.
    """
    data = check_dataframe(data)
    check_columns_present(data, [x, y])
    held = [c for c in _model_columns(model, data) if c not in (x, y)]
    base = reference_row(data, held) if held else pd.DataFrame(index=[0])
    for col, value in (at or {}).items():
        check_columns_present(data, [col], "at")
        base[col] = pd.Series([value], dtype=data[col].dtype)
    gx = np.linspace(data[x].min(), data[x].max(), int(n_grid))
    gy = np.linspace(data[y].min(), data[y].max(), int(n_grid))
    XX, YY = np.meshgrid(gx, gy)
    grid = _grid_frame(base, {x: XX.ravel(), y: YY.ravel()})
    surfaces = []
    if truth is not None:
        surfaces.append((titles[0], np.asarray(truth(grid), dtype=float).reshape(XX.shape)))
    fitted = np.asarray(model.predict(grid), dtype=float).reshape(XX.shape)
    surfaces.append((titles[1], fitted))
    vmax = max(float(np.max(np.abs(s))) for _, s in surfaces)

    fig, axes = _new_axes(None, (5.2 * len(surfaces), 4.3), ncols=len(surfaces))
    axes = np.atleast_1d(axes)
    for ax, (name, surf) in zip(axes, surfaces, strict=True):
        im = ax.imshow(
            surf,
            origin="lower",
            extent=(gx[0], gx[-1], gy[0], gy[-1]),
            aspect="auto",
            cmap=cmap,
            vmin=-vmax,
            vmax=vmax,
        )
        ax.set(xlabel=x, ylabel=y, title=name)
    fig.colorbar(im, ax=list(axes), shrink=0.9, label="E[y]")
    return fig


def plot_fit_vs_truth(pred, truth, *, ax=None, title: str | None = None):
    """Scatter of predictions against the true means, with the 45-degree line and RMSE.

    Args:
        pred: predictions (array, Series, or the DataFrame of ``predict(se=True)``).
        truth: true conditional means, same length.

    Returns:
        The matplotlib Figure.
    """
    if isinstance(pred, pd.DataFrame):
        if "fit" not in pred:
            raise ValueError("pred is a DataFrame without a 'fit' column")
        pred = pred["fit"]
    p = np.asarray(pred, dtype=float).ravel()
    t = np.asarray(truth, dtype=float).ravel()
    if p.shape != t.shape:
        raise ValueError(f"pred and truth differ in length: {p.size} vs {t.size}")
    if p.size == 0 or not (np.all(np.isfinite(p)) and np.all(np.isfinite(t))):
        raise ValueError("pred and truth must be non-empty and finite")
    rmse = float(np.sqrt(np.mean((p - t) ** 2)))
    fig, ax = _new_axes(ax, (4.8, 4.5))
    ax.scatter(t, p, s=6, alpha=0.35, color=_FIT_COLOR, linewidths=0, rasterized=True)
    lo, hi = float(min(t.min(), p.min())), float(max(t.max(), p.max()))
    ax.plot([lo, hi], [lo, hi], color=_TRUTH_COLOR, lw=1.2, ls="--", label="y = x")
    ax.set(xlabel="truth", ylabel="prediction", title=title or "prediction vs truth")
    ax.set_aspect("equal", adjustable="datalim")
    ax.text(
        0.03, 0.97, f"RMSE = {rmse:.3g}\nn = {p.size}", transform=ax.transAxes, va="top", ha="left"
    )
    ax.legend(frameon=False, loc="lower right")
    return fig


def plot_effects(
    model,
    variable: str,
    type: str = "predict",
    n_points: int = 25,
    vcov="bayes",
    cluster=None,
    data=None,
    level: float = 0.95,
    ax=None,
    figsize=(5.5, 4.0),
):
    """An effect curve over ``variable``'s range with a pointwise confidence band.

    At each of ``n_points`` grid values v, ``variable`` is set to v for every row and the
    effect is averaged over the data ("observed value" approach, gKRLS
    ``calculate_effects(conditional=...)``): ``type="predict"`` gives the average
    predicted response, ``"derivative"`` the average marginal effect at v.
    """
    from .gkrls.effects import marginal_effects

    source = model.training_["data"] if data is None else check_dataframe(data)
    check_columns_present(source, [variable])
    x = source[variable].to_numpy(dtype=float)
    grid = np.linspace(x.min(), x.max(), int(n_points))
    out = marginal_effects(model, [variable], type=type, vcov=vcov, cluster=cluster,
                           conditional=pd.DataFrame({variable: grid}), data=data)
    z = _z(level)
    fig, ax = _new_axes(ax, figsize)
    ax.fill_between(grid, out.estimate - z * out.std_error, out.estimate + z * out.std_error,
                    color=_FIT_COLOR, alpha=0.2, label=f"{int(level * 100)}% CI")
    ax.plot(grid, out.estimate, color=_FIT_COLOR, lw=2, label=type)
    ax.set_xlabel(variable)
    ax.set_ylabel("average prediction" if type == "predict" else f"average {type}")
    ax.legend(frameon=False)
    return fig
