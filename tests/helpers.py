"""Shared helpers: small scenarios built as dicts, loaded through the real loader."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import pytest

from sim import Replication, Scenario, load, run
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


def remote(links: list[dict[str, Any]], arrivals: dict[str, Any], **top: Any) -> dict[str, Any]:
    """Requests from ``a`` to one zero-time stage on ``b`` over ``links`` (devices: a, b and
    any other link end), with a zero-byte result: only the network shows in the latency."""
    ends = sorted({end for link in links for end in link["ends"]})
    return base(
        devices={name: {} for name in ends},
        links=links,
        pipelines={
            "p": {
                "result_bytes": 0,
                "stages": [
                    {"on": top.pop("on", "b"), "service": {"kind": "deterministic", "value": 0}}
                ],
            }
        },
        workload=[
            {"name": "s", "at": "a", "pipeline": "p", "arrivals": arrivals, **top.pop("source", {})}
        ],
        **top,
    )


def served_by(devices: dict[str, Any], stage: dict[str, Any], **top: Any) -> dict[str, Any]:
    """A camera sending Poisson requests (5/s) to one stage, with a 1 ms service everywhere."""
    links = [{"ends": ["cam", d], "bandwidth": "1Gbps", "latency": "1ms"} for d in devices]
    stage = {"service": {"kind": "deterministic", "value": "1ms"}, **stage}
    return base(
        horizon=top.pop("horizon", "2000s"),
        warmup="10s",
        replications=top.pop("replications", 10),
        devices={"cam": {}, **devices},
        links=links,
        pipelines={"p": {"result_bytes": 0, "stages": [stage]}},
        workload=[
            {
                "name": "cam",
                "at": "cam",
                "pipeline": "p",
                "arrivals": {"kind": "poisson", "rate": 5},
            }
        ],
        **top,
    )


def crash_recover(ttf: float, ttr: float) -> dict[str, Any]:
    """Exponential time to failure and to repair with the given means (seconds)."""
    return {
        "failure": {
            "ttf": {"kind": "exponential", "mean": ttf},
            "ttr": {"kind": "exponential", "mean": ttr},
        }
    }


@functools.cache
def simulated(name: str) -> tuple[Replication, ...]:
    """The replications of a reference scenario, run once per test session."""
    return tuple(run(load(SCENARIOS / "reference" / f"{name}.yaml")))
