"""Graph actors under failures, and what the log tells of each request."""

from __future__ import annotations

import numpy as np

from sim.graph.log import Event, exit_of, served_by
from sim.records import Status
from tests.test_graph_theory import graph, run

DET = {"kind": "deterministic", "value": "10ms"}


def test_a_crashed_device_fails_the_tokens_it_holds_and_those_sent_while_down() -> None:
    """Frames every 100 ms through a then b; b is down from 1 s to 2 s."""
    actors = {"x": {"on": "a", "service": DET}, "y": {"on": "b", "after": ["x"], "service": DET}}
    raw = graph(actors, {"kind": "periodic", "rate": 10}, ["a", "b"], horizon="3s", warmup=0)
    raw["failures"] = [{"at": "1.015s", "target": "b", "duration": "1s"}]
    src = run(raw, 0).sources[0]
    failed = src.arrival[src.status == Status.FAILED]
    # the frame of 1.0 s is in service on b at 1.015 s; those of 1.1 … 2.0 s reach b down
    np.testing.assert_allclose(failed, np.arange(10, 21) / 10, atol=1e-9)
    assert (src.status[src.status != Status.FAILED] == Status.OK).all()
    assert len(src.ids) == 30 and src.in_flight == 0


def test_the_log_tells_each_requests_exit_and_devices() -> None:
    actors = {
        "x": {"on": "a", "service": DET, "exit": 0.5},
        "y": {"on": "b", "after": ["x"], "service": DET},
    }
    rep = run(
        graph(actors, {"kind": "periodic", "rate": 10}, ["a", "b"], horizon="5s", warmup=0), 2
    )
    g = rep.graphs[0]
    assert g.events is not None
    src = rep.sources[0]
    a, b = g.devices.index("a"), g.devices.index("b")
    exited = 0
    for rid, latency in zip(src.ids.tolist(), src.latency.tolist(), strict=True):
        if exit_of(g.events, rid) == g.actors.index("x"):
            exited += 1
            assert served_by(g.events, rid) == [a]
            assert abs(latency - 0.010) < 1e-9
        else:
            assert exit_of(g.events, rid) == -1
            assert served_by(g.events, rid) == [a, b]
            assert abs(latency - 0.020) < 1e-9
    assert 0 < exited < len(src.ids)
    assert exited == int(np.count_nonzero(g.events["event"] == Event.EXIT))
