"""Save / load fitted GAMs as one ``.npz`` file: arrays plus a JSON header. No pickle.

The header (key ``__meta__``) carries the format version, the flexcausal version that
wrote it, the formula and each term's small state; arrays carry bases and covariances.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from .. import __version__
from .terms import TERM_CLASSES

FORMAT_VERSION = 1


def save_model(model, path) -> None:
    if not hasattr(model, "coef_"):
        raise ValueError("cannot save an unfitted model")
    arrays = {
        "coef": model.coef_.to_numpy(),
        "Vp": model._Vp,
        "Ve": model._Ve,
        "edf_coef": model.edf_coef_,
        "sp": model.sp_.to_numpy(),
    }
    terms = []
    for i, term in enumerate(model.terms):
        terms.append({"kind": term.kind, "state": term.state()})
        for key, value in (term.arrays() if hasattr(term, "arrays") else {}).items():
            arrays[f"t{i}_{key}"] = np.asarray(value)
    meta = {
        "format": FORMAT_VERSION,
        "flexcausal_version": __version__,
        "class": "GAM",
        "formula": model.formula,
        "family": model.family_.name,
        "link": model.family_.link.name,
        "offset_columns": model.offset_columns,
        "method": model.method,
        "response": model.response,
        "block_rows": model.block_rows,
        "coef_names": list(model.coef_.index),
        "sp_names": list(model.sp_.index),
        "terms": terms,
        "scalars": {
            k: getattr(model, k)
            for k in ("scale_", "reml_scale_", "reml_", "n_obs_", "deviance_", "r2_adj_",
                      "null_deviance_", "converged_", "n_iter_")
        },
    }
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    with open(path, "wb") as fh:
        np.savez_compressed(fh, **arrays)


def load(path):
    """Read a model written by ``GAM.save``; checks the format version stamp."""
    from .model import GAM

    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    if "__meta__" not in arrays:
        raise ValueError(f"{path} is not a flexcausal model file")
    meta = json.loads(arrays.pop("__meta__").tobytes().decode("utf-8"))
    if meta.get("format") != FORMAT_VERSION:
        raise ValueError(
            f"{path} has model format {meta.get('format')}, this flexcausal "
            f"({__version__}) reads format {FORMAT_VERSION}"
        )
    if meta["flexcausal_version"].split(".")[0] != __version__.split(".")[0]:
        raise ValueError(
            f"{path} was written by flexcausal {meta['flexcausal_version']}, "
            f"incompatible with {__version__}"
        )
    model = GAM(meta["formula"], family=meta["family"], method=meta["method"],
                link=meta["link"], block_rows=meta["block_rows"])
    model.offset_columns = meta["offset_columns"]
    model.response = meta["response"]
    model.terms = [
        TERM_CLASSES[t["kind"]].from_state(t["state"], arrays, f"t{i}_")
        for i, t in enumerate(meta["terms"])
    ]
    model.coef_ = pd.Series(arrays["coef"], index=meta["coef_names"], name="coef")
    model.sp_ = pd.Series(arrays["sp"], index=meta["sp_names"], name="sp")
    model._Vp, model._Ve = arrays["Vp"], arrays["Ve"]
    model.edf_coef_ = arrays["edf_coef"]
    for key, value in meta["scalars"].items():
        setattr(model, key, value)
    model._derive_term_stats()
    model._fitted = None
    model._train = None
    return model
