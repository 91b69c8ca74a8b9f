"""GAM-specific checks of the response and arguments, as R/mgcv makes them.

Valid starting values for the family, binomial success counts, and ``sp=``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def check_family_start(family, y: np.ndarray, w: np.ndarray, name: str) -> None:
    """ValueError when the family's starting values are invalid (R: "cannot find valid
    starting values"), e.g. a log or inverse link on a response with values <= 0."""
    with np.errstate(all="ignore"):
        mu = family.mu_start(y, w)
        eta = family.link.link(mu)
    if not (np.all(np.isfinite(eta)) and family.valid_mu(mu)):
        bad = int((~np.isfinite(eta)).sum())
        raise ValueError(
            f"cannot find valid starting values for {family!r}: the link of the response "
            f"{name!r} is not finite for {bad} row(s) (e.g. log or inverse link with values "
            "<= 0); use another link or transform the response"
        )


def warn_noninteger_successes(family, y: np.ndarray, w: np.ndarray, name: str) -> None:
    """R's binomial warning "non-integer #successes": y * weights should count successes."""
    import warnings

    if family.name != "binomial":
        return
    k = y * w
    bad = int((np.abs(k - np.round(k)) > 1e-7 * np.maximum(1.0, np.abs(k))).sum())
    if bad:
        warnings.warn(
            f"binomial response {name!r}: y * weights is not a whole number of successes for "
            f"{bad} row(s) (R: 'non-integer #successes in a binomial glm'); for proportions "
            "pass weights= the number of trials",
            UserWarning,
            stacklevel=3,
        )


def check_smoothing_parameters(sp, labels: Sequence[str]) -> np.ndarray | None:
    """``sp=``: None, or one finite number > 0 per smooth term (in formula order, or a
    dict / Series keyed by term label); mgcv's scale."""
    if sp is None:
        return None
    labels = list(labels)
    if not labels and not isinstance(sp, str) and np.size(sp) == 0:
        return None
    if not labels:
        raise ValueError("sp= was given but the formula has no smooth terms (krls(), s(), "
                         "re()); drop sp=")
    if isinstance(sp, (dict, pd.Series)):
        keys = list(sp.keys())
        unknown = [k for k in keys if k not in labels]
        missing = [k for k in labels if k not in keys]
        if unknown or missing:
            raise ValueError(f"sp keys must be the smooth terms {labels}; unknown {unknown}, "
                             f"missing {missing}")
        sp = [sp[k] for k in labels]
    if isinstance(sp, str):
        raise TypeError(f"sp must be numbers (one per smooth term {labels}), got {sp!r}")
    try:
        arr = np.atleast_1d(np.asarray(sp, dtype=np.float64))
    except (TypeError, ValueError):
        raise TypeError(f"sp must be numbers (one per smooth term {labels}), got {sp!r}") from None
    if arr.shape != (len(labels),):
        raise ValueError(
            f"sp must be {len(labels)} positive finite number(s), one per smooth term "
            f"{labels}; got shape {arr.shape}"
        )
    bad = [f"{lab}={v}" for lab, v in zip(labels, arr, strict=True)
           if not (np.isfinite(v) and v > 0)]
    if bad:
        raise ValueError(f"sp must be positive finite numbers (mgcv scale), got {bad}")
    return arr
