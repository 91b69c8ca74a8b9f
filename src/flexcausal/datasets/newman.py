"""A simulated stand-in for Newman (2016), the first application of the gKRLS paper.

Chang and Goplerud (2024, Sec. 5, Fig. 4; shared/papers/gkrls-generalized-krls.md)
refit Newman's (2016) hierarchical logit of women's rejection of meritocracy on the
county-level ratio of female to male median earnings, which Newman enters as a concave
quadratic ("glass ceiling": rejection peaks near, but short of, parity), with 24
controls and county random intercepts. Their model has four parts: the controls
(linear, unpenalized), a kernel ``krls()`` of all covariates, a county random
intercept and a spline of the earnings ratio, all fitted by REML.

The survey data are not redistributable, so ``newman`` simulates data of the same
shape: ~3,000 women (Newman's sample; there is no sex column) in ~150 counties, 24
controls (``NEWMAN_CONTROLS``: 8 continuous and 10 binary individual characteristics,
6 county characteristics), a county random intercept and the key variable
``earnings_ratio`` with a concave effect on a latent index

    y* = eta + e,   e ~ standard logistic,
    eta = a + x'b + h(x) + u_county + g(earnings_ratio),
    g(r) = -NEWMAN_CURVATURE (r - NEWMAN_PEAK)^2,

where h is a small smooth interaction of controls (something for the kernel to find).
The binary outcome is y = 1{y* > 0} (P(y = 1) = F(eta)); with ``ordered=True`` the same
draw is cut at ``NEWMAN_CUTS`` into a 4-category ordered outcome ``y_ord`` in 1..4
(y = 1 exactly when y_ord >= 3; P(y_ord = 4) = F(eta - cut_3)).

The truth the figure needs, the average predicted probability as the key variable is
set to each value of a grid for every respondent (and its derivative, the average
marginal effect), is ``newman_truth``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit

from .._checks import check_seed
from .simulations import _check_positive_int

__all__ = [
    "NEWMAN_CONTROLS",
    "NEWMAN_CUTS",
    "NEWMAN_KEY",
    "newman",
    "newman_key_effect",
    "newman_truth",
]

NEWMAN_KEY = "earnings_ratio"
_CONTINUOUS = ["age", "education", "income", "ideology", "party_id", "church_attend",
               "household_size", "years_in_county"]
_BINARY = ["black", "hispanic", "married", "employed", "unemployed", "union_member",
           "has_children", "homeowner", "born_again", "veteran"]
_COUNTY = ["cty_log_income", "cty_unemployment", "cty_pct_college", "cty_log_density",
           "cty_pct_black", "cty_pct_hispanic"]
NEWMAN_CONTROLS = _CONTINUOUS + _BINARY + _COUNTY  # 24 controls

NEWMAN_PEAK = 0.80  # earnings ratio where the latent index peaks
NEWMAN_CURVATURE = 20.0  # g(r) = -curvature (r - peak)^2 on the logit scale
NEWMAN_CUTS = (-1.3, 0.0, 1.2)  # cut points of the ordered outcome (y = 1{y* > 0})
_RE_SD = 0.2  # sd of the county random intercepts
_INTERCEPT = 0.1

# latent-index coefficients of the controls: per unit of (x - center) / scale for the
# columns in _CENTER_SCALE, per unit of the 0/1 column for the binary ones
_CENTER_SCALE = {
    "age": (48.0, 17.0), "education": (4.0, 1.6), "income": (5.0, 2.3),
    "ideology": (4.0, 1.5), "party_id": (4.0, 2.0), "church_attend": (2.5, 1.7),
    "household_size": (2.6, 1.4), "years_in_county": (20.0, 15.0),
    "cty_log_income": (10.8, 0.25), "cty_unemployment": (6.0, 2.0),
    "cty_pct_college": (25.0, 9.0), "cty_log_density": (5.0, 1.5),
    "cty_pct_black": (10.0, 10.0), "cty_pct_hispanic": (10.0, 10.0),
}
_BETA = {
    "age": -0.10, "education": 0.15, "income": -0.30, "ideology": -0.35, "party_id": -0.20,
    "church_attend": -0.10, "household_size": 0.05, "years_in_county": 0.05,
    "black": 0.45, "hispanic": 0.20, "married": -0.10, "employed": 0.05, "unemployed": 0.35,
    "union_member": 0.25, "has_children": 0.05, "homeowner": -0.15, "born_again": -0.10,
    "veteran": 0.0,
    "cty_log_income": -0.05, "cty_unemployment": 0.10, "cty_pct_college": 0.05,
    "cty_log_density": 0.05, "cty_pct_black": 0.0, "cty_pct_hispanic": 0.05,
}


def newman_key_effect(ratio) -> np.ndarray:
    """g(r) = -NEWMAN_CURVATURE (r - NEWMAN_PEAK)^2: the key variable's effect on the
    latent (logit) index, concave with its peak at NEWMAN_PEAK (short of parity, 1)."""
    r = np.asarray(ratio, dtype=float)
    return -NEWMAN_CURVATURE * (r - NEWMAN_PEAK) ** 2


def _z(data: pd.DataFrame, col: str) -> np.ndarray:
    center, scale = _CENTER_SCALE[col]
    return (data[col].to_numpy(dtype=float) - center) / scale


def _base_index(data: pd.DataFrame) -> np.ndarray:
    """eta without the key variable: intercept, linear controls, the smooth interaction
    h and the county effect (column ``county_re``)."""
    eta = np.full(len(data), _INTERCEPT) + data["county_re"].to_numpy(dtype=float)
    for col, b in _BETA.items():
        x = _z(data, col) if col in _CENTER_SCALE else data[col].to_numpy(dtype=float)
        eta = eta + b * x
    age, inc, ideo, edu = (_z(data, c) for c in ("age", "income", "ideology", "education"))
    # h: interactions the additive model omits (for the kernel to pick up)
    married = data["married"].to_numpy(dtype=float)
    return eta + 0.4 * np.tanh(edu * ideo) - 0.25 * age * inc * married


def newman_truth(data: pd.DataFrame, grid, quantity: str = "probability",
                 ordered: bool = False) -> np.ndarray:
    """The true curve of Fig. 4 on ``grid``: the key variable set to each grid value for
    every row of ``data`` (a frame from ``newman``), with the rows' own controls and
    county effects.

    ``quantity="probability"``: mean_i P(y_i = 1 | key = v) = mean_i F(eta_i(v)) (with
    ``ordered=True``: the top category, mean_i F(eta_i(v) - cut_3));
    ``"ame"``: its derivative in v, mean_i f(eta_i(v)) g'(v) (the average marginal effect).
    """
    if quantity not in ("probability", "ame"):
        raise ValueError(f"quantity must be 'probability' or 'ame', got {quantity!r}")
    grid = np.atleast_1d(np.asarray(grid, dtype=float))
    base = _base_index(data) - (NEWMAN_CUTS[2] if ordered else 0.0)
    eta = base[None, :] + newman_key_effect(grid)[:, None]
    p = expit(eta)
    if quantity == "probability":
        return p.mean(axis=1)
    slope = -2.0 * NEWMAN_CURVATURE * (grid - NEWMAN_PEAK)
    return (p * (1 - p)).mean(axis=1) * slope


def _counties(rng, n: int, n_counties: int) -> np.ndarray:
    """County of each respondent: unequal sizes, every county present when n >= counties."""
    weights = rng.lognormal(0.0, 0.6, n_counties)
    county = rng.choice(n_counties, size=n, p=weights / weights.sum())
    if n >= n_counties:
        county[rng.choice(n, n_counties, replace=False)] = np.arange(n_counties)
    return county


def newman(n: int = 3000, n_counties: int = 150, seed=0, ordered: bool = False) -> pd.DataFrame:
    """Simulated Newman (2016) survey: women's rejection of meritocracy by county.

    Args:
        n: respondents (Newman: about 3,000).
        n_counties: counties (about 150); county sizes are unequal.
        seed: int, None or ``numpy.random.Generator``.
        ordered: also return ``y_ord``, a 4-category ordered outcome (1..4) cut from the
            same latent draw as ``y``.

    Returns:
        DataFrame with ``y`` (0/1), [``y_ord``], the 24 ``NEWMAN_CONTROLS`` (age,
        education, income, ideology, party_id, church_attend, household_size,
        years_in_county continuous; black ... veteran binary 0/1; six ``cty_*`` county
        characteristics), ``county`` (string id ``"c001"``...), the key variable
        ``earnings_ratio`` (county female/male median earnings, about 0.55 to 1.05),
        ``county_re`` (the true random intercept) and ``truth`` = P(y = 1 | all of
        them). Fit the paper's model with
        ``fc.gam("y ~ " + " + ".join(NEWMAN_CONTROLS) + " + krls(" + ", ".join(
        NEWMAN_CONTROLS + ["earnings_ratio"]) + ") + re(county) + s(earnings_ratio)",
        df, family="binomial")``; the true Fig. 4 curves are ``newman_truth(df, grid)``.
    """
    n = _check_positive_int(n, "n")
    n_counties = _check_positive_int(n_counties, "n_counties")
    if n_counties < 2:
        raise ValueError(f"n_counties must be >= 2, got {n_counties}")
    rng = check_seed(seed)

    # counties: characteristics, random intercept and the key variable
    zc = rng.standard_normal((n_counties, 6))
    college = 25.0 + 9.0 * zc[:, 2]
    cty = {
        "cty_log_income": 10.8 + 0.25 * (0.6 * zc[:, 0] + 0.4 * zc[:, 2]),
        "cty_unemployment": np.clip(6.0 + 2.0 * zc[:, 1], 1.5, None),
        "cty_pct_college": np.clip(college, 5.0, 70.0),
        "cty_log_density": 5.0 + 1.5 * (0.5 * zc[:, 2] + 0.85 * zc[:, 3]),
        "cty_pct_black": 40.0 * expit(-2.0 + 1.2 * zc[:, 4]),
        "cty_pct_hispanic": 50.0 * expit(-2.0 + 1.2 * zc[:, 5]),
    }
    ratio = 0.55 + 0.48 * expit(0.3 * zc[:, 2] + 1.3 * rng.standard_normal(n_counties))
    u = rng.normal(0.0, _RE_SD, n_counties)
    county = _counties(rng, n, n_counties)

    # respondents
    zi = rng.standard_normal((n, 8))
    age = np.clip(np.round(48 + 17 * zi[:, 0]), 18, 90)
    education = np.clip(np.round(4.0 + 1.6 * zi[:, 1]), 1, 7)
    income = np.clip(np.round(5.0 + 1.6 * zi[:, 2] + 0.7 * (education - 4)), 1, 9)
    ideology = np.clip(np.round(4.0 + 1.5 * zi[:, 3]), 1, 7)
    party = np.clip(np.round(4.0 + 0.6 * (ideology - 4) * 1.3 + 1.4 * zi[:, 4]), 1, 7)
    church = np.clip(np.round(2.5 + 0.4 * (ideology - 4) + 1.5 * zi[:, 5]), 0, 5)
    household = np.clip(np.round(2.6 + 1.4 * zi[:, 6]), 1, 8)
    years = np.clip(np.round(np.minimum(age - 18, 20 + 15 * zi[:, 7])), 0, None)
    pct_black = cty["cty_pct_black"][county] / 100
    pct_hisp = cty["cty_pct_hispanic"][county] / 100
    black = rng.random(n) < pct_black
    hispanic = (rng.random(n) < pct_hisp / (1 - pct_black)) & ~black
    married = rng.random(n) < expit(0.2 + 0.3 * (income - 5) / 2.3 - 0.5 * black)
    status = rng.random(n)
    unemp = cty["cty_unemployment"][county] / 100
    employed = status < 0.62 * (age < 67) + 0.1
    unemployed = ~employed & (status < 0.62 * (age < 67) + 0.1 + 1.5 * unemp)
    df = pd.DataFrame({
        "age": age, "education": education, "income": income, "ideology": ideology,
        "party_id": party, "church_attend": church, "household_size": household,
        "years_in_county": years,
        "black": black, "hispanic": hispanic, "married": married, "employed": employed,
        "unemployed": unemployed,
        "union_member": rng.random(n) < 0.08 + 0.06 * employed,
        "has_children": rng.random(n) < expit(-0.5 + 0.8 * (household - 2.6)),
        "homeowner": rng.random(n) < expit(0.6 + 0.3 * (income - 5) / 2.3 + 0.02 * (age - 48)),
        "born_again": rng.random(n) < expit(-1.0 + 0.5 * (church - 2.5) + 0.3 * (ideology - 4)),
        "veteran": rng.random(n) < 0.03 + 0.04 * (age > 60),
    })
    for col in _BINARY:
        df[col] = df[col].astype(np.int64)
    for col, values in cty.items():
        df[col] = np.round(values[county], 4)
    width = len(str(n_counties))
    df["county"] = np.array([f"c{k + 1:0{width}d}" for k in range(n_counties)],
                            dtype=object)[county]
    df[NEWMAN_KEY] = np.round(ratio[county], 4)
    df["county_re"] = u[county]

    eta = _base_index(df) + newman_key_effect(df[NEWMAN_KEY])
    latent = eta + rng.logistic(0.0, 1.0, n)
    y_ord = 1 + (latent[:, None] > np.asarray(NEWMAN_CUTS)[None, :]).sum(axis=1)
    out = {"y": (y_ord >= 3).astype(np.int64)}
    if ordered:
        out["y_ord"] = y_ord.astype(np.int64)
    front = pd.DataFrame(out)
    df["truth"] = expit(eta)
    return pd.concat([front, df], axis=1)
