"""Stacking gKRLS with other learners (scikit-learn ``StackingRegressor``) on a real data
set that ships with scikit-learn: the diabetes data (Efron et al. 2004; 442 patients, 10
baseline variables, a measure of disease progression one year later).

Base learners: ``KRLSRegressor`` (one kernel over all 10 columns, REML), ``GAMRegressor``
with a formula on named columns (sex and the blood serum measures linear, smooth splines
in bmi and bp, a kernel over age and the blood serum measures), a random forest and
``LassoCV``; the stack is ``RidgeCV`` on their 5-fold out-of-fold predictions
(scikit-learn's default final estimator). Each learner and the stack get the same outer
5-fold cross-validation (shuffled, seeded); the table shows mean R^2 and RMSE over the
outer folds (sd in parentheses) and the wall time of the whole cross-validation.

    .venv/bin/python examples/stacking.py [--folds 5] [--seed 0]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd
from sklearn.datasets import load_diabetes
from sklearn.ensemble import RandomForestRegressor, StackingRegressor
from sklearn.linear_model import LassoCV
from sklearn.model_selection import KFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import flexcausal as fc

GAM_FORMULA = "~ sex + s1 + s2 + s3 + s4 + s5 + s6 + s(bmi) + s(bp) + krls(age, s5, s6)"


def base_learners(seed: int) -> list[tuple[str, object]]:
    return [
        ("gKRLS (KRLSRegressor, all 10)", fc.KRLSRegressor(seed=seed)),
        ("GAMRegressor (formula)", fc.GAMRegressor(GAM_FORMULA)),
        ("random forest (300 trees)", RandomForestRegressor(n_estimators=300,
                                                            min_samples_leaf=3,
                                                            random_state=seed, n_jobs=1)),
        ("LassoCV", make_pipeline(StandardScaler(), LassoCV(cv=5, random_state=seed))),
    ]


def evaluate(X: pd.DataFrame, y: np.ndarray, folds: int = 5, seed: int = 0) -> pd.DataFrame:
    """Outer ``folds``-fold CV scores of each base learner and of their stack."""
    learners = base_learners(seed)
    stack = StackingRegressor([(f"m{i}", est) for i, (_, est) in enumerate(learners)],
                              cv=KFold(folds, shuffle=True, random_state=seed + 1))
    outer = KFold(folds, shuffle=True, random_state=seed)
    rows = []
    for name, est in [*learners, ("stack (RidgeCV on the four)", stack)]:
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cv = cross_validate(est, X, y, cv=outer,
                                scoring=("r2", "neg_root_mean_squared_error"))
        r2, rmse = cv["test_r2"], -cv["test_neg_root_mean_squared_error"]
        rows.append({"learner": name, "R2": f"{r2.mean():.3f} ({r2.std():.3f})",
                     "RMSE": f"{rmse.mean():.1f} ({rmse.std():.1f})",
                     "seconds": round(time.perf_counter() - t0, 1)})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    data = load_diabetes(as_frame=True)
    X, y = data.data, data.target.to_numpy()
    print(f"sklearn diabetes data: N = {len(X)}, columns {list(X.columns)}")
    print(f"GAMRegressor formula: {GAM_FORMULA}")
    print(f"{args.folds}-fold cross-validation (shuffled, seed {args.seed}); mean (sd) "
          "over folds\n")
    print(evaluate(X, y, args.folds, args.seed).to_string(index=False))


if __name__ == "__main__":
    main()
