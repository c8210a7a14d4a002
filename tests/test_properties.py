"""Properties that hold for any scenario: conservation, causality, determinism, monotonicity."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sim import Status, run
from tests.helpers import assert_conserved, base, load_dict

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def pipelines(draw: st.DrawFn) -> dict[str, Any]:
    """A random chain of 1-3 cost-modelled stages over devices and links of random speed."""
    k = draw(st.integers(1, 3))
    layers = [
        {
            "name": f"l{i}",
            "op": "conv",
            "flops": draw(st.floats(1e6, 5e7)),
            "output_bytes": draw(st.floats(0, 2e4)),
        }
        for i in range(k)
    ]
    devices = {
        f"d{i}": {
            "gflops": draw(st.floats(1, 20)),
            "mem_bandwidth": 1e12,
            "queue_limit": draw(st.one_of(st.none(), st.integers(0, 3))),
            "service_noise": {"kind": "lognormal", "mean": 1, "cv": draw(st.floats(0.01, 1))},
        }
        for i in range(k)
    }
    links = [
        {
            "ends": [f"d{i}", f"d{i + 1}"],
            "bandwidth": draw(st.floats(1e6, 1e8)),
            "latency": draw(st.floats(0, 0.01)),
            "loss": draw(st.sampled_from([0.0, 0.0, 0.2])),
            "max_retransmits": 1,
            "retransmit_timeout": 0.01,
        }
        for i in range(k - 1)
    ]
    stages = [{"layers": [f"l{i}", f"l{i}"], "on": f"d{i}"} for i in range(k)]
    rate = draw(st.floats(5, 200))
    return base(
        horizon=draw(st.floats(0.5, 5)),
        seed=draw(st.integers(0, 2**16)),
        model={"input_bytes": draw(st.floats(0, 1e4)), "layers": layers},
        devices=devices,
        links=links,
        pipelines={"p": {"stages": stages}},
        workload=[
            {
                "name": "s",
                "at": "d0",
                "pipeline": "p",
                "deadline": 0.05,
                "arrivals": {"kind": "poisson", "rate": rate},
            }
        ],
    )


@SETTINGS
@given(pipelines())
def test_conservation(raw: dict[str, Any]) -> None:
    """Every arrival of the arrival process ends exactly once (ok, late, failed, dropped)
    or is still in flight at the horizon; no request is counted twice."""
    scenario = load_dict(raw)
    (rep,) = run(scenario)
    assert_conserved(scenario, rep)


@SETTINGS
@given(pipelines())
def test_causality(raw: dict[str, Any]) -> None:
    """Stamps never go backwards, and completion is at least arrival plus all service."""
    (rep,) = run(load_dict(raw))
    src = rep.sources[0]
    done = src.status <= Status.LATE
    assume(done.any())  # an example where nothing completed checks nothing
    stamps = src.stamps[done]
    assert (np.diff(stamps, axis=1) >= -1e-12).all()
    phases = src.phases()
    service = sum(phases[f"service{k}"][done] for k in range(len(src.stages)))
    assert (src.completion[done] - src.arrival[done] >= service - 1e-9).all()
    late = src.status == Status.LATE
    assert (src.latency[late] > 0.05).all() and (src.latency[src.status == Status.OK] <= 0.05).all()


@SETTINGS
@given(pipelines())
def test_determinism(raw: dict[str, Any]) -> None:
    """The same scenario and seed give identical records."""
    a, b = run(load_dict(raw))[0], run(load_dict(raw))[0]
    assert np.array_equal(a.sources[0].stamps, b.sources[0].stamps, equal_nan=True)
    assert a.devices == b.devices


@SETTINGS
@given(pipelines(), st.integers(0, 2), st.floats(1.1, 4), st.booleans())
def test_faster_component_never_delays_any_request(
    raw: dict[str, Any], which: int, factor: float, link: bool
) -> None:
    """In a FIFO pipeline without loss or drops, a faster device or link never delays a request.

    Common random numbers make it a per-request statement: both runs see the same
    arrivals and the same noise draws, request by request.
    """
    for d in raw["devices"].values():
        d["queue_limit"] = None
    for lk in raw["links"]:
        lk["loss"] = 0.0
    slow = load_dict(raw)
    if link and raw["links"]:
        raw["links"][which % len(raw["links"])]["bandwidth"] *= factor
    else:
        raw["devices"][f"d{which % len(raw['devices'])}"]["gflops"] *= factor
    fast = load_dict(raw)
    a, b = run(slow)[0].sources[0], run(fast)[0].sources[0]
    before = dict(zip(a.ids.tolist(), a.completion.tolist(), strict=True))
    after = dict(zip(b.ids.tolist(), b.completion.tolist(), strict=True))
    assert set(before) <= set(after), "everything finished before still finishes"
    assert all(after[i] <= before[i] + 1e-9 for i in before)
