"""Properties of the graph engine over random DAGs with failures (hypothesis, derandomised).

* every request that arrived (counted from its source's own arrival stream, not from
  the records) ends exactly once or is in flight at the horizon;
* tokens: an actor fires at most once per request, never without a token that
  arrived, and no actor receives more tokens than its producers sent;
* causality along every edge: a token arrives after its producer sent it, and an
  ``all`` join starts after each of its inputs ended;
* liveness: when arrivals stop, every request ends;
* the per-actor figures folded as events come equal those grouped from the whole log;
* determinism: the same seed gives the same log and the same rows, and the same
  per-actor figures whether the log is kept or not.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sim.graph.log import FIGURES, Event, per_actor
from sim.loader import ScenarioError, from_dict
from sim.records import Replication
from sim.spec import Scenario
from sim.world import simulate
from tests.helpers import ROOT, arrivals

DEVICES = ["src", "a", "b", "c"]
SETTINGS = settings(
    max_examples=20, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow],
)  # fmt: skip


@st.composite
def dags(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(2, 5))
    actors: dict[str, Any] = {}
    for i in range(n):
        after = (
            draw(st.lists(st.sampled_from([f"x{j}" for j in range(i)]), unique=True, max_size=3))
            if i
            else []
        )
        actor: dict[str, Any] = {
            "on": draw(st.sampled_from(["$source", *DEVICES[1:]])),
            "after": after,
            "service": {"kind": "exponential", "mean": draw(st.sampled_from([0.005, 0.02, 0.05]))},
        }
        if len(after) > 1:
            actor["join"] = draw(
                st.sampled_from(
                    [
                        "all",
                        "first",
                        {"kind": "k_of_n", "k": 1},
                        {"kind": "k_of_n", "k": len(after), "timeout": 0.05},
                    ]
                )
            )
        if draw(st.booleans()):
            actor["fifo"] = draw(st.integers(1, 3))
        if draw(st.integers(0, 3)) == 0:
            actor["exit"] = 0.3
        actors[f"x{i}"] = actor
    links = [
        {"ends": [a, b], "bandwidth": "100Mbps", "latency": 0.001,
         "loss": draw(st.sampled_from([0.0, 0.2])), "max_retransmits": 1, "retransmit_timeout": 0.002}
        for i, a in enumerate(DEVICES) for b in DEVICES[i + 1 :]
    ]  # fmt: skip
    failures = []
    if draw(st.booleans()):
        failures.append({"at": 1.0, "target": draw(st.sampled_from(DEVICES[1:])), "duration": 1.0})
    return {
        "name": "random",
        "horizon": "4s",
        "devices": {d: {"queue_limit": draw(st.sampled_from([None, 2]))} for d in DEVICES},
        "links": links,
        "failures": failures,
        "graphs": {
            "g": {
                "input_bytes": "10kB",
                "sources": [
                    {
                        "name": "s_$source",
                        "for_each": ["src", "a"],
                        "arrivals": {"kind": "poisson", "rate": 15},
                    }
                ],
                "actors": actors,
            }
        },
    }


def load(raw: dict[str, Any]) -> Scenario:
    try:
        return from_dict(raw, file="random.yaml", base=ROOT)
    except ScenarioError as exc:
        assert all("can starve" in p.message for p in exc.problems), exc
        assume(False)
        raise


def expected_arrivals(s: Scenario) -> dict[str, int]:
    """Each source's arrivals, drawn afresh from its named stream (not from the records)."""
    return {name: len(times) for name, times in arrivals(s).items()}


def by_key(events: np.ndarray, event: Event) -> dict[tuple[int, int], list[float]]:
    out: dict[tuple[int, int], list[float]] = {}
    for row in events[events["event"] == event]:
        out.setdefault((int(row["request"]), int(row["actor"])), []).append(float(row["time"]))
    return out


@SETTINGS
@given(dags())
def test_every_arrival_ends_once_and_tokens_are_conserved(raw: dict[str, Any]) -> None:
    s = load(raw)
    rep = simulate(s, s.seed)
    counted = expected_arrivals(s)
    ids = []
    for src in rep.sources:
        assert len(src.ids) + src.in_flight == counted[src.name]
        ids += [*src.ids.tolist(), *src.pending.tolist()]
    assert sorted(ids) == list(range(len(ids)))
    (g,) = rep.graphs
    assert g.events is not None
    spec = s.graphs["g"].actors or {}
    index = {name: i for i, name in enumerate(g.actors)}
    arrive, start, end, send = (
        by_key(g.events, e) for e in (Event.ARRIVE, Event.START, Event.END, Event.SEND)
    )
    for (r, a), times in start.items():
        assert len(times) == 1, "an actor fires once per request"
        assert min(arrive[(r, a)]) <= times[0], "fired without a token"
    for (r, a), times in end.items():
        assert start[(r, a)][0] <= times[0]
    for name, actor in spec.items():
        a = index[name]
        producers = [index[p] for p in actor.after]
        for (r, b), times in arrive.items():
            if b != a:
                continue
            if not producers:
                assert len(times) == 1 and times[0] >= min(arrive[(r, -1)])
                continue
            sent = sorted(t for p in producers for t in send.get((r, p), []))
            assert len(times) <= len(sent), "more tokens arrived than were sent"
            for k, t in enumerate(sorted(times)):
                assert t >= sent[k], "a token arrived before it was sent"
            if actor.join == "all" and (r, a) in start:
                assert all((r, p) in end and end[(r, p)][0] <= start[(r, a)][0] for p in producers)


@SETTINGS
@given(dags())
def test_every_request_ends_when_arrivals_stop(raw: dict[str, Any]) -> None:
    """Liveness: five requests per source, long before the horizon, all end (no join
    waits for ever, no token is forgotten), whatever was lost or dropped on the way."""
    for src in raw["graphs"]["g"]["sources"]:
        src["count"] = 5
    rep = simulate(load(raw), 0)
    assert all(src.in_flight == 0 and len(src.ids) == 5 for src in rep.sources)


@SETTINGS
@given(dags())
def test_same_seed_same_log(raw: dict[str, Any]) -> None:
    s = load(raw)
    first, again = simulate(s, 11), simulate(s, 11)
    assert same(first, again)
    folded = simulate(s, 11, records="summary").graphs[0]
    assert folded.events is None
    grouped = per_actor(first.graphs[0].events, len(folded.actors), first.start)
    for name in FIGURES:  # folded as they came = grouped from the whole log
        np.testing.assert_allclose(folded.figures[name], grouped[name], rtol=1e-12, equal_nan=True)


def same(a: Replication, b: Replication) -> bool:
    for x, y in zip(a.sources, b.sources, strict=True):
        np.testing.assert_array_equal(x.ids, y.ids)
        np.testing.assert_array_equal(x.status, y.status)
        np.testing.assert_array_equal(x.stamps, y.stamps)
    assert a.graphs[0].events is not None and b.graphs[0].events is not None
    return bool(np.array_equal(a.graphs[0].events, b.graphs[0].events))
