"""Simulation designs of "Regularizing the Forward Pass" (Power & Ghosh 2025).

The paper shows its designs as pictures only (Fig. 5, Fig. 7, Fig. 9) and gives no formulas,
so the designs below are ours, written to have the features the text describes:

* Fig. 5 / Sec. 3, "the tragic triad": clusters agree on a 'v'-shaped CEF near the origin
  and disagree in the tails; each cluster covers only part of the support.
* Sec. 5, Fig. 9: "the distribution over covariates and the conditional expectation
  functions differ across clusters"; a *high*-dimensional-like design with very little
  overlap across clusters and a *low*-dimensional design with much more overlap.
* Fig. 7: 25 clusters x 25 observations, clusters differ only in their mean, drawn from an
  isotropic Gaussian.

Every function returns a DataFrame with columns ``x1..xd``, ``y``, ``g`` (cluster) and
``truth`` = the population CEF E[y | x] averaged over clusters (the target for new clusters),
and ``cluster_truth`` = the cluster's own noiseless CEF (so ``y - cluster_truth`` is noise).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._checks import check_int, check_positive, check_seed

__all__ = [
    "rfp_clusters",
    "rfp_exp1",
    "rfp_exp1_truth",
    "rfp_gaussian_clusters",
    "rfp_tragic_triad",
    "rfp_truth",
]

# Overlap presets for Sec. 5 (our choice): cluster-mean spread and within-cluster sd of x1.
DESIGNS = {
    "high": {"mean_sd": 1.5, "within_sd": 0.2},  # little overlap (Fig. 9a-c)
    "low": {"mean_sd": 0.5, "within_sd": 0.7},  # much overlap (Fig. 9d-f)
}


def rfp_truth(x1) -> np.ndarray:
    """The common 'v'-shaped CEF f(x) = |x1| shared by all clusters.  Given a 2-D array
    (the ``cef="norm"`` designs) it is |x| / sqrt(d), which is |x1| for d = 1."""
    x = np.asarray(x1, dtype=float)
    if x.ndim == 2:
        return np.sqrt(np.mean(x**2, axis=1))
    return np.abs(x)


def _frame(X: np.ndarray, y, g, truth, cluster_truth) -> pd.DataFrame:
    df = pd.DataFrame(X, columns=[f"x{j + 1}" for j in range(X.shape[1])])
    df["y"], df["g"], df["truth"], df["cluster_truth"] = y, g, truth, cluster_truth
    return df


def rfp_clusters(
    n_clusters: int = 20,
    n_per_cluster: int = 25,
    design: str = "high",
    dim: int = 1,
    effect_sd: float = 0.5,
    noise_sd: float = 0.1,
    seed=0,
    cef: str = "x1",
) -> pd.DataFrame:
    """Clustered regression data in the spirit of Sec. 5 (Fig. 9).

    Cluster c has covariate mean mu_c ~ N(0, mean_sd^2 I_dim) and rows
    x_ic = mu_c + within_sd * z_ic; the outcome is

        y_ic = |x_ic1| + u_c(x_ic) + noise_sd * e_ic,
        u_c(x) = gamma_c + beta_c (x1 - mu_c1),  (gamma_c, beta_c) ~ N(0, effect_sd^2) iid,

    so the CEF differs by cluster but averages to ``truth`` = |x1|.  ``design`` sets the
    overlap (``DESIGNS``): "high" (little overlap) or "low" (much overlap).  With
    ``cef="x1"`` the columns x2..x_dim are controls the truth ignores; with ``cef="norm"``
    (the multi-dimensional version of the design, d = 2, 8, 32 in the benchmarks) every
    column matters: truth = |x| / sqrt(d) (the 'v' becomes a cone, = |x1| for d = 1) and
    u_c(x) = gamma_c + beta_c'(x - mu_c) / sqrt(d) with beta_c ~ N(0, effect_sd^2 I_d).
    """
    if design not in DESIGNS:
        raise ValueError(f"unknown design {design!r}; expected one of {list(DESIGNS)}")
    if cef not in ("x1", "norm"):
        raise ValueError(f"unknown cef {cef!r}; expected 'x1' or 'norm'")
    C = check_int(n_clusters, "n_clusters", minimum=1)
    n = check_int(n_per_cluster, "n_per_cluster", minimum=1)
    d = check_int(dim, "dim", minimum=1)
    rng = check_seed(seed)
    p = DESIGNS[design]
    mu = rng.normal(scale=p["mean_sd"], size=(C, d))
    g = np.repeat(np.arange(C), n)
    X = mu[g] + p["within_sd"] * rng.normal(size=(C * n, d))
    gamma = rng.normal(scale=effect_sd, size=C)
    if cef == "x1":
        beta = rng.normal(scale=effect_sd, size=C)
        truth = rfp_truth(X[:, 0])
        cluster_truth = truth + gamma[g] + beta[g] * (X[:, 0] - mu[g, 0])
    else:
        beta = rng.normal(scale=effect_sd, size=(C, d))
        truth = rfp_truth(X)
        dev = np.einsum("ij,ij->i", beta[g], X - mu[g]) / np.sqrt(d)
        cluster_truth = truth + gamma[g] + dev
    return _frame(X, cluster_truth + noise_sd * rng.normal(size=C * n), g, truth, cluster_truth)


# Mean of p ~ U(0.5, 5) in the exp1 outcome.
_EXP1_P_MEAN = 2.75


def _exp1_cef(x, p):
    """exp1's cluster CEF (authors' notebooks-scripts/simulations/exp1.ipynb, gen_outcome):
    log(x^2 + 1 + sin 3x) + 1.5 + p sin|x| + 0.3 p |x|."""
    return np.log(x**2 + 1.0 + np.sin(3.0 * x)) + 1.5 + p * (np.sin(np.abs(x)) + 0.3 * np.abs(x))


def rfp_exp1_truth(x1) -> np.ndarray:
    """E[y | x] of ``rfp_exp1`` over clusters: the exp1 CEF at E[p] = 2.75."""
    return _exp1_cef(np.asarray(x1, dtype=float), _EXP1_P_MEAN)


def rfp_exp1(
    n_clusters: int = 30,
    n_per_cluster: int = 100,
    dim: int = 1,
    noise_sd: float = 0.0,
    seed=0,
) -> pd.DataFrame:
    """The authors' ``exp1`` process (notebooks-scripts/simulations/exp1.ipynb).

    Cluster c: mean m_c ~ t(3)^dim (iid coordinates), within-cluster variance
    v_c ~ U(0.01, 1), rows x_ic ~ N(m_c, v_c I_dim), and p_c ~ U(0.5, 5); the outcome is

        y_ic = log(x^2 + 1 + sin 3x) + 1.5 + p_c sin|x| + 0.3 p_c |x|,   x = x_ic1,

    with no noise in the authors' code (``noise_sd`` adds N(0, noise_sd^2)).  For dim > 1
    the outcome uses x1 (their code is written for d = 1).  ``truth`` = the CEF at E[p] =
    2.75 (``rfp_exp1_truth``); ``cluster_truth`` = the cluster's own CEF.  They standardize
    X only and train on 20 of the 30 clusters (``k = 20``), validating on the other 10.
    """
    C = check_int(n_clusters, "n_clusters", minimum=1)
    n = check_int(n_per_cluster, "n_per_cluster", minimum=1)
    d = check_int(dim, "dim", minimum=1)
    if not (np.isfinite(noise_sd) and noise_sd >= 0):
        raise ValueError(f"noise_sd must be a finite number >= 0, got {noise_sd}")
    rng = check_seed(seed)
    mu = rng.standard_t(3, size=(C, d))
    var = rng.uniform(0.01, 1.0, size=C)
    p = rng.uniform(0.5, 5.0, size=C)
    g = np.repeat(np.arange(C), n)
    X = mu[g] + np.sqrt(var)[g, None] * rng.normal(size=(C * n, d))
    cluster_truth = _exp1_cef(X[:, 0], p[g])
    y = cluster_truth + (noise_sd * rng.normal(size=C * n) if noise_sd > 0 else 0.0)
    return _frame(X, y, g, rfp_exp1_truth(X[:, 0]), cluster_truth)


def rfp_tragic_triad(
    n_clusters: int = 8, n_per_cluster: int = 30, noise_sd: float = 0.05, seed=0
) -> pd.DataFrame:
    """One-dimensional "tragic triad" (Fig. 5): consensus in the middle, disagreement in the tails.

    Cluster c covers x in [l_c, l_c + 1.5] with l_c ~ U(-3, 1.5) (clusters see different parts
    of the support), and y = |x| + b_c max(|x| - 1, 0)^2 + noise, b_c ~ N(0, 1): all clusters
    agree on the 'v' for |x| < 1; each bends the tails its own way.  ``truth`` = |x|.
    """
    C = check_int(n_clusters, "n_clusters", minimum=1)
    n = check_int(n_per_cluster, "n_per_cluster", minimum=1)
    check_positive(noise_sd, "noise_sd")
    rng = check_seed(seed)
    lo = rng.uniform(-3.0, 1.5, size=C)
    b = rng.normal(size=C)
    g = np.repeat(np.arange(C), n)
    x = lo[g] + 1.5 * rng.uniform(size=C * n)
    truth = rfp_truth(x)
    cluster_truth = truth + b[g] * np.maximum(np.abs(x) - 1.0, 0.0) ** 2
    y = cluster_truth + noise_sd * rng.normal(size=C * n)
    return _frame(x[:, None], y, g, truth, cluster_truth)


def rfp_gaussian_clusters(
    dim: int, n_clusters: int = 25, n_per_cluster: int = 25, within_sd: float = 1.0, seed=0
) -> pd.DataFrame:
    """Fig. 7 design: x_ic = mu_c + within_sd * z_ic, mu_c ~ N(0, I_dim); clusters differ only
    in the mean.  ``y`` is 0 and ``truth`` 0 (the design is about the covariates)."""
    d = check_int(dim, "dim", minimum=1)
    C = check_int(n_clusters, "n_clusters", minimum=1)
    n = check_int(n_per_cluster, "n_per_cluster", minimum=1)
    rng = check_seed(seed)
    mu = rng.normal(size=(C, d))
    g = np.repeat(np.arange(C), n)
    X = mu[g] + within_sd * rng.normal(size=(C * n, d))
    zeros = np.zeros(C * n)
    return _frame(X, zeros, g, zeros, zeros)
