"""Built-in data: the simulation designs of the papers (each returns a pandas DataFrame).

>>> import flexcausal as fc
>>> df = fc.datasets.three_hills(2000)          # y, x1, x2, truth
>>> df = fc.datasets.hierarchical(1000)         # y, x1, x2, x3, g, truth
>>> df = fc.datasets.newman(3000)               # y, 24 controls, county, earnings_ratio
>>> df = fc.datasets.gulzar_like(32461)         # y, treat, lat, lon, controls, cluster
>>> df = fc.datasets.demand_proxy(10000)        # DFPV proxy design; demand_proxy_truth()
>>> df = fc.datasets.cluster_trial(60, 20)      # y, d, w, x1, x2, g, stratum, mu0, mu1, tau
"""

from .card import CARD_COVARIATES, CARD_REGION_DUMMIES, card
from .cluster_trial import cluster_trial
from .demand import demand, demand_psi, demand_structural, demand_test_grid
from .gulzar import GULZAR_CONTROLS, gulzar_like, gulzar_surface
from .newman import (
    NEWMAN_CONTROLS,
    NEWMAN_CUTS,
    NEWMAN_KEY,
    newman,
    newman_key_effect,
    newman_truth,
)
from .proxy import demand_proxy, demand_proxy_grid, demand_proxy_truth
from .rfp import (
    rfp_clusters,
    rfp_exp1,
    rfp_exp1_truth,
    rfp_gaussian_clusters,
    rfp_tragic_triad,
    rfp_truth,
)
from .simulations import hierarchical, three_hills, three_hills_truth

__all__ = [
    "CARD_COVARIATES",
    "CARD_REGION_DUMMIES",
    "card",
    "cluster_trial",
    "demand",
    "demand_proxy",
    "demand_proxy_grid",
    "demand_proxy_truth",
    "demand_psi",
    "demand_structural",
    "demand_test_grid",
    "GULZAR_CONTROLS",
    "gulzar_like",
    "gulzar_surface",
    "hierarchical",
    "NEWMAN_CONTROLS",
    "NEWMAN_CUTS",
    "NEWMAN_KEY",
    "newman",
    "newman_key_effect",
    "newman_truth",
    "rfp_clusters",
    "rfp_exp1",
    "rfp_exp1_truth",
    "rfp_gaussian_clusters",
    "rfp_tragic_triad",
    "rfp_truth",
    "three_hills",
    "three_hills_truth",
]
