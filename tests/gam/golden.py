"""Load the R gKRLS/mgcv golden cases (tests/golden/gkrls_gaussian.json)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


@cache
def golden(name: str = "gkrls_gaussian.json") -> dict:
    return json.loads((GOLDEN / name).read_text())


def with_indices(formula: str, indices: dict) -> tuple[str, dict]:
    """Add ``indices=idx_j`` to the j-th krls() call; return formula and the namespace."""
    env, out, pos = {}, [], 0
    for j, (_, idx) in enumerate(indices.items()):
        start = formula.index("krls(", pos)
        depth, end = 0, start
        for end in range(start, len(formula)):
            depth += formula[end] == "("
            depth -= formula[end] == ")"
            if depth == 0 and formula[end] == ")":
                break
        out.append(formula[pos:end] + f", indices=idx_{j})")
        env[f"idx_{j}"] = np.asarray(idx, dtype=np.int64)
        pos = end + 1
    out.append(formula[pos:])
    return "".join(out), env


def case_frames(case: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training and new data; string columns inside krls() become categoricals (R factors)."""
    data, newdata = pd.DataFrame(case["data"]), pd.DataFrame(case["newdata"])
    for col in data.columns:
        if not pd.api.types.is_numeric_dtype(data[col]) and f", {col}" in case["formula_py"]:
            levels = sorted(data[col].unique())
            data[col] = pd.Categorical(data[col], categories=levels)
            newdata[col] = pd.Categorical(newdata[col], categories=levels)
    return data, newdata
