"""Identifiability of the unpenalized part of a GAM: linearly dependent columns.

The parametric model matrix plus each ``s(x)``'s linear trend must have full column
rank; dependent columns are found as R's ``lm`` finds them (tolerance 1e-7) and
reported as combinations of the others, naming what to drop.
"""

from __future__ import annotations

import numpy as np

from .terms import ParametricTerms


def check_identifiable(terms, encodings, weights: np.ndarray) -> None:
    """ValueError naming parametric columns that are linear combinations of others.

    The unpenalized columns are the parametric model matrix plus, for each ``s(x)``, the
    linear trend in x that its penalty leaves unpenalized. A column dependent on earlier
    ones (R ``lm`` order and tolerance) has no estimable coefficient; REML would fail or
    give a meaningless huge standard error, so we ask the user to drop it.
    """
    rows = weights > 0
    parts, centred, names = [], [], []
    for term, enc in zip(terms, encodings, strict=True):
        if isinstance(term, ParametricTerms):
            block = enc[rows]
            parts.append(block)
            if term.coef_names[:1] == ["(Intercept)"] and block.shape[0] > 1:
                # centre as the REML core does (reparam.py), so that a covariate with a
                # large mean is not mistaken for a multiple of the intercept
                block = np.hstack([block[:, :1], block[:, 1:] - block[:, 1:].mean(axis=0)])
            centred.append(block)
            names += term.coef_names
        elif term.penalties:
            N = term.null_space()  # what the penalties leave free, e.g. s(x)'s linear part
            if N.shape[1]:
                block = term.expand(enc[rows]) @ N
                parts.append(block - block.mean(axis=0))
                centred.append(parts[-1])
                names += [f"{term.label}'s unpenalized part"] * N.shape[1] if N.shape[1] > 1 \
                    else [f"{term.label}'s linear part"]
    if not parts:
        return
    report_dependent(np.hstack(centred), np.hstack(parts), names)


def report_dependent(centred: np.ndarray, X: np.ndarray, names: list[str]) -> None:
    """ValueError naming the dependent columns of ``centred`` (the unpenalized columns,
    centred as the REML core centres them) as combinations of the others in the
    uncentred ``X``. Either may be replaced by any matrix with the same Gram matrix
    (e.g. a stacked QR factor of row blocks, for data not in memory)."""
    dependent = dependent_columns(centred)
    if not dependent:
        return
    kept = [j for j in range(X.shape[1]) if j not in dependent]
    lines, drop = [], []
    for j in dependent:
        coef = np.linalg.lstsq(X[:, kept], X[:, j], rcond=None)[0] if kept else np.zeros(0)
        used = [(c, names[k]) for c, k in zip(coef, kept, strict=True)
                if abs(c) > 1e-8 * max(1.0, np.abs(coef).max())]
        combo = "".join(f" {'-' if c < 0 else '+'} {abs(c):.4g}*{name}" for c, name in used)
        combo = (combo[3:] if combo.startswith(" + ") else "-" + combo[3:]) if combo else "0"
        if names[j].endswith(("'s linear part", "'s unpenalized part")):
            parametric = [name for _, name in used if name != "(Intercept)"]
            lines.append(f"{names[j]} = {combo}")
            drop += parametric
        else:
            lines.append(f"{names[j]} = {combo}")
            drop.append(names[j])
    drop = list(dict.fromkeys(drop))
    raise ValueError(
        "the model's unpenalized columns are linearly dependent (rank deficient): "
        f"{'; '.join(lines)}. Drop {drop} from the formula: a constant column, a column "
        "that is a combination of others, or a factor level with no rows cannot be "
        "estimated, and s(x) already contains the linear effect of x"
    )


def dependent_columns(X: np.ndarray, tol: float = 1e-7, block_rows: int = 100_000) -> list[int]:
    """Columns of ``X`` that are (numerically) linear combinations of earlier columns.

    As R's ``lm`` (LINPACK ``dqrdc2``, tolerance 1e-7): a column is dependent when its
    residual after projecting on the kept earlier columns has norm < ``tol`` times its
    own norm. All-zero columns are dependent. R of a row-blocked QR of the
    unit-norm columns (never more than ``block_rows`` rows at once) carries the geometry.
    """
    X = np.asarray(X, dtype=np.float64)
    n, p = X.shape
    if p == 0:
        return []
    norms = np.sqrt(sum(np.einsum("ij,ij->j", X[s:s + block_rows], X[s:s + block_rows])
                        for s in range(0, n, block_rows)))
    scale = np.where(norms > 0, norms, 1.0)
    if np.all(norms > 0) and _clearly_full_rank(X, scale, block_rows):
        return []
    R = np.zeros((0, p))
    for s in range(0, n, block_rows):
        stacked = np.vstack([R, X[s:s + block_rows] / scale])
        R = np.linalg.qr(stacked, mode="r")
    dependent, basis = [], np.zeros((R.shape[0], 0))
    for j in range(p):
        if norms[j] == 0:
            dependent.append(j)
            continue
        v = R[:, j].copy()
        for _ in range(2):  # Gram-Schmidt, twice is enough
            v -= basis @ (basis.T @ v)
        r = float(np.linalg.norm(v))
        if r < tol:
            dependent.append(j)
        else:
            basis = np.column_stack([basis, v / r])
    return dependent


def _clearly_full_rank(X: np.ndarray, scale: np.ndarray, block_rows: int) -> bool:
    """Fast screen on the Gram matrix of the unit-norm columns: True when every column's
    squared residual on the earlier ones exceeds 1e-8 (far above the Gram's rounding,
    far below R's 1e-7 on the residual itself being at stake); False means "ask the QR"."""
    from scipy.linalg import solve_triangular

    n, p = X.shape
    G = np.zeros((p, p))
    for s in range(0, n, block_rows):
        Xb = X[s:s + block_rows] / scale
        G += Xb.T @ Xb
    L = np.zeros((p, p))
    for j in range(p):
        z = solve_triangular(L[:j, :j], G[:j, j], lower=True) if j else np.zeros(0)
        r2 = G[j, j] - z @ z
        if not r2 > 1e-8:
            return False
        L[j, :j], L[j, j] = z, np.sqrt(r2)
    return True
