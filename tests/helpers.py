"""Shared helpers: small scenarios built as dicts, loaded through the real loader."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from sim import Scenario
from sim.loader import from_dict

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"


def base(**overrides: Any) -> dict[str, Any]:
    """A one-device, one-stage scenario with deterministic 10 ms service at 20 requests/s."""
    raw: dict[str, Any] = {
        "name": "tiny",
        "horizon": "10s",
        "devices": {"dev": {}},
        "pipelines": {
            "p": {"stages": [{"on": "dev", "service": {"kind": "deterministic", "value": "10ms"}}]}
        },
        "workload": [
            {
                "name": "src",
                "at": "dev",
                "pipeline": "p",
                "arrivals": {"kind": "periodic", "rate": "20/s"},
            }
        ],
    }
    raw.update(copy.deepcopy(overrides))
    return raw


def chain(
    services: list[float], latency: float = 0.0, bandwidth: float = 1e9, **overrides: Any
) -> dict[str, Any]:
    """A source at d0 through one stage per device d0..dK-1 with given mean exponential service."""
    devices = {f"d{k}": {} for k in range(len(services))}
    links = [
        {"ends": [f"d{k}", f"d{k + 1}"], "bandwidth": bandwidth, "latency": latency}
        for k in range(len(services) - 1)
    ]
    stages = [
        {"on": f"d{k}", "service": {"kind": "exponential", "mean": s}}
        for k, s in enumerate(services)
    ]
    return base(
        devices=devices,
        links=links,
        pipelines={"p": {"stages": stages, "result_bytes": 0}},
        workload=[
            {
                "name": "src",
                "at": "d0",
                "pipeline": "p",
                "arrivals": {"kind": "poisson", "rate": 20},
            }
        ],
        **overrides,
    )


def load_dict(raw: dict[str, Any]) -> Scenario:
    return from_dict(raw, file="test.yaml", base=ROOT)


@pytest.fixture
def tiny() -> Scenario:
    return load_dict(base())
