"""The smooth-term rows of ``summary()``: edf, Ref.df, F or Chi.sq, p-value (mgcv
``summary.gam`` with p.type = 0; the tests themselves are in smooth_test.py).

What mgcv feeds its tests, and we feed ours: the R factor of sqrt(W) X over all fitting
rows (W the final working weights: prior weights for Gaussian identity, Fisher weights
otherwise), the term's block of Vp, its edf1 = tr(2F - FF), and the residual degrees of
freedom n - sum(edf). Terms whose penalties leave no null space (``re()``, kernels) are
tested as random effects (mgcv ``reTest``).
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import qr

from .backend import map_blocks
from .blocks import design_block
from .fitting import penalty_blocks
from .reparam import total_penalty
from .smooth_test import edf1_from_F, re_test_inputs, smooth_test


def weighted_r_factor(model) -> np.ndarray:
    """R of the QR of sqrt(W) X over the training rows, block by block."""
    train = model.training_
    if train is None:
        raise ValueError("smooth-term p-values need the training data (a loaded model "
                         "keeps none); refit to get them")
    fam = model.family_
    eta = model.linear_predictors_
    w = train["weights"]
    if fam.name == "gaussian" and fam.link.name == "identity":
        W = w
    else:
        mu = fam.link.inverse(eta)
        W = w * fam.link.mu_eta(eta) ** 2 / fam.variance(mu)
    sw = np.sqrt(W)

    def block(rows):
        X = design_block(model.terms, train["encodings"], rows) * sw[rows, None]
        return qr(X, mode="r")[0]

    parts = map_blocks(block, model.n_obs_, model.block_rows)
    R = parts[0] if len(parts) == 1 else qr(np.vstack(parts), mode="r")[0]
    p = R.shape[1]
    return np.vstack([R, np.zeros((max(0, p - R.shape[0]), p))])[:p]


def smooth_tests(model) -> list[tuple[str, float, float, float]]:
    """(label, Ref.df, statistic, p-value) per smooth term, in summary order."""
    smooths = [t for t in model.terms if t.penalties]
    if not smooths:
        return []
    R = weighted_r_factor(model)
    beta = model.coef_.to_numpy()
    edf1 = edf1_from_F(model.result_.F)
    res_df = model.n_obs_ - float(model.edf_total_)
    slices = model.term_slices_
    is_re = {t.label: t.null_space_dim == 0 for t in smooths}
    S = None
    out = []
    for term in smooths:
        cols = np.arange(model.coef_.size)[slices[term.label]]
        if is_re[term.label]:
            if S is None:
                blocks = penalty_blocks(model.terms)
                S = total_penalty(blocks, np.log(model.sp_.to_numpy()), beta.size)
            others = [np.arange(beta.size)[slices[t.label]] for t in smooths
                      if t.kind == "re" and t.label != term.label]
            Rm, Ve_j = re_test_inputs(R, model.Vp_, model.Ve_, model.scale_, S, cols, others)
            res = smooth_test(Rm, beta[cols], Ve_j, res_df=res_df,
                              scale_estimated=not model.family_.scale_known, kind="re",
                              scale=model.scale_)
        else:
            res = smooth_test(R[:, cols], beta[cols], model.Vp_[np.ix_(cols, cols)],
                              edf_j=float(edf1[cols].sum()), res_df=res_df,
                              scale_estimated=not model.family_.scale_known)
        out.append((term.label, res.ref_df, res.stat, res.p_value))
    return out
