"""A graph scenario's summary: its sources' figures, and per-actor figures by group-by of the log."""

from __future__ import annotations

import math
from typing import Any

import pytest

from analysis.schema import Summary
from analysis.summary import summary
from sim import run
from sim.loader import from_dict
from tests.helpers import ROOT


def scenario() -> dict[str, Any]:
    det = {"kind": "deterministic", "value": "10ms"}
    return {
        "name": "g",
        "horizon": "60s",
        "warmup": "5s",
        "replications": 3,
        "devices": {"cam0": {}, "cam1": {}, "server": {}},
        "links": [
            {"ends": ["cam0", "server"], "bandwidth": "100Mbps", "latency": "1ms"},
            {"ends": ["cam1", "server"], "bandwidth": "100Mbps", "latency": "1ms"},
        ],
        "graphs": {
            "split": {
                "input_bytes": "50kB",
                "sources": [
                    {
                        "name": "$source",
                        "for_each": ["cam0", "cam1"],
                        "arrivals": {"kind": "periodic", "rate": 10},
                    }
                ],
                "actors": {
                    "front": {
                        "on": "$source",
                        "service": det,
                        "exit": 0.25,
                        "output_bytes": "20kB",
                    },
                    "back": {"on": "server", "after": ["front"], "service": det},
                },
            }
        },
    }


@pytest.mark.parametrize("records", ["all", "summary"])
def test_summary_of_a_graph(records: str) -> None:
    s = from_dict(scenario(), file="test.yaml", base=ROOT)
    reps = run(s, records=records)  # type: ignore[arg-type]
    tree = summary(reps, s)
    Summary.model_validate({"scenario": s.name, **tree})
    assert set(tree["sources"]) == {"cam0", "cam1"}  # one source per device of for_each
    assert tree["throughput"]["mean"] == pytest.approx(20.0, rel=0.01)
    actors = tree["graphs"]["split"]["actors"]
    assert actors["front"]["service"]["mean"] == pytest.approx(0.010)
    assert actors["front"]["fired"]["mean"] == pytest.approx(2 * 10 * 55, rel=0.01)
    exits = actors["front"]["exits"]["mean"] / actors["front"]["fired"]["mean"]
    assert exits == pytest.approx(0.25, abs=0.04)
    assert actors["back"]["fired"]["mean"] == pytest.approx(
        actors["front"]["fired"]["mean"] - actors["front"]["exits"]["mean"], abs=3
    )
    # the cameras' frames reach the server together: when both pass (0.75²), one of
    # them waits 10 ms; per frame served there, 0.5625 × 10 ms / 1.5
    assert actors["back"]["wait"]["mean"] == pytest.approx(0.00375, abs=0.0003)
    # 75 % pass: 10 ms, 20 kB and 1 ms to the server, 10 ms there, 1 kB and 1 ms back
    through = 0.010 + 20e3 * 8 / 100e6 + 0.001 + 0.010 + 1e3 * 8 / 100e6 + 0.001
    assert tree["latency"]["p50"]["mean"] >= through * (1 - 0.005)  # sketch: within 0.5 %
    assert not math.isnan(tree["latency"]["mean"]["mean"])


def test_summary_without_graphs_has_no_graph_key() -> None:
    raw = {
        "name": "p",
        "horizon": "5s",
        "devices": {"d": {}},
        "pipelines": {
            "p": {"stages": [{"on": "d", "service": {"kind": "deterministic", "value": "1ms"}}]}
        },
        "workload": [
            {"name": "s", "at": "d", "pipeline": "p", "arrivals": {"kind": "periodic", "rate": 5}}
        ],
    }
    s = from_dict(raw, file="test.yaml", base=ROOT)
    assert "graphs" not in summary(run(s), s)
