"""flexcausal: flexible, trustworthy estimation for applied statistics and econometrics."""

__version__ = "0.1.0"

from . import datasets  # noqa: E402
from .gam.effects import interactions, marginal_effects  # noqa: E402
from .gam.io import load  # noqa: E402
from .gam.model import GAM, gam  # noqa: E402
from .gam.sklearn import KRLSRegressor  # noqa: E402
from .plotting import plot_effects  # noqa: E402

__all__ = [
    "GAM",
    "KRLSRegressor",
    "datasets",
    "gam",
    "interactions",
    "iv",
    "load",
    "marginal_effects",
    "plot_effects",
    "__version__",
]


def __getattr__(name: str):
    """Import the JAX-based subpackages (``iv``, ``cluster``) only when first used."""
    if name in ("iv", "cluster"):
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'flexcausal' has no attribute {name!r}")
