"""Matplotlib figures for fitted models: slices with confidence bands, surfaces, fit vs truth.

Every function builds a standalone ``matplotlib.figure.Figure`` on the Agg canvas and
returns it; nothing touches pyplot's global state or calls ``show``. Save with
``fig.savefig("file.png")``. Pass ``ax=`` to draw into an existing Axes instead (its
figure is returned). ``plot_smooth`` (one smooth term, as mgcv ``plot.gam``) returns
the Axes.

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
    "plot_smooth",
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


# ------------------------------------------------------------------ plot_smooth
def _smooth_terms(fit) -> list:
    """The model's penalized terms other than random effects (what ``plot_smooth`` draws)."""
    return [t for t in fit.terms
            if getattr(t, "penalties", None) and getattr(t, "kind", "") not in ("re", "parametric")]


def _find_smooth(fit, term):
    """The Term of ``fit`` that ``term`` (a label such as ``"s(x)"``, or a column name
    smoothed by exactly one term) names; ValueError listing the smooth labels otherwise."""
    if not isinstance(term, str):
        raise TypeError(f"term must be a smooth's label such as 's(x)' (a string), got "
                        f"{type(term).__name__}")
    smooths = _smooth_terms(fit)
    labels = [t.label for t in smooths]
    available = f"the model's smooth terms are {labels}" if labels else \
        "the model has no smooth terms to plot"
    wanted = "".join(term.split())  # labels carry no spaces: 'krls(x1,x2)'
    by_label = {t.label: t for t in fit.terms}
    found = by_label.get(wanted)
    if found is None:
        alone = [t for t in smooths if list(t.columns) == [wanted]]
        if len(alone) == 1:
            found = alone[0]
        elif len(alone) > 1:
            raise ValueError(f"column {term!r} is smoothed by several terms "
                             f"{[t.label for t in alone]}; name one of them")
    if found is None:
        parametric = next((t for t in fit.terms if getattr(t, "kind", "") == "parametric"),
                          None)
        if parametric is not None and (wanted in getattr(parametric, "columns", ())
                                       or wanted in getattr(parametric, "coef_names", ())):
            raise ValueError(f"{term!r} is in the parametric part of the model, not a smooth "
                             f"term (its coefficient is in fit.coef_); {available}")
        raise ValueError(f"no smooth term {term!r} in the model; {available}")
    if getattr(found, "kind", "") == "parametric":
        raise ValueError(f"{term!r} is the parametric part of the model, not a smooth term; "
                         f"{available}")
    if getattr(found, "kind", "") == "re":
        raise ValueError(f"{found.label} is a random effect (one coefficient per level, no "
                         "curve to draw; its estimates are fit.coef_[fit.term_slices_"
                         f"[{found.label!r}]]); {available}")
    if len(found.columns) > 2:
        raise ValueError(f"{found.label} is a smooth of {len(found.columns)} variables; "
                         "plot_smooth draws 1-D smooths (a curve) and 2-D smooths (contours) "
                         "only; use fc.plot_effects or plot_surface_slice for it; "
                         f"{available}")
    return found


def _edf_label(fit, term) -> str:
    """mgcv's axis label: the edf inside the call, ``s(x,3.42)`` / ``s(x,3.42):gA``."""
    label = term.label
    edf = getattr(fit, "edf_", pd.Series(dtype=float)).get(label)
    if edf is None:
        return label
    depth = 0
    for i, ch in enumerate(label):
        depth += ch == "("
        depth -= ch == ")"
        if ch == ")" and depth == 0:
            return f"{label[:i]},{edf:.2f}{label[i:]}"
    return label


