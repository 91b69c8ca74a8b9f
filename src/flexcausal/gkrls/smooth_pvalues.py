"""The smooth-term rows of ``summary()``: edf, Ref.df, F or Chi.sq, p-value (mgcv
``summary.gam`` with p.type = 0; the tests themselves are in smooth_test.py).

What mgcv feeds its tests, and we feed ours: the R factor of sqrt(W) X over all fitting
rows (W the final working weights: prior weights for Gaussian identity, Fisher weights
otherwise), the term's block of Vp, its edf1 = tr(2F - FF), and the residual degrees of
freedom n - sum(edf). Terms whose penalties leave no null space (``re()``, kernels) are
tested as random effects (mgcv ``reTest``).

Likelihood families (ocat, nb: mgcv's extended families; multinom: a general family).
mgcv 1.8-41 ``summary.gam`` runs the same ``testStat`` / ``reTest`` with ``object$R``,
``object$Vp``, ``object$edf1`` and ``object$Ve``, the scale being known (``sig2`` = 1,
``res.df = -1``: Chi.sq statistics and chi-square / chi-square-mixture p-values). What
those objects are:

* extended families (``gam.fit4``, post-processed by ``gam.fit3.post.proc``): R is the QR
  factor of sqrt(w_F) X with the Fisher weights ``wf = EDeta2 / 2``, i.e. the expected
  information -E[d2 l_i / d eta_i^2] (nb: w t F(eta - theta); ocat: the observed one,
  which equals it), Vp = (X'W_F X + S)^-1, F = Vp X'W_F X, edf1 = diag(2F - FF);
* general families (``gam.fit5.post.proc``): R'R = -lbb, the Hessian of -l in the
  coefficients (multinom: observed = expected information), with Vp, F, edf1 as above.

Both are one statement: R'R = X'W X with W_i the (K x K) expected information of row i
in its K linear predictors (``family.expected_hessian``) and X'W X = sum_i sum_km
x_ik W_i,km x_im' (x_ik the row's columns of predictor k, zero elsewhere in the stacked
coefficient vector). With W_i = U_i diag(d_i) U_i' (d_i clipped at 0), the K rows
sqrt(d_ij) sum_k U_i,kj x_ik (j = 1..K) of each observation have exactly that cross
product; their QR factor is R (``weighted_r_factor``). Each multinom smooth belongs to
one predictor: its columns of R, its block of Vp and its edf1 are taken as for any
smooth, as mgcv does (``first.para:last.para`` of the stacked coefficients). Checked
against mgcv 1.8-41 ``summary(fit)$s.table`` for ocat(R = 4), nb(), multinom(K = 2) with
splines and with one gKRLS kernel per predictor (tests/gam/test_family_smooth_pvalues.py).
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import qr

from .backend import map_blocks
from .blocks import design_block
from .dask_rows import dask_training
from .families import LikelihoodFamily
from .fitting import penalty_blocks
from .reparam import total_penalty
from .smooth_test import edf1_from_F, re_test_inputs, smooth_test


def weighted_r_factor(model) -> np.ndarray:
    """R of the QR of sqrt(W) X over the training rows, block by block (likelihood
    families: of the K rows per observation of the module docstring)."""
    train = model.training_
    if train is None:
        raise ValueError("smooth-term p-values need the training data (a loaded model "
                         "keeps none); refit to get them")
    fam = model.family_
    if dask_training(model) is not None:  # reduced over the partitions
        from .dask_fit import weighted_r_factor as dask_r_factor

        return dask_r_factor(model)
    if isinstance(fam, LikelihoodFamily):
        return _likelihood_r_factor(model)
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

    return _stack_r(map_blocks(block, model.n_obs_, model.block_rows))


def _stack_r(parts: list[np.ndarray]) -> np.ndarray:
    """One p x p triangular factor from the blocks' factors."""
    R = parts[0] if len(parts) == 1 else qr(np.vstack(parts), mode="r")[0]
    p = R.shape[1]
    return np.vstack([R, np.zeros((max(0, p - R.shape[0]), p))])[:p]


def _likelihood_r_factor(model) -> np.ndarray:
    """R with R'R = X'W X, W the rows' expected information in the linear predictors
    (module docstring), from the fitted linear predictors and family parameters."""
    train, fam = model.training_, model.family_
    sizes = list(getattr(model, "lp_sizes_", [len(model.terms)]))
    K = len(sizes)
    eta = np.asarray(model.linear_predictors_, dtype=float).reshape(model.n_obs_, K)
    expected = getattr(fam, "expected_hessian", None)  # as the fit's Vp (likelihood.py)
    W = (expected(train["y"], eta, fam.theta, train["weights"]) if expected is not None
         else -fam.loglik(train["y"], eta, fam.theta, train["weights"])[2])
    d, U = np.linalg.eigh(0.5 * (W + np.swapaxes(W, 1, 2)))  # (n, K), (n, K, K)
    root = np.sqrt(np.clip(d, 0.0, None))[:, None, :] * U  # root[i, k, j]
    bounds = np.cumsum([0, *sizes])
    groups = [(model.terms[a:b], train["encodings"][a:b])
              for a, b in zip(bounds[:-1], bounds[1:], strict=True)]

    def block(rows):
        Xk = [design_block(terms, enc, rows) for terms, enc in groups]
        Z = np.vstack([np.hstack([root[rows, k, j][:, None] * X for k, X in enumerate(Xk)])
                       for j in range(K)])
        return qr(Z, mode="r")[0]

    return _stack_r(map_blocks(block, model.n_obs_, model.block_rows))


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
