"""A stratified cluster-randomized design with cluster-level confounding and a known effect.

The setting of "Regularizing the Forward Pass" (Power & Ghosh 2025, Sec. 1-3): treatment is
assigned at the cluster level (zip codes, states), controls vary at the cluster level (w)
and at the individual level (x), and clusters have their own, nonparametric deviations
from the common conditional expectation function.  Our design (the paper gives none):

* cluster c has a cluster-level control w_c ~ N(0, 1) (e.g. past eviction counts); the
  clusters are cut into ``n_strata`` strata by the quantiles of w;
* within stratum s exactly round(p_s n_s) clusters are treated, chosen at random, with
  p_s rising from 0.2 to 0.8 across strata: stratified randomization whose assignment
  share depends on w, so w confounds a naive comparison (Fig. 1's imbalance);
* individual controls x_ic = mu_c + within_sd z_ic, mu_c = (0.75 w_c, 0, ...) +
  mean_sd N(0, I): clusters overlap little in x (the paper's Fig. 2);
* potential outcomes
      Y_ic(0) = |x_ic1| + w_c + gamma_c + beta_c (x_ic1 - mu_c1)        (cluster deviation)
      Y_ic(1) = Y_ic(0) + tau(x_ic),   tau(x) = effect (1 + 0.5 tanh x1)
  and y = Y(d_c) + noise_sd e.  The effect is known row by row (``tau``); the sample
  average effect is ``df.attrs["ate"]`` = mean(tau).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._checks import check_int, check_seed

__all__ = ["cluster_trial"]


def _nonneg(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number >= 0, got {value!r}")
    if not (np.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return float(value)


def cluster_trial(
    n_clusters: int = 60,
    n_per_cluster: int = 20,
    n_strata: int = 4,
    dim: int = 2,
    effect: float = 1.0,
    effect_sd: float = 0.5,
    mean_sd: float = 1.0,
    within_sd: float = 0.3,
    noise_sd: float = 0.3,
    seed=0,
) -> pd.DataFrame:
    """Simulate the design above; one row per individual.

    Columns: ``y``, ``d`` (0/1, constant within cluster), ``w`` (cluster-level control),
    ``x1..x{dim}`` (individual controls; x2.. have no effect), ``g`` (cluster), ``stratum``,
    ``mu0``/``mu1`` (noiseless potential outcomes, cluster deviations included) and
    ``tau`` = mu1 - mu0.  ``attrs["ate"]`` is the sample average effect mean(tau).
    """
    C = check_int(n_clusters, "n_clusters", minimum=4)
    n = check_int(n_per_cluster, "n_per_cluster", minimum=1)
    S = check_int(n_strata, "n_strata", minimum=1)
    d = check_int(dim, "dim", minimum=1)
    if C < 2 * S:
        raise ValueError(f"n_clusters={C} gives fewer than 2 clusters per stratum with "
                         f"n_strata={S}: use n_clusters >= {2 * S}")
    if isinstance(effect, bool) or not isinstance(effect, (int, float, np.integer,
                                                            np.floating)):
        raise TypeError(f"effect must be a number, got {effect!r}")
    if not np.isfinite(effect):
        raise ValueError(f"effect must be finite, got {effect}")
    effect = float(effect)
    effect_sd, mean_sd = _nonneg(effect_sd, "effect_sd"), _nonneg(mean_sd, "mean_sd")
    within_sd, noise_sd = _nonneg(within_sd, "within_sd"), _nonneg(noise_sd, "noise_sd")
    rng = check_seed(seed)
    w = rng.normal(size=C)
    stratum = np.empty(C, dtype=np.int64)
    stratum[np.argsort(w, kind="stable")] = np.arange(C) * S // C  # quantile strata
    share = np.linspace(0.2, 0.8, S) if S > 1 else np.array([0.5])
    d_c = np.zeros(C, dtype=np.int64)
    for s in range(S):
        members = np.flatnonzero(stratum == s)
        n_treat = min(max(int(round(share[s] * len(members))), 1), len(members) - 1)
        d_c[rng.choice(members, n_treat, replace=False)] = 1
    mu = mean_sd * rng.normal(size=(C, d))
    mu[:, 0] += 0.75 * w
    gamma = rng.normal(scale=effect_sd, size=C)
    beta = rng.normal(scale=effect_sd, size=C)
    g = np.repeat(np.arange(C), n)
    X = mu[g] + within_sd * rng.normal(size=(C * n, d))
    mu0 = np.abs(X[:, 0]) + w[g] + gamma[g] + beta[g] * (X[:, 0] - mu[g, 0])
    tau = effect * (1.0 + 0.5 * np.tanh(X[:, 0]))
    mu1 = mu0 + tau
    D = d_c[g]
    y = np.where(D == 1, mu1, mu0) + noise_sd * rng.normal(size=C * n)
    df = pd.DataFrame({"y": y, "d": D, "w": w[g]})
    for j in range(d):
        df[f"x{j + 1}"] = X[:, j]
    df["g"], df["stratum"] = g, stratum[g]
    df["mu0"], df["mu1"], df["tau"] = mu0, mu1, tau
    df.attrs["ate"] = float(tau.mean())
    return df
