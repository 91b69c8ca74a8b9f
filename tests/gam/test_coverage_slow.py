"""Coverage of AME intervals by simulation (slow: run with ``make test-slow``).

Uses the designs of benchmarks/gkrls_coverage.py: 500 replications at N = 500; the
95% intervals from Vp ("bayes") and HC1 should cover the true sample AME 93-97% of
the time.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _benchmark():
    spec = importlib.util.spec_from_file_location(
        "gkrls_coverage", ROOT / "benchmarks" / "gkrls_coverage.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_ame_interval_coverage_gaussian():
    result = _benchmark().coverage("gaussian", reps=500, n=500, seed=0)
    assert 0.93 <= result["cover_bayes"] <= 0.97, result
    assert 0.93 <= result["cover_HC1"] <= 0.97, result


@pytest.mark.slow
def test_ame_interval_coverage_binomial_is_reported_not_nominal():
    """Logistic N = 500: the penalty's shrinkage biases the AME towards 0 by ~0.6 SE,
    so intervals under-cover (measured: Vp 0.922, HC1 0.876); guard against worse."""
    result = _benchmark().coverage("binomial", reps=500, n=500, seed=0)
    assert result["cover_bayes"] >= 0.90, result
    assert result["cover_HC1"] >= 0.85, result
