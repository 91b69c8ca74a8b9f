"""The RFP demo section runs end to end (slow: JAX compilation of three fits)."""

from __future__ import annotations

import pytest

from flexcausal.cluster.demo import demo_rfp


@pytest.mark.slow
def test_demo_rfp_writes_its_figure(tmp_path):
    lines = []
    path = demo_rfp(tmp_path, echo=lines.append)
    assert path.exists() and path.stat().st_size > 1000
    assert any(line.startswith("RFP (a=0.5, k=1)") for line in lines)
