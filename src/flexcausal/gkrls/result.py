"""What a fit produces, apart from how it was computed (fitting.py) or used (predict.py).

Statistics mean what they mean in mgcv (Wood 2017, Sec. 6.6-6.10): edf per coefficient
= diag(F), F = (X'WX + S)^{-1} X'WX; Vp = (X'WX + S)^{-1} phi (Bayesian), Ve = F Vp
(frequentist); sp on mgcv's scale; ``reml`` the REML/LAML score (mgcv ``gcv.ubre``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class FitResult:
    beta: np.ndarray
    sp: np.ndarray  # exp(rho), one per penalty, in model order
    edf_coef: np.ndarray
    Vp: np.ndarray
    Ve: np.ndarray
    F: np.ndarray  # (X'WX + S)^{-1} X'WX, for edf1 and smooth-term tests
    scale: float
    reml_scale: float
    reml: float
    deviance: float
    null_deviance: float
    r2_adj: float
    converged: bool
    n_iter: int
    fitted_eta: np.ndarray | None  # X b + offset on the training rows, when at hand
    theta: np.ndarray | None = None  # extra family parameters (ocat cut points, nb theta)
