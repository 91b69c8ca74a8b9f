"""The warning RFP raises when training or adaptation does not behave."""

from __future__ import annotations

from sklearn.exceptions import ConvergenceWarning

__all__ = ["RFPConvergenceWarning"]


class RFPConvergenceWarning(ConvergenceWarning, RuntimeWarning):
    """RFP training or adaptation diverged, or was kept from diverging by the safeguard.

    A scikit-learn ``ConvergenceWarning`` (so ``warnings.filterwarnings`` on it works as for
    any estimator) and a ``RuntimeWarning``.
    """
