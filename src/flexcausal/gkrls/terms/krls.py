"""``krls(x1, x2, ...)``: the gKRLS Gaussian-kernel smooth (Chang & Goplerud 2024)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..._checks import check_choice, check_positive, check_seed
from .. import schema as sc
from ..kernel import (
    KERNEL_CHUNK,
    SKETCHES,
    STANDARDIZE,
    KernelSketch,
    Standardizer,
    build_sketch,
    column_scales,
    sketch_from_anchors,
    sketch_rows,
)
from ..kernel import gaussian_kernel as _kernel
from .base import Term, is_number_like, rescale_penalty


class KRLSTerm(Term):
    """``krls(x1, x2, ...)``: the gKRLS Gaussian-kernel smooth (R: ``s(..., bs="gKRLS")``)."""

    kind = "krls"
    n_penalties = 1  # its penalty is scaled once the whole data have been seen (finish)

    def __init__(
        self,
        columns,
        sketch="subsampling",
        multiplier=5,
        size=None,
        indices=None,
        standardize="mahalanobis",
        bandwidth=None,
        seed=0,
    ):
        super().__init__()
        if not columns:
            raise ValueError("krls() needs at least one column, e.g. krls(x1, x2)")
        self.columns = list(columns)
        self.sketch = check_choice(sketch, SKETCHES, "krls() sketch")
        self.standardize = check_choice(standardize, STANDARDIZE, "krls() standardize")
        if size is not None and (
            isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1
        ):
            raise ValueError(f"krls() size must be a positive integer, got {size!r}")
        if (isinstance(multiplier, bool) or not isinstance(multiplier, (int, float, np.number))
                or not np.isfinite(multiplier) or multiplier <= 0):
            raise ValueError(f"krls() multiplier must be a positive number, got {multiplier!r}")
        if bandwidth is not None:
            try:
                check_positive(bandwidth, "krls() bandwidth")
            except (TypeError, ValueError):
                raise ValueError(
                    f"krls() bandwidth must be positive (a finite number > 0) or None, got "
                    f"{bandwidth!r}"
                ) from None
        if isinstance(seed, bool) or not (
            seed is None or isinstance(seed, (int, np.integer, np.random.Generator))
        ):
            raise TypeError(f"krls() seed must be an int >= 0, None or a numpy Generator, "
                            f"got {seed!r}")
        if isinstance(seed, (int, np.integer)) and seed < 0:
            raise ValueError(f"krls() seed must be >= 0, got {seed}")
        self.multiplier, self.size, self.indices = multiplier, size, indices
        self.bandwidth_arg, self.seed = bandwidth, seed
        self.label = f"krls({','.join(self.columns)})"

    def _raw(self, data: pd.DataFrame) -> np.ndarray:
        """Numeric columns as is; factors one-hot over all training levels (gKRLS)."""
        parts = []
        for col in self.columns:
            if col in self.levels:
                values = data[col].astype(str).to_numpy()
                onehot = (values[:, None] == np.asarray(self.levels[col])[None, :]).astype(float)
                parts.append(onehot)
            else:
                parts.append(data[col].to_numpy(dtype=np.float64)[:, None])
        return np.hstack(parts)

    def setup(self, data: pd.DataFrame) -> None:
        self.set_levels({col: [str(c) for c in data[col].cat.categories]
                         for col in self.columns
                         if isinstance(data[col].dtype, pd.CategoricalDtype)},
                        {col: data[col].dtype for col in self.columns})
        raw = self._raw(data)
        self.warn_constant([c for c in self.columns
                            if c not in self.levels and np.ptp(data[c]) == 0])
        self.standardizer = Standardizer.fit(raw, self.standardize)
        if self.indices is not None or self.sketch == "subsampling":
            # anchors standardized on their own, exactly as set up from Dask partitions
            idx, scale = self.sketch_positions(raw.shape[0])
            self.setup_from(self.standardizer, raw[idx], idx, scale)
            return
        Xs = self.standardizer.transform(raw)
        self.bandwidth = float(Xs.shape[1] if self.bandwidth_arg is None else self.bandwidth_arg)
        self._set_sketch(build_sketch(
            Xs,
            self.bandwidth,
            self.sketch,
            self.size,
            self.multiplier,
            self.indices,
            check_seed(self.seed),
        ))

    # The pieces of ``setup``, also used to set the term up from statistics of data
    # that are not in memory (dask_setup.py): levels, constant columns, standardizer,
    # sketch rows.
    def set_levels(self, levels: dict, dtypes: dict) -> None:
        """Factor levels of the categorical kernel columns; other columns must be
        numeric."""
        for col in self.columns:
            if col not in levels and not pd.api.types.is_numeric_dtype(dtypes[col]):
                raise TypeError(
                    f"column {col!r} in {self.label} must be numeric, got dtype "
                    f"{dtypes[col]}; to use a factor inside the kernel (one-hot, as R "
                    "gKRLS), convert it with data[col].astype('category')"
                )
        self.levels = dict(levels)

    def warn_constant(self, constant: list) -> None:
        if constant and len(constant) < len(self.columns):
            warnings.warn(
                f"column(s) {constant} in {self.label} are constant: they have no effect in "
                "the kernel (and their marginal effects are 0); drop them from krls()",
                UserWarning, stacklevel=5,
            )

    def raw_scales(self, minmax: dict) -> np.ndarray:
        """kernel.column_scales of the raw columns from each numeric column's (min, max)
        (one-hot columns: max 1)."""
        out = []
        for c in self.columns:
            if c in self.levels:
                out += [1.0] * len(self.levels[c])
            else:
                lo, hi = minmax[c]
                out.append(max(abs(lo), abs(hi)))
        return column_scales(np.array(out))

    def sketch_positions(self, n: int) -> tuple[np.ndarray, float]:
        """The rows (0-based, in data order) a subsampling sketch keeps: kernel.sketch_rows
        with ``np.random.default_rng(seed)`` (the same draw as ``setup``)."""
        if self.indices is None and self.sketch != "subsampling":
            raise ValueError(
                f"{self.label}: sketch={self.sketch!r} uses every row as an anchor, which "
                "does not scale past memory; use the default sketch='subsampling' (or "
                "indices=) on Dask data")
        return sketch_rows(n, self.sketch, self.size, self.multiplier, self.indices,
                           check_seed(self.seed))

    def setup_from(self, standardizer: Standardizer, anchor_raw: np.ndarray,
                   idx: np.ndarray, scale: float) -> None:
        """Finish the set-up from the standardizer of all rows and the raw (one-hot,
        unstandardized) anchor rows at ``idx``."""
        self.standardizer = standardizer
        anchors = standardizer.transform(anchor_raw)
        self.bandwidth = float(anchors.shape[1] if self.bandwidth_arg is None
                               else self.bandwidth_arg)
        self._set_sketch(sketch_from_anchors(anchors, self.bandwidth, scale, idx))

    def _set_sketch(self, sketch: KernelSketch) -> None:
        self.sketch_ = sketch
        self.n_coef = self.sketch_.weights.shape[1]
        self.coef_names = [f"{self.label}.{j + 1}" for j in range(self.n_coef)]

    def encode(self, data: pd.DataFrame) -> np.ndarray:
        for col in self.columns:
            if col not in self.levels and not is_number_like(data[col]):
                raise TypeError(
                    f"column {col!r} in {self.label} was numeric when fitting but has dtype "
                    f"{data[col].dtype} here; convert it to numbers"
                )
        for col, levels in self.levels.items():
            unseen = set(data[col].astype(str)) - set(levels)
            if unseen:
                warnings.warn(
                    f"column {col!r} in {self.label} has unseen levels {sorted(unseen)}; "
                    "they get a zero one-hot row in the kernel (as R gKRLS)",
                    stacklevel=4,
                )
        return self.standardizer.transform(self._raw(data))

    def expand(self, enc: np.ndarray) -> np.ndarray:
        """K(enc, anchors) @ weights, in sub-blocks of rows whose kernel matrix stays in
        cache (KERNEL_CHUNK elements): the kernel's element-wise passes then run from
        cache instead of memory (1.7x faster at M = 500); every row's values are the
        same as for the whole block."""
        anchors, weights = self.sketch_.anchors, self.sketch_.weights
        rows = max(64, KERNEL_CHUNK // max(anchors.shape[0], 1))
        if enc.shape[0] <= rows:
            return _kernel(enc, anchors, self.bandwidth) @ weights
        out = np.empty((enc.shape[0], weights.shape[1]))
        for start in range(0, enc.shape[0], rows):
            stop = start + rows
            out[start:stop] = _kernel(enc[start:stop], anchors, self.bandwidth) @ weights
        return out

    def finish(self, max_row_abs_sum: float) -> None:
        self.penalties = [rescale_penalty(np.eye(self.n_coef), max_row_abs_sum)]

    @property
    def penalty_ranks(self) -> list[int]:
        return [self.n_coef]  # identity penalty after the eigen-truncation

    def null_space(self) -> np.ndarray:
        return np.zeros((self.n_coef, 0))  # every direction is penalized

    def state(self) -> dict:
        return {
            "columns": self.columns,
            "sketch": self.sketch,
            "multiplier": self.multiplier,
            "size": self.size,
            "standardize": self.standardize,
            "bandwidth": self.bandwidth,
            "bandwidth_arg": self.bandwidth_arg,
            "seed": self.seed if isinstance(self.seed, (int, type(None))) else None,
            "levels": self.levels,
            "size_before": self.sketch_.size_before,
        }

    def arrays(self) -> dict:
        sk = self.sketch_
        out = {
            "mean": self.standardizer.mean,
            "whiten": self.standardizer.whiten,
            "anchors": sk.anchors,
            "weights": sk.weights,
            "eigenvalues": sk.eigenvalues,
            "penalty": self.penalties[0],
        }
        if sk.indices is not None:
            out["indices"] = sk.indices
        return out

    @classmethod
    def from_state(cls, state: dict, arrays: dict, path: str = "term",
                   n_obs: int | None = None) -> KRLSTerm:
        sp = f"{path}.state"
        sc.keys(state, _STATE_KEYS, sp)
        columns = sc.strings(state["columns"], f"{sp}.columns", identifier=True, min_len=1,
                             max_items=10_000, max_len=sc.MAX_NAME)
        sc.choice(state["sketch"], SKETCHES, f"{sp}.sketch")
        sc.choice(state["standardize"], STANDARDIZE, f"{sp}.standardize")
        sc.number(state["multiplier"], f"{sp}.multiplier", hi=1e9, positive=True)
        if state["size"] is not None:
            sc.integer(state["size"], f"{sp}.size", 1, 10**9)
        sc.number(state["bandwidth"], f"{sp}.bandwidth", hi=1e300, positive=True)
        if state["bandwidth_arg"] is not None:
            sc.number(state["bandwidth_arg"], f"{sp}.bandwidth_arg", hi=1e300, positive=True)
        if state["seed"] is not None:
            sc.integer(state["seed"], f"{sp}.seed", 0, 2**64 - 1)
        size_before = sc.integer(state["size_before"], f"{sp}.size_before", 1, 10**9)
        levels = state["levels"]
        if not isinstance(levels, dict) or not set(levels) <= set(columns):
            raise sc.where(f"{sp}.levels", "must map kernel columns to their levels")
        for col, lev in levels.items():
            sc.strings(lev, f"{sp}.levels.{col}", unique=True, min_len=1, max_len=10_000)
        width = sum(len(levels[c]) if c in levels else 1 for c in columns)
        whiten = sc.array_of(arrays, "whiten", (width, None))
        q = whiten.shape[1]
        if not 1 <= q <= width:
            raise sc.Invalid(f"array whiten of {path} has {q} columns for {width} inputs")
        sc.array_of(arrays, "mean", (width,))
        anchors = sc.array_of(arrays, "anchors", (None, q))
        m = anchors.shape[0]
        weights = sc.array_of(arrays, "weights", (m, None))
        k = weights.shape[1]
        if not 1 <= k <= size_before or m < 1:
            raise sc.Invalid(f"array weights of {path} has shape {weights.shape} for a "
                             f"sketch of {size_before}")
        sc.array_of(arrays, "eigenvalues", (size_before,))
        sc.array_of(arrays, "penalty", (k, k))
        expected = {"mean", "whiten", "anchors", "weights", "eigenvalues", "penalty"}
        if "indices" in arrays:
            idx = sc.array_of(arrays, "indices", (m,), kind="i")
            if n_obs is not None and (idx.min() < 0 or idx.max() >= n_obs):
                raise sc.Invalid(f"array indices of {path} is outside [0, {n_obs})")
            expected.add("indices")
        if set(arrays) != expected:
            raise sc.Invalid(f"{path} has arrays {sorted(arrays)}, expected {sorted(expected)}")
        try:
            term = cls(columns, sketch=state["sketch"], multiplier=state["multiplier"],
                       size=state["size"], standardize=state["standardize"],
                       bandwidth=state["bandwidth_arg"], seed=state["seed"])
        except (ValueError, TypeError) as exc:
            raise sc.where(sp, str(exc)) from exc
        term.levels = levels
        term.bandwidth = state["bandwidth"]
        term.standardizer = Standardizer(arrays["mean"], arrays["whiten"])
        term.sketch_ = KernelSketch(arrays["anchors"], arrays["weights"],
                                    arrays.get("indices"), size_before, arrays["eigenvalues"])
        term.n_coef = k
        term.coef_names = [f"{term.label}.{j + 1}" for j in range(k)]
        term.penalties = [arrays["penalty"]]
        return term


_STATE_KEYS = {"columns", "sketch", "multiplier", "size", "standardize", "bandwidth",
               "bandwidth_arg", "seed", "levels", "size_before"}
