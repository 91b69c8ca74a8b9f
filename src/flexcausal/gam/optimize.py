"""Newton's method on log smoothing parameters, shared by the Gaussian and GLM fits.

The Hessian is made positive definite by taking absolute eigenvalues (Wood 2017,
Sec. 6.2.1, as mgcv ``newton``), steps are capped at 5 in rho and halved until the
score decreases; parameters at the +-RHO_BOUND box with the gradient pushing outwards
are frozen (a term fully penalized, or not at all).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

RHO_BOUND = 35.0  # |log lambda| cap: beyond it a term is fully (un)penalized in float64


@dataclass
class NewtonResult:
    rho: np.ndarray
    score: float
    grad: np.ndarray
    payload: object
    n_iter: int
    converged: bool


def newton_minimize(
    derivatives: Callable[[np.ndarray], tuple[float, np.ndarray, np.ndarray, object]],
    score: Callable[[np.ndarray], float],
    rho: np.ndarray,
    max_iter: int = 200,
    tol: float = 1e-9,
    what: str = "REML",
    quiet: bool = False,
) -> NewtonResult:
    """Minimise ``score`` given ``derivatives(rho) -> (score, grad, hess, payload)``."""
    value, grad, hess, payload = derivatives(rho)
    converged, it = False, 0
    while it < max_iter:
        it += 1
        active = ~(((rho >= RHO_BOUND) & (grad < 0)) | ((rho <= -RHO_BOUND) & (grad > 0)))
        if np.all(np.abs(grad[active]) < tol * (1.0 + abs(value))):
            converged = True
            break
        vals, vecs = np.linalg.eigh(hess[np.ix_(active, active)])
        vals = np.maximum(np.abs(vals), 1e-8 * max(1.0, np.abs(vals).max()))
        step = np.zeros_like(rho)
        step[active] = -vecs @ ((vecs.T @ grad[active]) / vals)
        step *= min(1.0, 5.0 / max(np.abs(step).max(), 1e-300))
        for _ in range(60):
            trial = np.clip(rho + step, -RHO_BOUND, RHO_BOUND)
            if score(trial) <= value + 1e-12 * abs(value):
                break
            step *= 0.5
        else:
            converged = np.max(np.abs(step)) < 1e-10
            break
        moved = np.max(np.abs(trial - rho))
        rho = trial
        value, grad, hess, payload = derivatives(rho)
        if moved < 1e-12:
            converged = True
            break
    if not converged and not quiet:
        warnings.warn(
            f"{what} Newton did not converge in {it} iterations (|gradient| = "
            f"{np.abs(grad).max():.2e}); results may be inaccurate",
            RuntimeWarning,
            stacklevel=3,
        )
    return NewtonResult(rho, value, grad, payload, it, converged)
