"""RFP: regularized bilevel training of neural networks on clustered data (JAX).

Power & Ghosh, "Regularizing the Forward Pass" (2025).  ``ClusterRegressor`` and
``ClusterClassifier`` minimise R_k (eq. 18); ``tune`` chooses their hyperparameters by
held-out clusters, scoring the loss after adaptation; ``cluster_ate`` estimates the effect
of a cluster-level treatment with any of them as outcome model; ``LocalLinear`` is the
locally adaptive kernel smoother the paper compares against; ``diagnostics`` has the
convex-hull and nearest-neighbour measures of Fig. 7.
"""

from . import diagnostics
from ._warn import RFPConvergenceWarning
from .effects import ClusterEffect, cluster_ate
from .estimators import ClusterClassifier, ClusterRegressor
from .local_linear import LocalLinear
from .objective import RFPConfig, rfp_objective
from .tuning import TuneResult, adapted_predictions, tune

__all__ = [
    "ClusterClassifier",
    "ClusterEffect",
    "ClusterRegressor",
    "LocalLinear",
    "RFPConfig",
    "RFPConvergenceWarning",
    "TuneResult",
    "adapted_predictions",
    "cluster_ate",
    "diagnostics",
    "rfp_objective",
    "tune",
]
