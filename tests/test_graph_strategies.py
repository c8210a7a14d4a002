"""Strategies on graph actors: a chained pipeline's stages keep their fault tolerance on the
graph engine (the same requests as the pipeline, served on the same devices), and a
placement runtime decides per request which alternative runs an actor."""

from __future__ import annotations

from typing import Any

import pytest

from analysis.events import events_table
from analysis.tables import requests_table
from sim.records import Replication, Status
from sim.streams import Streams
from sim.world import World
from tests.helpers import crash_recover, load_dict
from tests.helpers import served_by as one_stage
from tests.test_graph_chain import as_graphs, same_requests
from tests.test_strategies import CASES, EveryOther, scenario


def devices(rep: Replication) -> dict[int, str]:
    """Request id -> the devices that served it, from the requests table."""
    return {r["id"]: r["devices"] for r in requests_table([rep]).to_pylist()}


def both(raw: dict[str, Any], seed: int) -> tuple[Replication, Replication]:
    """``raw`` run as written (a pipeline) and with its sources under a chain graph."""
    a = World(load_dict(raw), Streams(seed, 0)).run()
    b = World(load_dict(as_graphs(raw)), Streams(seed, 0)).run()
    return a, b


@pytest.mark.parametrize(("policy", "ft", "stage", "expected"), CASES)
def test_a_chained_stage_keeps_its_strategy_on_the_graph_engine(
    policy: str, ft: dict[str, Any], stage: dict[str, Any], expected: list[str]
) -> None:
    """``srv`` down from 1 s on: under each strategy the chain graph's requests are the
    pipeline's (ids, status, arrival, completion, attempts lost), and each was served by
    the same devices (the graph's from its log, the pipeline's from its journey)."""
    raw = scenario(policy, ft, **stage).model_dump(mode="json", by_alias=True, exclude_none=True)
    a, b = both(raw, 2)
    same_requests(a, b)
    served = devices(b)
    assert served == devices(a)
    late = [d for rid, d in served.items() if d and d != "srv"]
    assert bool(late) == (policy not in ("none", "retry"))  # served elsewhere after 1 s
    if policy == "none":
        assert (b.sources[0].status == Status.FAILED).sum() > 50


def test_failover_on_a_graph_actor_under_random_crashes_is_the_pipelines() -> None:
    """``srv`` crashing and repaired at random (means 3 s and 1 s), failover to ``backup``,
    a lossy link to ``srv``: the chain graph gives the pipeline's requests, request for
    request (attempts lost too), both ways of serving (on ``srv`` and on ``backup``)."""
    raw = one_stage({"srv": crash_recover(3, 1), "backup": {}},
                    {"on": "srv", "standby": ["backup"],
                     "service": {"kind": "exponential", "mean": "20ms"}},
                    fault_tolerance={"policy": "failover"}, horizon="120s",
                    replications=1)  # fmt: skip
    raw["links"][0] |= {"loss": 0.1, "retransmit_timeout": "5ms", "max_retransmits": 2}
    raw["workload"][0]["deadline"] = "40ms"
    a, b = both(raw, 4)
    same_requests(a, b)
    served = devices(b)
    assert served == devices(a)
    assert {"srv", "backup"} <= set(served.values())
    assert b.faults is not None and len(b.faults.timeline) > 20
    assert b.sources[0].lost.sum() > 20  # attempts lost on the lossy link, counted alike
    assert (b.sources[0].status == Status.LATE).sum() > 5


def test_a_placement_runtime_chooses_each_tokens_device_on_a_graph_actor() -> None:
    """A runtime that sends request ``rid`` to alternative ``rid mod 3``, plugged into a
    chain graph's actor: each request is served there (the log's service rows say so)."""
    raw = one_stage({"srv": {}, "a": {}, "b": {}}, {"on": "srv", "standby": ["a", "b"]},
                    fault_tolerance={"policy": "failover"}, horizon="30s",
                    replications=1)  # fmt: skip
    world = World(load_dict(as_graphs(raw)), Streams(1, 0))
    assert world.resilience is not None
    placements = world.resilience.resilient.placements
    (rt,) = placements["cam"]
    placements["cam"] = (EveryOther(rt.plan, rt.shared),)
    rep = world.run()
    served = devices(rep)
    assert len(served) > 100 and (rep.sources[0].status == Status.OK).all()
    assert served == {rid: ["srv", "a", "b"][rid % 3] for rid in served}


@pytest.mark.parametrize("policy", ["failover", "local_fallback", "replicate"])
def test_a_two_actor_chain_hands_on_where_the_strategy_served(policy: str) -> None:
    """A second stage after the failing one: its token leaves from wherever the first was
    served (a local fallback pins it to the source), as in the pipeline."""
    stage = {"standby": ["slow", "fast"]} if policy == "failover" else {}
    if policy == "replicate":
        stage = {"replicas": ["slow", "fast"]}
    raw = scenario(policy, {}, **stage).model_dump(mode="json", by_alias=True, exclude_none=True)
    raw["model"]["layers"].append({"name": "y", "op": "conv", "flops": 1e7, "output_bytes": 10})
    raw["pipelines"]["p"]["stages"][0]["layers"] = ["x", "x"]
    second = {"failover": {"standby": ["slow"]}, "replicate": {"replicas": ["slow"]}}
    raw["pipelines"]["p"]["stages"].append(
        {"on": "fast", "layers": ["y", "y"], **second.get(policy, {})}
    )
    a, b = both(raw, 3)
    same_requests(a, b)
    served = devices(b)
    assert served == devices(a)
    after = {"failover": "slow;fast", "local_fallback": "cam", "replicate": "fast"}[policy]
    assert {"srv;fast", after} <= set(served.values())  # pinned: both stages on the camera
    assert served_events(b) == served_events(a)


def served_events(rep: Replication) -> list[tuple[Any, ...]]:
    """Every event but a loss's (a pipeline keeps no row of one), request by request."""
    rows = [e for e in events_table([rep]).to_pylist() if e["event"] not in ("fail", "drop")]
    order = ["arrive", "start", "end", "send", "receive"]
    return sorted((e["request"], e["actor"], order.index(e["event"]), e["device"], e["time"])
                  for e in rows)  # fmt: skip
