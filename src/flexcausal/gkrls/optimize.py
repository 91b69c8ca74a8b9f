"""Newton's method on log smoothing parameters, shared by the Gaussian and GLM fits.

As mgcv ``newton`` (Wood 2011, Sec. 3.3; Wood 2017, Sec. 6.2.1): the Hessian is made
positive definite by taking absolute eigenvalues, steps are capped at 5 in rho and
halved until the score decreases. Convergence as mgcv decides it:

* converged when every free gradient entry is below ``tol * (1 + |V|)``, or when a step
  no longer changes the score beyond round-off while the gradient is below mgcv's own
  ``conv.tol = 1e-6`` level (the score is as flat as float64 can tell);
* a smoothing parameter whose term is at a limit, with the score still falling towards
  it, is held where it is: at the fully penalized end when its edf exceeds the limit by
  less than ``EDF_TOL`` (mgcv likewise stops moving such sp), at the unpenalized end
  when the penalty removes less than ``EDF_TOL`` edf; or at the |rho| = RHO_BOUND box;
* a free parameter drifting to a limit (|rho| > DRIFT_RHO, moving outward, gradient below
  mgcv's ``conv.tol`` level, where mgcv itself stops) is moved outward DRIFT_STEP at a time
  while the others take Newton steps, until it is held at its limit as above or moving it
  no longer lowers the score: Newton would creep there in hundreds of tiny steps;
* after convergence a parameter within 1e-2 edf of a limit, with the score falling
  towards it, is carried on until its edf is within ``EDF_TOL`` of the limit;
* a line search that cannot lower the score, or the iteration limit, ends the search
  as *not converged* unless the gradient is already at the 1e-6 level, with a warning
  that says what to do.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

RHO_BOUND = 35.0  # |log lambda| safety box (terms at a limit are held well inside it)
EDF_TOL = 1e-6  # edf distance from a limit at which a smoothing parameter is held
LOOSE_TOL = 1e-6  # mgcv newton conv.tol: gradient level accepted when round-off limits
DRIFT_RHO = 5.0  # |log lambda| past which a flat parameter moving outward is drifting
DRIFT_STEP = 2.0  # rho step of a drifting parameter (e^2: edf falls about 7-fold a step)


@dataclass
class NewtonResult:
    rho: np.ndarray
    score: float
    grad: np.ndarray
    payload: object
    n_iter: int
    converged: bool
    at_limit: np.ndarray  # +1 held fully penalized, -1 held unpenalized, 0 free
    hess: np.ndarray | None = None  # the Hessian at ``rho``


def _held(rho, grad, payload, limits) -> np.ndarray:
    state = np.zeros(len(rho), dtype=int)
    # within 0.1 of the box counts as on it: halved line-search steps approach the box
    # without reaching it
    state[(rho >= RHO_BOUND - 0.1) & (grad <= 0)] = 1
    state[(rho <= -RHO_BOUND + 0.1) & (grad >= 0)] = -1
    if limits is not None:
        hi, lo = limits(payload)
        state[(hi < EDF_TOL) & (grad <= 0)] = 1
        state[(lo < EDF_TOL) & (grad >= 0)] = -1
    return state


def _drifting(rho, grad, value, held) -> np.ndarray:
    """Free parameters drifting to a limit: past DRIFT_RHO, moving outward, with a
    gradient below mgcv's own convergence level. Newton creeps there (the score falls by
    less than round-off-free tolerances per step, the Hessian vanishes), so they are
    moved outward DRIFT_STEP at a time instead, until held at a limit (``_held``)."""
    flat = np.abs(grad) < LOOSE_TOL * (1.0 + abs(value))
    out = ((rho >= DRIFT_RHO) & (grad < 0)) | ((rho <= -DRIFT_RHO) & (grad > 0))
    return flat & out & (held == 0)


def _settle_at_limits(derivatives, score, rho, value, grad, hess, payload, limits):
    """Carry a parameter whose term is nearly at a limit (within 1e-2 edf) on to within
    EDF_TOL of it, as long as the score does not rise: the gradient test alone can stop
    on the flat approach to sp = infinity (or 0) with edf still 1e-4 off its limit."""
    for j in range(len(rho)):
        hi, lo = limits(payload)
        for direction, excess in ((1.0, hi), (-1.0, lo)):
            if not (direction * grad[j] <= 0 and EDF_TOL <= excess[j] < 1e-2):
                continue
            while EDF_TOL <= limits(payload)[0 if direction > 0 else 1][j]:
                trial = rho.copy()
                trial[j] = np.clip(trial[j] + 2.0 * direction, -RHO_BOUND, RHO_BOUND)
                if trial[j] == rho[j] or score(trial) > value + 1e-12 * (1.0 + abs(value)):
                    break
                rho = trial
                value, grad, hess, payload = derivatives(rho)
    return rho, value, grad, hess, payload


def newton_minimize(
    derivatives: Callable[[np.ndarray], tuple[float, np.ndarray, np.ndarray, object]],
    score: Callable[[np.ndarray], float],
    rho: np.ndarray,
    max_iter: int = 200,
    tol: float = 1e-9,
    what: str = "REML",
    quiet: bool = False,
    limits: Callable[[object], tuple[np.ndarray, np.ndarray]] | None = None,
) -> NewtonResult:
    """Minimise ``score`` given ``derivatives(rho) -> (score, grad, hess, payload)``.

    ``limits(payload) -> (hi, lo)``: per parameter, the edf above its fully penalized
    limit and below its unpenalized limit (see module docstring).
    """
    rho = np.asarray(rho, dtype=float)
    value, grad, hess, payload = derivatives(rho)
    converged, it, reason = False, 0, f"no convergence in {max_iter} iterations"
    held = _held(rho, grad, payload, limits)
    while it < max_iter:
        it += 1
        drift = _drifting(rho, grad, value, held)
        active = (held == 0) & ~drift
        gmax = np.max(np.abs(grad[active]), initial=0.0)
        if gmax < tol * (1.0 + abs(value)) and not drift.any():
            converged = True
            break
        step = np.zeros_like(rho)
        if gmax >= tol * (1.0 + abs(value)):
            vals, vecs = np.linalg.eigh(hess[np.ix_(active, active)])
            vals = np.maximum(np.abs(vals), 1e-8 * max(1.0, np.abs(vals).max()))
            step[active] = -vecs @ ((vecs.T @ grad[active]) / vals)
            step *= min(1.0, 5.0 / max(np.abs(step).max(), 1e-300))
        step[drift] = -DRIFT_STEP * np.sign(grad[drift])
        for _ in range(40):  # down to 5 * 2^-40: smaller steps cannot be told from noise
            trial = np.clip(rho + step, -RHO_BOUND, RHO_BOUND)
            if score(trial) < value + 1e-14 * (1.0 + abs(value)):
                break
            if not active.any() or gmax < tol * (1.0 + abs(value)):
                break  # only drifting parameters move: no halving
            step *= 0.5
        else:
            converged = gmax < LOOSE_TOL * (1.0 + abs(value))
            reason = "the line search could not lower the score"
            break
        if not np.any(step[active]) and score(trial) >= value + 1e-14 * (1.0 + abs(value)):
            converged = True  # moving the drifting parameters further cannot lower the score
            break
        old = value
        rho = trial
        value, grad, hess, payload = derivatives(rho)
        held = _held(rho, grad, payload, limits)
        gmax = np.max(np.abs(grad[held == 0]), initial=0.0)
        if abs(old - value) <= 1e-13 * (1.0 + abs(value)) and gmax < LOOSE_TOL * (
            1.0 + abs(value)
        ):
            converged = True  # flat to round-off: the score cannot tell sp apart
            break
    if converged and limits is not None:
        rho, value, grad, hess, payload = _settle_at_limits(derivatives, score, rho, value,
                                                            grad, hess, payload, limits)
        held = _held(rho, grad, payload, limits)
    if not converged and not quiet:
        free = np.abs(grad[held == 0])
        warnings.warn(
            f"{what} smoothing-parameter search did not converge ({reason}; largest "
            f"|gradient| {free.max(initial=0.0):.2e}). The estimates may be inaccurate: look "
            "for terms that duplicate each other, rescale covariates, or fix the smoothing "
            "parameters with sp=.",
            RuntimeWarning,
            stacklevel=3,
        )
    return NewtonResult(rho, value, grad, payload, it, converged, held, hess)


def polish(res: NewtonResult, max_step: float = 1e-2) -> np.ndarray:
    """One more Newton step on the free parameters of a converged search.

    The convergence test stops wherever the gradient first falls below the tolerance,
    so two runs whose arithmetic differs in the last bits (the same rows summed in
    another order, e.g. in memory and over Dask partitions) can stop one iteration apart,
    their estimates a tolerance-sized step apart. The step from the last gradient and
    Hessian is taken unconditionally (no score comparison to decide on at round-off
    level): after it, both are within the square of that distance of the optimum. Only
    interior parameters move (|rho| < DRIFT_RHO, not held at a limit: near a limit the
    score is flat and a Newton step is noise); not taken when the search did not
    converge, their Hessian is not clearly positive definite, or the step is not small."""
    rho = np.array(res.rho, dtype=float)
    free = (res.at_limit == 0) & (np.abs(rho) < DRIFT_RHO)
    if not res.converged or res.hess is None or not free.any():
        return rho
    H = res.hess[np.ix_(free, free)]
    vals, vecs = np.linalg.eigh(0.5 * (H + H.T))
    if not np.all(vals > 1e-6 * max(1.0, np.abs(vals).max())):
        return rho
    step = -vecs @ ((vecs.T @ res.grad[free]) / vals)
    if not np.all(np.isfinite(step)) or np.max(np.abs(step)) > max_step:
        return rho
    rho[free] = np.clip(rho[free] + step, -RHO_BOUND, RHO_BOUND)
    return rho