def _smooth_contribution(fit, term, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """One term's contribution f_j = X_j b_j on ``frame`` and its se sqrt(diag(X_j V_jj X_j'))
    (V_jj the term's block of ``fit.Vp_``: mgcv ``plot.gam`` with ``seWithMean=FALSE``)."""
    sl = fit.term_slices_[term.label]
    X = np.asarray(term.expand(term.encode(frame)), dtype=float)
    b = np.asarray(fit.coef_, dtype=float)[sl]
    V = np.asarray(fit.Vp_, dtype=float)[sl, sl]
    se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", X, V, X), 0.0))
    return X @ b, se


def _term_grid(term, data: pd.DataFrame, values: dict[str, np.ndarray]) -> pd.DataFrame:
    """A frame with the term's columns set to ``values`` and its ``by`` variable fixed:
    1 for a numeric ``by``, the level for a factor-``by`` term (mgcv ``plot.gam``)."""
    grid = pd.DataFrame({c: np.asarray(v, dtype=float) for c, v in values.items()})
    by, level = getattr(term, "by", None), getattr(term, "by_level", None)
    if by is not None:
        if level is not None:
            series = data[by]
            if isinstance(series.dtype, pd.CategoricalDtype):
                match = [c for c in series.cat.categories if str(c) == level]
                grid[by] = pd.Categorical([match[0]] * len(grid),
                                          categories=series.cat.categories)
            else:
                grid[by] = level
        else:
            grid[by] = 1.0
    return grid


def _term_rows(term, data: pd.DataFrame) -> np.ndarray:
    """Training rows a factor-``by`` term applies to (all rows otherwise)."""
    by, level = getattr(term, "by", None), getattr(term, "by_level", None)
    if by is None or level is None:
        return np.ones(len(data), dtype=bool)
    return data[by].astype(str).to_numpy() == level


def _too_far(gx: np.ndarray, gy: np.ndarray, x: np.ndarray, y: np.ndarray,
             dist: float) -> np.ndarray:
    """mgcv ``exclude.too.far``: grid points farther than ``dist`` from every data point,
    both axes scaled to the grid's unit square."""
    from scipy.spatial import cKDTree

    x0, xr = gx.min(), max(np.ptp(gx), 1e-300)
    y0, yr = gy.min(), max(np.ptp(gy), 1e-300)
    tree = cKDTree(np.column_stack([(x - x0) / xr, (y - y0) / yr]))
    d, _ = tree.query(np.column_stack([(gx - x0) / xr, (gy - y0) / yr]))
    return d > dist


def plot_smooth(
    fit,
    term: str,
    ax=None,
    n_grid: int = 100,
    se_mult: float = 2.0,
    *,
    se: bool = True,
    rug: bool = True,
    n_grid_2d: int = 40,
    too_far: float = 0.1,
    filled: bool = False,
    data=None,
    figsize=(5.5, 4.0),
):
    """Draw one fitted smooth the way mgcv's ``plot.gam`` does; returns the Axes.

    The curve is the term's own contribution to the linear predictor, f_j(x) = X_j(x) b_j
    (other terms and the intercept left out, so it is centred by the identifiability
    constraint), over a grid spanning the training range of its variable(s):

    - 1-D smooths (``s(x)``, ``s(x, by=z)``, ``s(x, by=g)`` per level, ``krls(x)``):
      f_j over ``n_grid`` points with a band f_j +- ``se_mult`` * se, se =
      sqrt(diag(X_j V_jj X_j')) with V_jj the term's block of ``fit.Vp_`` (mgcv
      ``seWithMean=FALSE``), and a rug of the training values (for a factor-``by`` term,
      of the rows at its level). A numeric ``by`` is set to 1 (mgcv plots f(x), not
      z f(x)).
    - 2-D smooths (``s(x1, x2)``, ``te(x1, x2)``, ``krls(x1, x2)``): labelled contours of
      f_j on an ``n_grid_2d`` x ``n_grid_2d`` grid (mgcv ``n2=40``), with ``se=True`` the
      f_j - se_mult se (dashed) and f_j + se_mult se (dotted) contours, and the training
      points. Grid points farther than ``too_far`` from every data point (axes scaled to
      the unit square; mgcv ``too.far``, 0 keeps all) are left blank. ``filled=True``
      adds a filled-contour image under the lines (mgcv ``scheme=2``).

    Args:
        fit: a fitted GAM (``fc.gam``).
        term: the smooth's label as in ``fit.term_slices_`` (``"s(x)"``,
            ``"krls(x1,x2)"``, ``"s(x):gA"``; spaces are ignored), or a column smoothed
            by exactly one term.
        ax: draw into this Axes (default: a new figure).
        n_grid: grid points of a 1-D smooth.
        se_mult: half-width of the band in standard errors (mgcv ``se=2``).
        data: frame giving the ranges and rug (default ``fit.training_["data"]``; needed
            for a model read by ``fc.load``).

    Returns:
        The matplotlib Axes.

    Raises:
        ValueError: unknown term, a parametric or random-effect term, or a smooth of
            more than two variables (naming the term and the model's smooth labels).
    """
    if not hasattr(fit, "coef_") or not hasattr(fit, "terms"):
        raise TypeError(f"fit must be a fitted GAM (from fc.gam), got {type(fit).__name__}")
    smooth = _find_smooth(fit, term)
    if data is None:
        train = getattr(fit, "training_", None)
        if train is None:
            raise ValueError("this model was loaded from disk and keeps no training data; "
                             "pass data= (the frame to take ranges and rug from)")
        data = train["data"]
    data = check_dataframe(data)
    by = getattr(smooth, "by", None)
    check_columns_present(data, list(smooth.columns) + ([by] if by else []))
    for col in smooth.columns:
        if is_categorical(data[col]) or not pd.api.types.is_numeric_dtype(data[col]):
            raise ValueError(f"{smooth.label}: column {col!r} is not numeric (dtype "
                             f"{data[col].dtype}); plot_smooth draws smooths of numeric "
                             "variables")
    if se_mult < 0 or not np.isfinite(se_mult):
        raise ValueError(f"se_mult must be a finite number >= 0, got {se_mult!r}")
    rows = _term_rows(smooth, data)
    ylabel = _edf_label(fit, smooth)
    fig, ax = _new_axes(ax, figsize)
    if len(smooth.columns) == 1:
        if int(n_grid) < 2:
            raise ValueError(f"n_grid must be >= 2, got {n_grid}")
        col = smooth.columns[0]
        x = data[col].to_numpy(dtype=float)
        grid_x = np.linspace(x.min(), x.max(), int(n_grid))
        f, s = _smooth_contribution(fit, smooth, _term_grid(smooth, data, {col: grid_x}))
        if se:
            lo, hi = f - se_mult * s, f + se_mult * s
            ax.fill_between(grid_x, lo, hi, color=_FIT_COLOR, alpha=0.15, linewidth=0)
            ax.plot(grid_x, hi, color=_FIT_COLOR, lw=1, ls="--", gid="se_upper",
                    label=f"+/- {se_mult:g} se")
            ax.plot(grid_x, lo, color=_FIT_COLOR, lw=1, ls="--", gid="se_lower")
        ax.plot(grid_x, f, color=_FIT_COLOR, lw=2, gid="fit", label="fit")
        if rug:
            xr = x[rows]
            ax.plot(xr, np.zeros_like(xr), "|", color="0.3", ms=6, alpha=0.4, gid="rug",
                    transform=ax.get_xaxis_transform())
        ax.set(xlabel=col, ylabel=ylabel)
        return ax

    c1, c2 = smooth.columns
    x = data[c1].to_numpy(dtype=float)
    y = data[c2].to_numpy(dtype=float)
    m = int(n_grid_2d)
    if m < 2:
        raise ValueError(f"n_grid_2d must be >= 2, got {n_grid_2d}")
    gx = np.linspace(x.min(), x.max(), m)
    gy = np.linspace(y.min(), y.max(), m)
    XX, YY = np.meshgrid(gx, gy)
    f, s = _smooth_contribution(fit, smooth,
                               _term_grid(smooth, data, {c1: XX.ravel(), c2: YY.ravel()}))
    if too_far and too_far > 0:
        far = _too_far(XX.ravel(), YY.ravel(), x[rows], y[rows], float(too_far))
        f, s = np.where(far, np.nan, f), np.where(far, np.nan, s)
    F, S = f.reshape(XX.shape), s.reshape(XX.shape)
    if filled:
        vmax = float(np.nanmax(np.abs(F))) or 1.0
        ax.contourf(XX, YY, F, levels=20, cmap="RdBu_r", alpha=0.6, vmin=-vmax, vmax=vmax)
    cs = ax.contour(XX, YY, F, levels=10, colors="k", linewidths=1,
                    negative_linestyles="solid")
    ax.clabel(cs, fontsize=7, fmt="%.2g")
    if se and se_mult > 0:
        ax.contour(XX, YY, F - se_mult * S, levels=cs.levels, colors=_TRUTH_COLOR,
                   linewidths=0.8, linestyles="dashed", negative_linestyles="dashed")
        ax.contour(XX, YY, F + se_mult * S, levels=cs.levels, colors="#2e8b57",
                   linewidths=0.8, linestyles="dotted", negative_linestyles="dotted")
    ax.plot(x[rows], y[rows], ".", color="0.3", ms=1.5, alpha=0.4, gid="data",
            rasterized=True)
    ax.set(xlabel=c1, ylabel=c2, title=ylabel)
    return ax
