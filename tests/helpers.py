"""Shared helpers: small scenarios built as dicts, loaded through the real loader."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sim import Replication, Scenario, Status, load, run
from sim.loader import from_dict
from sim.streams import Streams
from sim.workload import arrival_times

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


def arrivals(scenario: Scenario, replication: int = 0) -> dict[str, np.ndarray]:
    """Each source's arrival times before the horizon, drawn afresh from its named stream:
    a count of arrivals that owes nothing to the engine's records."""
    streams = Streams(scenario.seed, replication)
    out = {}
    from sim.graph.expand import graphs

    sources = [*scenario.workload, *(src for g in graphs(scenario) for src in g.sources)]
    for source in sources:
        times = arrival_times(source, streams.rng(f"source:{source.name}:arrivals"))
        out[source.name] = np.fromiter(
            (t for t in _before(times, scenario.horizon)), dtype=np.float64
        )
    return out


def _before(times: Any, horizon: float) -> Any:
    for t in times:
        if t >= horizon:
            return
        yield t


def assert_conserved(scenario: Scenario, rep: Replication) -> None:
    """Every arrival ends exactly once, as ok, late, failed or dropped, or is in flight.

    The arrivals come from the arrival process itself (:func:`arrivals`); each must be
    one finished row or one pending id, never both, never neither; ids are unique and,
    over all sources, exactly the ids handed out (0, 1, ... in arrival order).
    """
    expected = arrivals(scenario, rep.index)
    every: list[np.ndarray] = []
    for src in rep.sources:
        times = expected[src.name]
        assert np.isin(src.status, [int(s) for s in Status]).all(), "an unknown status"
        assert src.in_flight == len(src.pending) == len(src.pending_arrival)
        ended_or_pending = np.sort(np.concatenate([src.arrival, src.pending_arrival]))
        assert len(ended_or_pending) == len(times), (
            f"{src.name}: {len(times)} arrivals, {len(src.ids)} ended + {src.in_flight} in flight"
        )
        assert np.allclose(ended_or_pending, times, rtol=0, atol=1e-9), "arrival times differ"
        assert src.in_flight_measured == np.count_nonzero(src.pending_arrival >= rep.start)
        ids = np.concatenate([src.ids, src.pending])
        assert len(np.unique(ids)) == len(ids), f"{src.name}: a request ended twice"
        every.append(ids)
    ids = np.sort(np.concatenate(every)) if every else np.array([], dtype=np.int64)
    assert np.array_equal(ids, np.arange(len(ids))), "ids are exactly those handed out"
