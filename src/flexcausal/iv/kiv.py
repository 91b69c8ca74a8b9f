"""Kernel instrumental variable regression (KIV; Singh, Sahani & Gretton, NeurIPS 2019).

Stage 1 (n samples ``X, Z``) learns the conditional mean embedding of X given Z by kernel
ridge regression; stage 2 (m samples ``z~, y~``) regresses y~ on the embedded treatment
(Singh et al. 2019, Algorithm 1):

    W     = K_XX (K_ZZ + n lambda I)^{-1} K_Zz~                      (n x m)
    alpha = (W W' + m xi K_XX)^{-1} W y~                              (n,)
    h(x)  = sum_j alpha_j k(x_j, x)

lambda and xi are chosen on a grid by the paper's out-of-sample criteria (Sec. A.5.2 / the
authors' code): lambda minimises the stage-2 sample's embedding error
``tr(gamma' K_XX gamma - 2 K_Xx~' gamma)`` with ``gamma = (K_ZZ + n lambda I)^{-1} K_Zz~``;
xi minimises the stage-1 sample's error ``||y - K_ZZ (K_ZZ + n lambda I)^{-1} K_XX alpha||^2``.
The stage-2 criterion is flat towards small xi (it cannot see the ill-posed directions that
a small xi lets blow up), so by default xi follows Breiman's one-standard-error rule: the
largest xi whose score is within one standard error of the minimum (``select="1se"``;
``"min"`` is the paper's argmin). On the demand design (n = 5000, Nystroem 500) the argmin
sat at the grid's end (1e-8) with MSE 45,000; see ``benchmarks/npiv_demand.py``.
Kernels are Gaussian product kernels ``exp(-sum_d (x_d - x'_d)^2 / (2 l_d^2))`` with the
median heuristic ``l_d = median |x_d - x'_d|`` per column.

``nystrom=M`` replaces each kernel by M-landmark Nystroem features ``phi(x) = K_xL K_LL^{-1/2}``
and runs the same two ridge regressions in feature space (with M = n and the stage-1
points as landmarks it is algebraically identical to the exact estimator).

Closed-form linear algebra in NumPy/SciPy float64 (eigendecompositions shared across the
lambda / xi grids); JAX would add nothing here and float32 would lose the small-lambda fits.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg
from scipy.spatial.distance import cdist

from .._checks import check_bool, check_choice, check_grid, check_int
from ._base import FitData, NPIVEstimator, check_fraction, split_indices

__all__ = ["KIV", "gaussian_kernel", "median_lengthscales"]

DEFAULT_GRID = tuple(10.0 ** np.linspace(-1, -8, 29))


def median_lengthscales(data: np.ndarray, max_points: int = 1000, seed: int = 0) -> np.ndarray:
    """Per-column median of |x_d - x'_d| over pairs (a subsample of ``max_points`` rows)."""
    rng = np.random.default_rng(seed)
    if len(data) > max_points:
        data = data[rng.choice(len(data), max_points, replace=False)]
    out = np.empty(data.shape[1])
    iu = np.triu_indices(len(data), k=1)
    for d in range(data.shape[1]):
        diff = np.abs(data[:, d][:, None] - data[:, d][None, :])[iu]
        med = np.median(diff)
        if med <= 0:  # mostly-tied discrete column: fall back to the mean nonzero gap
            nz = diff[diff > 0]
            med = nz.mean() if nz.size else 1.0
        out[d] = med
    return out


def gaussian_kernel(a: np.ndarray, b: np.ndarray, lengthscales: np.ndarray) -> np.ndarray:
    """exp(-||(a - b) / l||^2 / 2) for all pairs of rows."""
    return np.exp(-0.5 * cdist(a / lengthscales, b / lengthscales, "sqeuclidean"))


def _mean_and_se(values: np.ndarray) -> tuple[float, float]:
    """Mean of per-observation losses and its standard error sd / sqrt(n)."""
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(len(values)))


def _check_grid(value, argname: str) -> np.ndarray:
    return check_grid(value, argname)


