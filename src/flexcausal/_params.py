"""scikit-learn style hyper-parameter access shared by the estimator base classes.

A class lists its constructor arguments in ``_params``; ``get_params`` / ``set_params``
read and write them as attributes (so ``sklearn.base.clone`` and grid searches work) and
``repr`` shows them. Used by ``iv._base.NPIVEstimator`` and ``ope._base.OPEEstimator``.
"""

from __future__ import annotations


class ParamsMixin:
    """``get_params`` / ``set_params`` / ``__repr__`` over the names in ``_params``."""

    _params: tuple[str, ...] = ()

    def get_params(self, deep: bool = True) -> dict:
        return {name: getattr(self, name) for name in self._params}

    def set_params(self, **params):
        for name, value in params.items():
            if name not in self._params:
                raise ValueError(f"unknown parameter {name!r} for {type(self).__name__}; "
                                 f"known: {', '.join(self._params)}")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"
