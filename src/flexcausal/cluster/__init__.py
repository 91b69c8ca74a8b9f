"""RFP: regularized bilevel training of neural networks on clustered data (JAX).

Power & Ghosh, "Regularizing the Forward Pass" (2025).  ``ClusterRegressor`` and
``ClusterClassifier`` minimise R_k (eq. 18); ``LocalLinear`` is the locally adaptive
kernel smoother the paper compares against; ``diagnostics`` has the convex-hull and
nearest-neighbour measures of Fig. 7.
"""

from . import diagnostics
from .estimators import ClusterClassifier, ClusterRegressor
from .local_linear import LocalLinear
from .objective import RFPConfig, rfp_objective

__all__ = [
    "ClusterClassifier",
    "ClusterRegressor",
    "LocalLinear",
    "RFPConfig",
    "diagnostics",
    "rfp_objective",
]
