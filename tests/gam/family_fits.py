"""The likelihood-family golden cases of tests/golden/paper_models.json (R mgcv 1.8-41 +
gKRLS), fitted once per test session and shared by the persistence and smooth p-value
tests (each fit takes about a second)."""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd

from flexcausal.gkrls.model import GAM

from .golden import golden, with_indices

CASES = golden("paper_models.json")["cases"]


def frames(case: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    data, new = pd.DataFrame(case["data"]), pd.DataFrame(case["newdata"])
    for col, levels in (case.get("factor_levels") or {}).items():
        data[col] = pd.Categorical(data[col], categories=levels)
        new[col] = pd.Categorical(new[col], categories=levels)
    return data, new


@cache
def fitted_family(name: str):
    """(case, fitted GAM, training data, new data); multinom: one krls sketch per
    predictor, as in the R fit."""
    case = CASES[name]
    data, new = frames(case)
    formula, env = case["formula_py"], {}
    if isinstance(formula, list):
        parts = []
        for f, (key, idx) in zip(formula, (case.get("sketch_indices") or {}).items(),
                                 strict=False):
            f2, _ = with_indices(f, {key: idx})
            parts.append(f2.replace("idx_0", f"idx_{key}"))
            env[f"idx_{key}"] = np.asarray(idx, dtype=np.int64)
        formula = parts + formula[len(parts):]
    fit = GAM(formula, family=case["family"]).fit(data, env=env)
    return case, fit, data, new
