"""summary()'s smooth-term rows (edf, Ref.df, F/Chi.sq, p-value) against R mgcv 1.8-41
end to end: same data, same formula (tests/golden/make_smooth_pvalues_golden.R)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import flexcausal as fc

GOLDEN = json.loads((Path(__file__).parents[1] / "golden" / "smooth_pvalues_fits.json")
                    .read_text())
DATA = pd.DataFrame(GOLDEN["data"])


@pytest.mark.parametrize("name", sorted(GOLDEN["cases"]))
def test_smooth_table_matches_mgcv(name):
    case = GOLDEN["cases"][name]
    fit = fc.gam(case["formula_py"], DATA, family=case["family"])
    table = fit.summary().smooth
    ref = np.asarray(case["s_table"]["values"], dtype=float)
    np.testing.assert_allclose(table["edf"], ref[:, 0], rtol=1e-4)
    np.testing.assert_allclose(table["Ref.df"], ref[:, 1], rtol=1e-4)
    np.testing.assert_allclose(table.iloc[:, 2], ref[:, 2], rtol=1e-4)
    p, p_ref = table["p-value"].to_numpy(), ref[:, 3]
    np.testing.assert_allclose(np.log(np.maximum(p, 1e-300)),
                               np.log(np.maximum(p_ref, 1e-300)), atol=1e-3)
    assert list(fit.smooth_p_values_.index) == list(table.index)
