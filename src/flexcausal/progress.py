"""Progress bars for procedures that fit many models (R-learner folds, sketch refits, DML).

One helper, so every multi-fit procedure behaves the same way::

    from flexcausal.progress import progress_bar

    with progress_bar(total=n_fits, desc="R-learner", progress=progress) as bar:
        for ...:
            fit_one()
            bar.update()

``progress``: ``True`` (always show), ``False`` (never) or ``None`` (auto: show when
standard error is an interactive terminal or in a Jupyter kernel, hide in tests, pipes,
logs and CI). The
environment variable ``FLEXCAUSAL_PROGRESS=0`` / ``=1`` overrides the automatic choice
(not an explicit True/False). Bars are `tqdm <https://tqdm.github.io>`_ objects written
to stderr; a hidden bar is ``tqdm(disable=True)``, which costs nothing and still takes
``update``/``set_postfix_str``/``close`` calls, so callers never branch on it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable

import numpy as np
from tqdm import tqdm

__all__ = ["progress_bar", "show_progress"]

ENV_VAR = "FLEXCAUSAL_PROGRESS"


def show_progress(progress: bool | None = None) -> bool:
    """Whether to show a bar: ``progress`` itself when it is True/False; for ``None``,
    ``FLEXCAUSAL_PROGRESS`` if set ("0"/"false"/"no"/"off" hide, anything else shows),
    else False under pytest and True when stderr is a TTY or in a Jupyter kernel."""
    if isinstance(progress, (bool, np.bool_)):
        return bool(progress)
    if progress is not None:
        raise TypeError(f"progress must be True, False or None (automatic), got {progress!r}")
    env = os.environ.get(ENV_VAR)
    if env is not None and env.strip() != "":
        return env.strip().lower() not in ("0", "false", "no", "off")
    if "PYTEST_CURRENT_TEST" in os.environ:
        return False
    if _in_jupyter():
        return True
    stream = sys.stderr
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):  # closed or replaced stream
        return False


def _in_jupyter() -> bool:
    """A Jupyter (ipykernel) session: interactive, though stderr is not a TTY there."""
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return type(shell).__name__ == "ZMQInteractiveShell"


def progress_bar(
    iterable: Iterable | None = None,
    *,
    total: int | None = None,
    desc: str | None = None,
    progress: bool | None = None,
    unit: str = "fit",
    leave: bool = False,
) -> tqdm:
    """A ``tqdm`` bar over ``iterable`` (or a manual one of ``total`` steps), shown or not
    according to ``show_progress(progress)``. Use it as an iterator or a context manager;
    ``leave=False`` removes the bar once done, so only results stay on screen."""
    enabled = show_progress(progress)
    bar = tqdm
    if enabled and _in_jupyter():
        try:  # a widget bar where ipywidgets is installed, else the text bar
            import ipywidgets  # noqa: F401
            from tqdm.notebook import tqdm as bar
        except ImportError:
            pass
    return bar(iterable, total=total, desc=desc, unit=unit, leave=leave,
               disable=not enabled, file=sys.stderr, dynamic_ncols=True)