class KIV(NPIVEstimator):
    """Kernel IV regression (Singh, Sahani & Gretton 2019).

    Parameters
    ----------
    lambda1, lambda2 : stage-1 / stage-2 ridge penalties (``lambda`` and ``xi`` in the
        paper): a positive number, or a grid searched by the out-of-sample criteria
        (None: 10^-1 ... 10^-8, 29 points).
    lengthscale_x, lengthscale_z : "median" (per-column median heuristic) or positive
        numbers / arrays (one per column).
    split : fraction of the sample used in stage 1 (default 0.5, as in the paper).
    nystrom : None (exact, O(n^3)) or the number of Nystroem landmarks M.
    select : how xi is picked from its grid: "1se" (default; the largest xi within one
        standard error of the best score) or "min" (the argmin, as in the paper).
    center : subtract the stage-1 mean of y first (h then shrinks towards the mean rather
        than towards 0; ``False`` is the paper's estimator verbatim).
    seed : int, the sample split and landmark draw.

    Fitted: ``lambda1_``, ``lambda2_`` (chosen), ``lengthscale_x_``, ``lengthscale_z_``,
    ``history_ = {"stage1_score": ..., "stage2_score": ...}`` over the grids.
    """

    _params = ("lambda1", "lambda2", "lengthscale_x", "lengthscale_z", "split", "nystrom",
               "select", "center", "seed")

    def __init__(self, lambda1=None, lambda2=None, lengthscale_x="median",
                 lengthscale_z="median", split=0.5, nystrom=None, select="1se", center=True,
                 seed=0):
        self.lambda1 = lambda1
        self.lambda2 = lambda2
        self.lengthscale_x = lengthscale_x
        self.lengthscale_z = lengthscale_z
        self.split = split
        self.nystrom = nystrom
        self.select = select
        self.center = center
        self.seed = seed

    def _validate(self) -> None:
        for name in ("lambda1", "lambda2"):
            if getattr(self, name) is not None:
                _check_grid(getattr(self, name), name)
        check_fraction(self.split, "split")
        if self.nystrom is not None:
            check_int(self.nystrom, "nystrom", minimum=2)
        check_choice(self.select, ["1se", "min"], "select")
        check_bool(self.center, "center")
        check_int(self.seed, "seed")
        for name in ("lengthscale_x", "lengthscale_z"):
            value = getattr(self, name)
            if isinstance(value, str):
                if value != "median":
                    raise ValueError(
                        f"{name} must be 'median' or positive numbers, got {value!r}"
                    )
            else:
                check_grid(value, name)

    def _lengthscales(self, value, data, name, what):
        if isinstance(value, str):
            return median_lengthscales(data)
        arr = check_grid(value, name)
        if arr.size not in (1, data.shape[1]):
            raise ValueError(
                f"{name} has {arr.size} values but {what} has {data.shape[1]} column(s): pass "
                "one lengthscale, or one per column"
            )
        return np.broadcast_to(arr, (data.shape[1],)).copy()

    def _fit(self, data: FitData) -> None:
        rng = np.random.default_rng(self.seed)
        i1, i2 = split_indices(len(data.y), self.split, rng)
        x1, z1, y1 = data.xw[i1], data.zw[i1], data.y[i1]
        z2, x2, y2 = data.zw[i2], data.xw[i2], data.y[i2]
        self.lengthscale_x_ = self._lengthscales(self.lengthscale_x, x1, "lengthscale_x",
                                                 "[treatment, covariates]")
        self.lengthscale_z_ = self._lengthscales(self.lengthscale_z, z1, "lengthscale_z",
                                                 "[instrument, covariates]")
        grid1 = _check_grid(DEFAULT_GRID if self.lambda1 is None else self.lambda1, "lambda1")
        grid2 = _check_grid(DEFAULT_GRID if self.lambda2 is None else self.lambda2, "lambda2")
        self.y_mean_ = float(y1.mean()) if self.center else 0.0
        if self.nystrom is None:
            self._fit_exact(x1, z1, y1 - self.y_mean_, x2, z2, y2 - self.y_mean_, grid1, grid2)
        else:
            self._fit_nystrom(x1, z1, y1 - self.y_mean_, x2, z2, y2 - self.y_mean_, grid1, grid2,
                              rng)

    # ----------------------------------------------------------------------------- exact
    def _fit_exact(self, x1, z1, y1, x2, z2, y2, grid1, grid2):
        n, m = len(x1), len(x2)
        kxx = gaussian_kernel(x1, x1, self.lengthscale_x_)
        kzz = gaussian_kernel(z1, z1, self.lengthscale_z_)
        kz2 = gaussian_kernel(z1, z2, self.lengthscale_z_)
        kx2 = gaussian_kernel(x1, x2, self.lengthscale_x_)
        evals, u = linalg.eigh(kzz)
        evals = np.clip(evals, 0.0, None)
        a = u.T @ kz2  # gamma_lambda = U diag(1 / (e + n lambda)) A
        b = u.T @ kxx @ u
        c = u.T @ kx2
        scores1 = []
        for lam in grid1:
            da = a / (evals + n * lam)[:, None]
            scores1.append(float(np.sum(da * (b @ da)) - 2.0 * np.sum(c * da)) / m)
        lam1 = float(grid1[int(np.argmin(scores1))])
        gamma = u @ (a / (evals + n * lam1)[:, None])
        w = kxx @ gamma
        # projection of h at the stage-1 instruments: K_ZZ (K_ZZ + n lam1 I)^{-1} K_XX alpha
        proj = u @ ((evals / (evals + n * lam1))[:, None] * (u.T @ kxx))
        alphas, stats = self._stage2_grid(w @ w.T, kxx, w @ y2, m, grid2, proj, y1)
        best, scores2 = self._choose(grid2, stats)
        self.lambda1_, self.lambda2_ = lam1, float(grid2[best])
        self.alpha_ = alphas[best]
        self.x_train_ = x1
        self.history_ = {"stage1_score": np.asarray(scores1), "stage2_score": np.asarray(scores2)}

    @staticmethod
    def _stage2_grid(wwt, kxx, rhs, m, grid2, proj, y1):
        """alpha(xi) = (W W' + m xi K_XX)^{-1} W y for every xi via one generalized eigh."""
        jitter = 1e-10 * np.trace(kxx) / len(kxx)
        lam, q = linalg.eigh(wwt, kxx + jitter * np.eye(len(kxx)))  # q' K q = I
        qr = q.T @ rhs
        pq = proj @ q
        alphas, stats = [], []
        for xi in grid2:
            coef = qr / (np.clip(lam, 0.0, None) + m * xi)
            alphas.append(q @ coef)
            stats.append(_mean_and_se((y1 - pq @ coef) ** 2))
        return alphas, stats

    def _choose(self, grid2, stats):
        """(index of xi, scores) from per-xi (score, SE) pairs: the argmin, or the largest xi
        within one SE of it ("1se")."""
        scores, ses = (np.asarray(v) for v in zip(*stats, strict=True))
        best = int(np.argmin(scores))
        if self.select.lower() == "1se":
            ok = np.flatnonzero(scores <= scores[best] + ses[best])
            best = int(ok[np.argmax(np.asarray(grid2)[ok])])
        return best, scores

    # -------------------------------------------------------------------------- Nystroem
    @staticmethod
    def _features(data, landmarks, ls):
        kll = gaussian_kernel(landmarks, landmarks, ls)
        evals, vecs = linalg.eigh(kll)
        keep = evals > 1e-10 * evals.max()
        root_inv = vecs[:, keep] / np.sqrt(evals[keep])
        return root_inv, gaussian_kernel(data, landmarks, ls) @ root_inv

    def _fit_nystrom(self, x1, z1, y1, x2, z2, y2, grid1, grid2, rng):
        n, m = len(x1), len(x2)
        mx = min(self.nystrom, n)
        lx = x1[np.sort(rng.choice(n, mx, replace=False))]
        lz = z1[np.sort(rng.choice(n, mx, replace=False))]
        rx, fx1 = self._features(x1, lx, self.lengthscale_x_)
        rz, fz1 = self._features(z1, lz, self.lengthscale_z_)
        fx2 = gaussian_kernel(x2, lx, self.lengthscale_x_) @ rx
        fz2 = gaussian_kernel(z2, lz, self.lengthscale_z_) @ rz
        evals, u = linalg.eigh(fz1.T @ fz1)
        evals = np.clip(evals, 0.0, None)
        a = u.T @ (fz1.T @ fx1)
        fz2u = fz2 @ u
        scores1 = []
        for lam in grid1:
            pred = fz2u @ (a / (evals + n * lam)[:, None])
            scores1.append(float(np.sum((fx2 - pred) ** 2)) / m)
        lam1 = float(grid1[int(np.argmin(scores1))])
        gamma = u @ (a / (evals + n * lam1)[:, None])  # (M_z, M_x)
        fhat = fz2 @ gamma
        e2, v2 = linalg.eigh(fhat.T @ fhat)
        e2 = np.clip(e2, 0.0, None)
        r2 = v2.T @ (fhat.T @ y2)
        proj1 = fz1 @ gamma @ v2
        betas, stats = [], []
        for xi in grid2:
            coef = r2 / (e2 + m * xi)
            betas.append(v2 @ coef)
            stats.append(_mean_and_se((y1 - proj1 @ coef) ** 2))
        best, scores2 = self._choose(grid2, stats)
        self.lambda1_, self.lambda2_ = lam1, float(grid2[best])
        self.beta_ = betas[best]
        self.landmarks_x_, self.root_inv_x_ = lx, rx
        self.history_ = {"stage1_score": np.asarray(scores1), "stage2_score": np.asarray(scores2)}

    def _predict(self, xw: np.ndarray) -> np.ndarray:
        if self.nystrom is None:
            k = gaussian_kernel(xw, self.x_train_, self.lengthscale_x_)
            return self.y_mean_ + k @ self.alpha_
        feats = gaussian_kernel(xw, self.landmarks_x_, self.lengthscale_x_) @ self.root_inv_x_
        return self.y_mean_ + feats @ self.beta_
