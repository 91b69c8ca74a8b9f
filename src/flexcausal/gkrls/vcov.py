"""Coefficient covariances: Bayesian Vp, frequentist Ve, and sandwich estimators.

Vp = (X'WX + S)^{-1} phi and Ve = F Vp with F = (X'WX + S)^{-1} X'WX (Wood 2017,
Sec. 6.10). Sandwich forms reproduce R gKRLS ``estfun.gam`` with ``sandwich``:
bread B = Vp / phi = (X'WX + S)^{-1} (sandwich ``bread.gam``), scores
s_i = r_i^P sqrt(w_i) x_i (Pearson residual times root working weight), and

    HC0:     B (sum_i s_i s_i') B
    HC1:     N / (N - sum(edf)) * HC0            (gKRLS's effective-df correction)
    cluster: G / (G - 1) * B (sum_g s_g s_g') B,  s_g = sum_{i in g} s_i  (``vcovCL``).

For the likelihood families (ocat, nb, multinom), which gKRLS's ``estfun.gam`` refuses,
the same forms use the per-row score of the log-likelihood, s_i = sum_l
(d l_i / d eta_il) x_il over the linear predictors l, and B = Vp = (H + S)^{-1}
(scale 1; H the negative Hessian of the log-likelihood). For the exponential families
this score is exactly gKRLS's r_i^P sqrt(w_i) x_i; extra parameters (cut points, theta)
are held at their estimates, as in Vp.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._checks import check_choice
from .blocks import linear_predictor
from .contrasts import predictor_slices
from .dask_rows import dask_training
from .design import StreamedDesign
from .families.base import LikelihoodFamily

TYPES = ("bayes", "frequentist", "HC0", "HC1", "cluster")


def _training(model):
    train = getattr(model, "training_", None)
    if train is None:
        raise ValueError("sandwich variances need the training data; refit (a loaded model "
                         "keeps only Vp and Ve)")
    return train


def scores(model) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """s_i = M[i, lp] * x_i column by column: the training encodings, the per-row
    multipliers M (n, n_lp) and each coefficient's linear predictor (p,)."""
    train = _training(model)
    fam = model.family_
    lps = predictor_slices(model)
    col_lp = np.concatenate([np.full(cs.stop - cs.start, l)
                             for l, (_, cs) in enumerate(lps)]).astype(int)
    y, w = train["y"], train["weights"]
    if isinstance(fam, LikelihoodFamily):
        beta = model.coef_.to_numpy()
        eta = np.column_stack([
            linear_predictor(model.terms[ts], train["encodings"][ts], beta[cs],
                             block_rows=model.block_rows)[0] + train["offset"]
            for ts, cs in lps])
        _, g, _ = fam.loglik(y, eta if eta.shape[1] > 1 else eta[:, 0], fam.theta, w)
        return train["encodings"], np.asarray(g).reshape(len(y), -1), col_lp
    mult = score_multipliers(fam, y, w, model.linear_predictors_)
    return train["encodings"], mult[:, None], col_lp


def score_multipliers(family, y, w, eta) -> np.ndarray:
    """m_i = w_i (y_i - mu_i) mu_eta_i / V(mu_i), the score of row i being m_i x_i (gKRLS
    estfun.gam: the Pearson residual times the root working weight, up to the sign of
    mu_eta, which no sandwich sees)."""
    link = family.link
    mu = link.inverse(eta)
    return w * (y - mu) * link.mu_eta(eta) / family.variance(mu)


def cluster_codes(model, cluster) -> np.ndarray:
    """Integer cluster ids from a training column name or a per-row array."""
    n = model.n_obs_
    if cluster is None:
        raise ValueError("vcov type 'cluster' needs cluster= (a column name or an array)")
    if isinstance(cluster, str):
        frame = _training(model)["data"]
        if cluster not in frame.columns:
            raise ValueError(f"cluster column {cluster!r} is not in the training data")
        cluster = frame[cluster].to_numpy()
    values = np.asarray(cluster)
    if values.ndim != 1 or values.shape[0] != n:
        raise ValueError(f"cluster must have one value per training row ({n}), got "
                         f"shape {values.shape}")
    if pd.isna(values).any():
        raise ValueError("cluster contains missing values")
    codes, uniques = pd.factorize(values)
    if len(uniques) < 2:
        raise ValueError(f"cluster has {len(uniques)} cluster; need at least 2")
    return codes


def coefficient_covariance(model, type: str, cluster=None) -> np.ndarray:
    kind = check_choice(type, TYPES, "vcov type")
    if kind == "bayes":
        return model.Vp_
    if kind == "frequentist":
        return model.Ve_
    bread = model.Vp_ / model.scale_
    if dask_training(model) is not None:  # reduced on the cluster
        from .dask_fit import sandwich_meat

        meat = sandwich_meat(model, kind, cluster)
    else:
        meat = _meat(model, kind, cluster)
    if kind == "hc1":
        meat *= model.n_obs_ / (model.n_obs_ - model.edf_total_)
    return bread @ meat @ bread


def _meat(model, kind: str, cluster) -> np.ndarray:
    """sum_i s_i s_i' (HC0/HC1) or G / (G - 1) sum_g s_g s_g' (cluster) over the
    in-memory training rows."""
    encodings, mult, col_lp = scores(model)
    design = StreamedDesign(model.terms, encodings, model.block_rows)

    def score_block(Xb, rows):
        return Xb * mult[rows][:, col_lp]

    if kind == "cluster":
        codes = cluster_codes(model, cluster)
        G = int(codes.max()) + 1

        def cluster_sums(Xb, rows):
            out = np.zeros((G, design.p))
            np.add.at(out, codes[rows], score_block(Xb, rows))
            return out

        summed = sum(design.map_rows(cluster_sums))
        return summed.T @ summed * (G / (G - 1))
    if mult.shape[1] == 1:
        return design.gram(mult[:, 0] ** 2)  # sum_i s_i s_i' = X' diag(m^2) X
    return sum(design.map_rows(lambda Xb, rows: score_block(Xb, rows).T
                               @ score_block(Xb, rows)))
