"""Linear two-stage least squares: the parametric baseline of every NPIV comparison.

With ``D = [1, X, W]`` (structural regressors) and ``Q = [1, Z, W]`` (instruments),

    beta = (D' P_Q D)^{-1} D' P_Q y,      P_Q = Q (Q'Q)^{-1} Q'

(e.g. Wooldridge 2010, *Econometric Analysis of Cross Section and Panel Data*, eq. 5.16),
computed by two least-squares solves (QR via ``numpy.linalg.lstsq``), never an inverse.
"""

from __future__ import annotations

import numpy as np

from ._base import FitData, NPIVEstimator

__all__ = ["Linear2SLS"]


class Linear2SLS(NPIVEstimator):
    """h(x, w) = b0 + x'b_x + w'b_w estimated by 2SLS.

    Fitted attributes: ``intercept_``, ``coef_`` (treatment then covariate coefficients),
    ``stderr_`` (homoskedastic standard errors, same order as ``[intercept_, *coef_]``).
    """

    _params = ()

    def _fit(self, data: FitData) -> None:
        n = data.x.shape[0]
        design = np.column_stack([np.ones(n), data.xw])
        instruments = np.column_stack([np.ones(n), data.zw])
        # first stage: fitted values of every structural regressor
        pi = np.linalg.lstsq(instruments, design, rcond=None)[0]
        design_hat = instruments @ pi
        beta = np.linalg.lstsq(design_hat, data.y, rcond=None)[0]
        resid = data.y - design @ beta
        sigma2 = resid @ resid / max(n - design.shape[1], 1)
        gram = design_hat.T @ design_hat
        cov = sigma2 * np.linalg.pinv(gram)
        self.intercept_ = float(beta[0])
        self.coef_ = beta[1:]
        self.stderr_ = np.sqrt(np.clip(np.diag(cov), 0.0, None))

    def _predict(self, xw: np.ndarray) -> np.ndarray:
        return self.intercept_ + xw @ self.coef_
