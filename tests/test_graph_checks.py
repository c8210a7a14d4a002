"""The design rules of graphs: one failing scenario per rule, each error naming the actor."""

from __future__ import annotations

from typing import Any

import pytest

from sim.loader import ScenarioError, from_dict
from sim.spec import Scenario
from sim.world import simulate
from tests.helpers import ROOT


def det(ms: float) -> dict[str, Any]:
    return {"kind": "deterministic", "value": f"{ms}ms"}


def scenario(actors: dict[str, Any], **extra: Any) -> dict[str, Any]:
    devices = extra.pop("devices", {"src": {}, "a": {}, "b": {}})
    return {
        "name": "g",
        "horizon": "10s",
        "devices": devices,
        "links": [
            {"ends": ["src", "a"], "bandwidth": "1Gbps"},
            {"ends": ["src", "b"], "bandwidth": "1Gbps"},
            {"ends": ["a", "b"], "bandwidth": "1Gbps"},
        ],
        "graphs": {
            "g": {
                "sources": extra.pop(
                    "sources",
                    [{"name": "cam", "at": "src", "arrivals": {"kind": "poisson", "rate": 5}}],
                ),
                "actors": actors,
            }
        },
        **extra,
    }


def problems(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ScenarioError) as caught:
        from_dict(raw, file="test.yaml", base=ROOT)
    return str(caught.value).splitlines()


def fork_join(**join: Any) -> dict[str, Any]:
    return {
        "x": {"on": "a", "service": det(5)},
        "y": {"on": "b", "service": det(5)},
        "j": {"on": "src", "after": ["x", "y"], **join},
    }


def test_a_valid_graph_loads() -> None:
    s = from_dict(scenario(fork_join(fifo=2)), file="test.yaml", base=ROOT)
    assert list(s.graphs) == ["g"]


def test_a_cycle_is_named_in_order() -> None:
    actors = {
        "x": {"on": "a", "service": det(5)},
        "y": {"on": "b", "after": ["x", "z"], "service": det(5)},
        "z": {"on": "a", "after": ["y"], "service": det(5)},
    }
    (line,) = problems(scenario(actors))
    assert line.startswith("test.yaml: graphs.g.actors.")
    assert "cycle y -> z -> y" in line or "cycle z -> y -> z" in line
    assert "reachable from no source" in line


def test_unknown_names_all_at_once() -> None:
    actors = {
        "x": {"on": "gpu9", "service": det(5)},
        "y": {"on": "b", "after": ["w"], "service": det(5)},
        "j": {"on": "src", "after": ["x", "y"], "join": {"kind": "k_of_n", "k": 3}},
    }
    lines = problems(scenario(actors))
    assert "test.yaml: graphs.g.actors.x.on: unknown device 'gpu9' (known: a, b, src)" in lines
    assert "test.yaml: graphs.g.actors.y.after[0]: unknown actor 'w' (known: j, x, y)" in lines
    assert "test.yaml: graphs.g.actors.j.join.k: more than its 2 inputs (got 3)" in lines


def test_layers_without_a_model() -> None:
    lines = problems(scenario({"x": {"on": "a", "layers": ["l1", "l2"]}}))
    assert lines == [
        "test.yaml: graphs.g.actors.x.layers: names layers but the scenario has no model "
        "(got ['l1', 'l2'])"
    ]


def test_no_route_names_the_edge() -> None:
    raw = scenario(fork_join())
    raw["devices"]["c"] = {}
    raw["graphs"]["g"]["actors"]["y"]["on"] = "c"
    lines = problems(raw)
    assert (
        "test.yaml: graphs.g: source 'cam': no route from actor 'y' to 'j', from 'c' to 'src': add a link"
        in lines
    )


def test_join_sharing_a_device_across_branches_can_deadlock() -> None:
    actors = fork_join(fifo=1)
    actors["y"]["on"] = "a"
    (line,) = problems(scenario(actors))
    assert line.startswith("test.yaml: graphs.g.actors.j.join: can starve for ever with fifo 1: ")
    assert "actor 'x' (path x -> j) and actor 'y' (path y -> j) share device 'a'" in line


def test_join_behind_a_reordering_device_can_deadlock() -> None:
    devices = {"src": {}, "a": {"slots": 2}, "b": {}}
    (line,) = problems(scenario(fork_join(fifo=1), devices=devices))
    assert "graphs.g.actors.j.join: can starve" in line
    assert "actor 'x' (path x -> j) runs on 'a', which can reorder" in line


@pytest.mark.parametrize(
    "fix",
    [{"fifo": None}, {"join": {"kind": "k_of_n", "k": 2, "timeout": "1s"}}, {"join": "first"}],
)
def test_a_join_that_cannot_starve_passes(fix: dict[str, Any]) -> None:
    actors = fork_join(fifo=1) | {}
    actors["y"]["on"] = "a"
    actors["j"] = {**actors["j"], **fix}
    if actors["j"]["fifo"] is None:
        del actors["j"]["fifo"]
    from_dict(scenario(actors), file="test.yaml", base=ROOT)


