"""flexcausal: flexible, trustworthy estimation for applied statistics and econometrics."""

__version__ = "0.1.0"

from . import datasets  # noqa: E402
from .gkrls.effects import interactions, marginal_effects  # noqa: E402
from .gkrls.model import (  # noqa: E402
    GAM,
    gam,
    load,  # noqa: E402
)
from .gkrls.sklearn import KRLSClassifier, KRLSRegressor  # noqa: E402
from .gkrls.sklearn_gam import GAMClassifier, GAMRegressor  # noqa: E402
from .hte import RLearner, rlearner  # noqa: E402
from .plotting import plot_effects, plot_smooth  # noqa: E402
from .sensitivity import SketchSensitivity, sketch_sensitivity  # noqa: E402

__all__ = [
    "ClusterClassifier",
    "ClusterRegressor",
    "GAM",
    "GAMClassifier",
    "GAMRegressor",
    "KRLSClassifier",
    "KRLSRegressor",
    "RLearner",
    "SketchSensitivity",
    "datasets",
    "dml",
    "gam",
    "cluster",
    "interactions",
    "iv",
    "load",
    "marginal_effects",
    "ope",
    "plot_effects",
    "plot_smooth",
    "rlearner",
    "sketch_sensitivity",
    "__version__",
]


_LAZY = {"ClusterRegressor": "cluster", "ClusterClassifier": "cluster"}


def __getattr__(name: str):
    """Import the JAX-based parts (``iv``, ``cluster``, RFP estimators), ``ope`` (gymnasium,
    the rl extra) and ``dml`` (the doubleml extra) on first use."""
    import importlib

    if name in ("iv", "cluster", "dml", "ope"):
        return importlib.import_module(f".{name}", __name__)
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'flexcausal' has no attribute {name!r}")
