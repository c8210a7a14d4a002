"""Analytic figures of the features that change the queueing model: load, finite queues, loss."""

from __future__ import annotations

import pytest

from analysis.analytic import offered_load
from tests.helpers import load_dict


def mm1(rate: float, mean: float, **device: object) -> dict[str, object]:
    """Poisson arrivals at ``rate`` to one device serving in exponential time of ``mean``."""
    return {
        "name": "mm1", "horizon": "100s",
        "devices": {"server": dict(device)},
        "pipelines": {"one": {"stages": [
            {"on": "server", "service": {"kind": "exponential", "mean": mean}}]}},
        "workload": [{"name": "clients", "at": "server", "pipeline": "one",
                      "arrivals": {"kind": "poisson", "rate": rate}}],
    }  # fmt: skip


def test_offered_load_is_not_capped_at_one() -> None:
    """An M/M/1 offered 120 requests/s of 10 ms work has ρ = 1.2 (and 0.6 on two slots)."""
    assert offered_load(load_dict(mm1(120, 0.01)))["server"] == pytest.approx(1.2)
    assert offered_load(load_dict(mm1(120, 0.01, slots=2)))["server"] == pytest.approx(0.6)