def test_memory_counts_weights_and_fifos() -> None:
    """Weights of the actors on a device plus FIFO capacity × token size, against memory."""
    devices = {"src": {}, "a": {"memory": "1MB"}, "b": {}}
    actors = {
        "x": {"on": "a", "service": det(5), "weight_bytes": "600kB", "output_bytes": "100kB"},
        "y": {"on": "a", "after": ["x"], "service": det(5), "weight_bytes": "300kB", "fifo": 2},
    }
    (line,) = problems(scenario(actors, devices=devices))
    assert line == (
        "test.yaml: graphs.g: device 'a' has too little memory for actors x, y: weights and "
        "fifos need 1.1 MB (got 1000000.0)"
    )
    actors["y"]["fifo"] = 1
    from_dict(scenario(actors, devices=devices), file="test.yaml", base=ROOT)


def test_sources_and_bodies_are_exclusive() -> None:
    raw = scenario(fork_join())
    raw["graphs"]["g"]["pipeline"] = "p"
    (line,) = problems(raw)
    assert line.startswith(
        "test.yaml: graphs.g: give exactly one of actors, pipeline or system (got "
    )
    raw = scenario(fork_join())
    raw["graphs"]["g"]["sources"].append(
        {
            "name": "cam_$source",
            "at": "a",
            "for_each": ["a"],
            "arrivals": {"kind": "poisson", "rate": 1},
        }
    )
    (line,) = problems(raw)
    assert line.startswith("test.yaml: graphs.g.sources[1]: give exactly one of at or for_each")


def test_no_source_anywhere() -> None:
    raw = scenario(fork_join())
    del raw["graphs"]
    assert problems(raw)[0].startswith("test.yaml: workload: list at least one source")


def test_layers_on_a_device_without_rates() -> None:
    model = {
        "input_bytes": 1000,
        "layers": [
            {"name": "l1", "op": "conv", "flops": 1e6, "output_bytes": 100},
            {"name": "l2", "op": "gemm", "flops": 1e6, "output_bytes": 10},
        ],
    }
    devices = {"src": {}, "a": {"gflops": {"conv": 10}, "mem_bandwidth": "1GB/s"}, "b": {}}
    actors = {
        "x": {"on": "a", "layers": ["l1", "l2"]},
        "y": {"on": "$source", "after": ["x"], "layers": ["l2", "l2"]},
    }
    lines = problems(scenario(actors, devices=devices, model=model))
    assert lines == [
        "test.yaml: devices.a.gflops: has no rate for op class 'gemm', used by graphs.g.actors.x",
        "test.yaml: devices.src: needs gflops and mem_bandwidth (or a type) to run graphs.g.actors.y "
        "with the cost model",
    ]


def test_branches_both_on_the_source_device_share_it() -> None:
    actors = fork_join(fifo=1)
    actors["x"]["on"] = actors["y"]["on"] = "$source"
    (line,) = problems(scenario(actors))
    assert "share device '$source'" in line


def test_source_names_are_checked() -> None:
    raw = scenario(fork_join())
    raw["graphs"]["g"]["sources"] = [
        {"name": "cam", "at": "src", "arrivals": {"kind": "poisson", "rate": 1}},
        {"name": "cam", "at": "a", "arrivals": {"kind": "poisson", "rate": 1}},
        {"name": "bad$name", "at": "b", "arrivals": {"kind": "poisson", "rate": 1}},
    ]
    lines = problems(raw)
    assert lines[0].startswith("test.yaml: graphs.g.sources[2]: 'bad$name' is no source name")
    raw["graphs"]["g"]["sources"].pop()
    assert problems(raw) == [
        "test.yaml: graphs.g.sources[1].name: duplicate source name (got 'cam')"
    ]


def test_the_join_the_rule_refuses_does_deadlock_when_run_anyway() -> None:
    """x and y share device a; y's input comes the long way round, through w on b. A later
    request's x, blocked on the join's full FIFO, holds a's slot that the earlier request's
    y waits for: the engine, run without the checks, stops completing anything."""
    actors = {
        "x": {"on": "a", "service": det(1)},
        "w": {"on": "b", "service": det(15)},
        "y": {"on": "a", "after": ["w"], "service": det(1)},
        "j": {"on": "src", "after": ["x", "y"], "fifo": 1},
    }
    sources = [{"name": "cam", "at": "src", "arrivals": {"kind": "periodic", "rate": 100}}]
    devices = {"src": {}, "a": {}, "b": {"slots": 2}}  # w keeps up: 15 ms per 10 ms, two slots
    raw = scenario(actors, sources=sources, devices=devices)
    (line,) = problems(raw)
    assert "actor 'x' (path x -> j) and actor 'y' (path y -> j) share device 'a'" in line
    unchecked = Scenario.model_validate(raw)
    src = simulate(unchecked, 0).sources[0]
    assert len(src.ids) <= 2 and src.in_flight > 900  # every request after the first few stuck
    actors["j"].pop("fifo")  # unbounded: no deadlock, and the check agrees
    fine = from_dict(scenario(actors, sources=sources, devices=devices), file="t.yaml", base=ROOT)
    src = simulate(fine, 0).sources[0]
    assert src.in_flight < 5 and len(src.ids) > 990
