"""Small pieces of R's arithmetic and formatting that mgcv's results depend on exactly.

* ``r_mean``: ``mean(x)`` for doubles (R ``summary.c``): a long double sum divided by
  n, then one refinement pass ``s + sum(x - s) / n``, in long double.
* ``r_col_means``: ``colMeans(X)`` (R ``do_colsum``): long double column sums / n.
* ``r_as_character``: ``as.character(x)`` for doubles in R 4.2 (``coerceToString``
  with 15 significant digits: ``formatReal`` then ``EncodeRealDrop0``). It decides
  fixed versus scientific notation exactly as R does, so strings built from it sort
  and compare like R's.
* ``unique_rows_r``: the rows of mgcv ``uniquecombs(x, ordered=TRUE)``: for one column
  ``sort(unique(x))``; for several, rows are keyed by
  ``paste0(x1, "*", x2, ...)`` (so values equal to 15 significant digits are one
  value), the first row of each key is kept and keys are ordered in the C locale
  (byte order).

numpy's ``longdouble`` is the x87 80-bit type on x86-64 Linux, as R's ``LDOUBLE``.
"""

from __future__ import annotations

import math

import numpy as np

_LD = np.longdouble
_DIGITS = 15  # DBL_DIG, as.character's precision
_KP_MAX = 27
# R's table is `static const long double tbl[] = {1e00, ..., 1e27}`: double literals, so
# 1e23..1e27 carry their double rounding error into the long double computation.
_TBL = np.array([float(10**k) for k in range(_KP_MAX + 1)], dtype=_LD)


def _ld_sum(x: np.ndarray) -> np.longdouble:
    """Sequential (not pairwise) long double sum, as R's loops."""
    x = np.asarray(x, dtype=_LD)
    return np.cumsum(x)[-1] if x.size else _LD(0)


def r_mean(x: np.ndarray) -> float:
    """R's ``mean()`` of a double vector."""
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    s = _ld_sum(x) / _LD(n)
    if np.isfinite(s):
        s = s + _ld_sum(x.astype(_LD) - s) / _LD(n)
    return float(s)


def r_col_means(X: np.ndarray) -> np.ndarray:
    """R's ``colMeans()`` of a double matrix."""
    X = np.asarray(X, dtype=np.float64)
    sums = np.cumsum(X.astype(_LD), axis=0)[-1]
    return (sums / _LD(X.shape[0])).astype(np.float64)


def _scientific(r: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """R ``scientific()`` with 15 digits, vectorised over r = |x| > 0: the decimal
    exponent kpower, the number of significant digits nsig <= 15 and roundingwidens."""
    r = np.asarray(r, dtype=np.float64)
    log10 = np.array([math.log10(v) for v in r])  # libm's log10, as R's
    kp = np.floor(log10).astype(np.int64) - _DIGITS + 1
    r_prec = r.astype(_LD)
    up, down, far = (kp > 0) & (kp <= _KP_MAX), (kp < 0) & (kp >= -_KP_MAX), np.abs(kp) > _KP_MAX
    r_prec[up] /= _TBL[kp[up]]
    r_prec[down] *= _TBL[-kp[down]]
    r_prec[far] /= np.power(_LD(10), kp[far].astype(_LD))
    small = r_prec < _TBL[_DIGITS - 1]
    r_prec[small] *= _LD(10)
    kp[small] -= 1
    alpha = np.rint(r_prec).astype(np.float64)  # nearbyintl: round half to even
    nsig = np.full(r.shape, _DIGITS, dtype=np.int64)
    trailing = np.ones(r.shape, dtype=bool)  # still stripping trailing zero digits
    for _ in range(_DIGITS):
        alpha /= 10.0
        trailing &= alpha == np.floor(alpha)
        nsig -= trailing
    none = nsig == 0
    nsig[none] = 1
    kp[none] += 1
    kpower = kp + _DIGITS - 1
    rgt = np.clip(_DIGITS - kpower, 0, _KP_MAX)
    fuzz = 0.5 / _TBL[rgt].astype(np.float64)
    in_tbl = (kpower > 0) & (kpower <= _KP_MAX)
    widens = in_tbl & (r.astype(_LD) < _TBL[np.clip(kpower, 0, _KP_MAX)] - fuzz.astype(_LD))
    return kpower, nsig, widens


def _drop0(s: str) -> str:
    """EncodeRealDrop0: drop trailing zeros of the digits after '.', and a bare '.'."""
    mantissa, e, exponent = s.partition("e")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    return mantissa + e + exponent


def r_as_character(values) -> list[str]:
    """``as.character(x)`` of finite doubles, R 4.2 (15 significant digits, fixed
    notation unless scientific is narrower, trailing zeros dropped)."""
    x = np.atleast_1d(np.asarray(values, dtype=np.float64))
    if not np.all(np.isfinite(x)):
        raise ValueError("r_as_character needs finite numbers")
    out = ["0"] * x.size
    nonzero = np.flatnonzero(x != 0.0)
    kpower, nsig, widens = _scientific(np.abs(x[nonzero]))
    for i, kp, ns, wd in zip(nonzero.tolist(), kpower.tolist(), nsig.tolist(),
                             widens.tolist(), strict=True):
        v = float(x[i])
        neg = int(v < 0)
        left = kp + 1 - int(wd)
        rgt = max(ns - left, 0)
        width_f = (1 + neg if left < 0 else neg + max(left, 1)) + rgt + (rgt != 0)
        digits = ns - 1
        width_e = neg + (digits > 0) + digits + 4 + (2 if left > 100 or left <= -99 else 1)
        if width_f <= width_e:  # options(scipen = 0)
            out[i] = _drop0(f"{v:.{rgt}f}")
        else:
            out[i] = _drop0(f"{v:.{digits}e}")
    return out


def unique_rows_r(X: np.ndarray) -> np.ndarray:
    """The rows of mgcv ``uniquecombs(X, ordered=TRUE)`` in R's order."""
    X = np.asarray(X, dtype=np.float64)
    if X.shape[1] == 1:
        return np.unique(X[:, 0])[:, None]
    cols = [r_as_character(X[:, j]) for j in range(X.shape[1])]
    keys = ["*".join(parts) for parts in zip(*cols, strict=True)]
    first: dict[str, int] = {}
    for i, key in enumerate(keys):
        first.setdefault(key, i)
    order = sorted(first, key=lambda s: s.encode("ascii"))
    return X[[first[key] for key in order]]
