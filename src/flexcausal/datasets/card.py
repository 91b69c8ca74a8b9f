"""Card (1995) returns to schooling, from ``linearmodels.datasets.card`` (NLSYM 1976).

Outcome ``lwage`` (log hourly wage), treatment ``educ`` (years of schooling), instrument
``nearc4`` (grew up near a 4-year college), covariates ``CARD_COVARIATES``: experience and
its square, race (``black``), region (``south``) and ``smsa`` (metropolitan area). This is
the specification of Wooldridge (2010, Example 15.4 / *Introductory Econometrics* Ex. 15.4),
whose 2SLS return to schooling is 0.132 (se 0.049). The 1966 region dummies
``CARD_REGION_DUMMIES`` (``reg669`` the base) are also returned; adding them gives 0.145.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["CARD_COVARIATES", "CARD_REGION_DUMMIES", "card"]

CARD_COVARIATES = ["exper", "expersq", "black", "smsa", "south"]
CARD_REGION_DUMMIES = [f"reg66{i}" for i in range(1, 9)]


def card() -> pd.DataFrame:
    """The Card data: ``lwage, educ, nearc4``, ``CARD_COVARIATES``, ``CARD_REGION_DUMMIES``."""
    from linearmodels.datasets import card as _card

    data = _card.load()
    cols = ["lwage", "educ", "nearc4", *CARD_COVARIATES, *CARD_REGION_DUMMIES]
    return data[cols].dropna().astype(float).reset_index(drop=True)
