"""A simulated design shaped like the gKRLS paper's second application (Sec. 6).

Chang and Goplerud (2024, Sec. 6) reanalyse Gulzar, Haas and Pasquale (2020): 32,461
villages, a treatment (a scheduled area with electoral quotas) assigned by a geographic
boundary, imbalance on some pre-treatment controls, errors clustered by administrative
unit; they fit a kernel on latitude/longitude with the controls linear ("gKRLS (Geog.)")
and DML-PLR / DML-ATE with that learner, with cluster-robust standard errors. The real
data are not shipped; ``gulzar_like`` draws data of that shape with a known effect.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit

from .._checks import check_seed
from .simulations import _check_positive_int

__all__ = ["GULZAR_CONTROLS", "gulzar_like", "gulzar_surface"]

GULZAR_CONTROLS = ["log_pop", "literacy", "st_share", "sc_share"]
# the outcome's slopes on the controls (see gulzar_like's docstring)
_BETA = {"log_pop": 0.3, "literacy": 0.8, "st_share": 0.5, "sc_share": -0.4}
_LAT, _LON = (18.0, 24.0), (78.0, 86.0)  # the region, in degrees
_CLUSTER_SD, _NOISE_SD = 0.4, 0.6


def _boundary(lon):
    """Latitude of the scheduled-area boundary at longitude ``lon`` (a wavy line)."""
    return 21.0 + 0.8 * np.sin((lon - 78.0) / 1.3)


def gulzar_surface(lat, lon) -> np.ndarray:
    """The smooth spatial part of the outcome, f(lat, lon): continuous across the
    boundary (as a geographic regression discontinuity assumes)."""
    lat, lon = np.asarray(lat, dtype=float), np.asarray(lon, dtype=float)
    return (0.8 * np.sin(lat - 18.0) * np.cos((lon - 78.0) / 2.0)
            + 0.6 * np.exp(-((lat - 21.5) ** 2 + (lon - 82.0) ** 2) / 3.0))


def gulzar_like(n: int = 32_461, n_clusters: int = 1000, effect: float = 0.25,
                boundary_width: float = 0.5, seed=0) -> pd.DataFrame:
    """Villages in clusters with a boundary-assigned treatment and a known effect.

        y = effect * treat + f(lat, lon) + sum_k beta_k control_k + u_cluster + e,

    f = ``gulzar_surface`` (smooth, correlated with the treated side), u_cluster ~ N(0,
    0.4^2), e ~ N(0, 0.6^2). Cluster centres are uniform on lat [18, 24] x lon [78, 86];
    villages scatter N(0, 0.1^2) degrees around them; cluster sizes vary (Dirichlet
    shares, at least one village each). P(treat = 1) = expit((lat - b(lon)) / w) with a
    wavy boundary b and w = ``boundary_width`` (0.5 degrees: P within 0.1-0.9 for
    villages up to ~1.1 degrees from the line; the region spans 6 degrees). Controls
    (pre-treatment, imbalanced across the boundary as Gulzar et al. report): ``st_share``
    rises and ``literacy`` falls with the propensity, ``log_pop`` and ``sc_share`` vary
    smoothly in space; slopes log_pop 0.3, literacy 0.8, st_share 0.5, sc_share -0.4.

    Args:
        n: villages (the paper's N = 32,461 by default); n_clusters: clusters (<= n).
        effect: the treatment effect, the same for every village, so the ATE and the
            partially linear model's theta both equal it (the truth for DML-PLR/ATE).
        boundary_width: w > 0 in degrees; smaller is a sharper boundary, with less
            overlap (propensities nearer 0 and 1) for DML-ATE.
        seed: int, None or ``numpy.random.Generator``.

    Returns:
        DataFrame: ``y``, ``treat`` (0/1), ``lat``, ``lon``, the ``GULZAR_CONTROLS``,
        ``cluster`` (int id), ``propensity`` (P(treat = 1 | lat, lon)) and ``truth`` (the
        noiseless mean, incl. the cluster effect); ``df.attrs["effect"]`` = ``effect``.
    """
    n = _check_positive_int(n, "n")
    n_clusters = _check_positive_int(n_clusters, "n_clusters")
    if n_clusters > n:
        raise ValueError(f"n_clusters ({n_clusters}) must be <= n ({n})")
    effect = float(effect)
    if not np.isfinite(effect):
        raise ValueError(f"effect must be a finite number, got {effect}")
    width = float(boundary_width)
    if not (np.isfinite(width) and width > 0):
        raise ValueError(f"boundary_width must be a finite number > 0, got {boundary_width}")
    rng = check_seed(seed)
    centre_lat = rng.uniform(*_LAT, n_clusters)
    centre_lon = rng.uniform(*_LON, n_clusters)
    sizes = 1 + rng.multinomial(n - n_clusters, rng.dirichlet(np.full(n_clusters, 4.0)))
    cluster = np.repeat(np.arange(n_clusters), sizes)
    lat = centre_lat[cluster] + rng.normal(0.0, 0.1, n)
    lon = centre_lon[cluster] + rng.normal(0.0, 0.1, n)
    propensity = expit((lat - _boundary(lon)) / width)
    treat = (rng.uniform(size=n) < propensity).astype(np.int64)
    controls = {
        "log_pop": 6.5 + 0.4 * np.sin(lon - 78.0) + rng.normal(0.0, 0.8, n),
        "literacy": expit(0.4 - 0.8 * propensity + 0.3 * np.cos(lat - 18.0)
                          + rng.normal(0.0, 0.4, n)),
        "st_share": expit(-1.0 + 1.5 * propensity + rng.normal(0.0, 0.5, n)),
        "sc_share": expit(-1.5 + 0.4 * np.cos((lon - 78.0) / 2.0) + rng.normal(0.0, 0.5, n)),
    }
    u = rng.normal(0.0, _CLUSTER_SD, n_clusters)[cluster]
    truth = (effect * treat + gulzar_surface(lat, lon) + u
             + sum(_BETA[k] * (v - (6.5 if k == "log_pop" else 0.0))
                   for k, v in controls.items()))
    y = truth + rng.normal(0.0, _NOISE_SD, n)
    df = pd.DataFrame({"y": y, "treat": treat, "lat": lat, "lon": lon, **controls,
                       "cluster": cluster, "propensity": propensity, "truth": truth})
    df.attrs["effect"] = effect
    return df
