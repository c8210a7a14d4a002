"""Chain graphs are today's pipelines: the same records, request for request, on fixed seeds.

Each scenario is run twice: as written (``pipelines:`` sources, walked as chains), and
with every source moved under a graph that names its pipeline (a chain graph, whose log
is the general engine's). The requests must
match exactly: ids, status, arrival and completion; and the event log's arrive,
start and end of every actor must be the pipeline row's stamps of its stage.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from sim import document
from sim.graph.log import Event
from sim.loader import from_dict
from sim.records import Replication
from sim.world import simulate
from tests.helpers import SCENARIOS, chain


def as_graphs(raw: dict[str, Any]) -> dict[str, Any]:
    """``raw`` with each source moved under a graph of its pipeline."""
    out = dict(raw, workload=[])
    graphs: dict[str, Any] = {}
    for src in raw["workload"]:
        g = graphs.setdefault(src["pipeline"], {"pipeline": src["pipeline"], "sources": []})
        g["sources"].append({k: v for k, v in src.items() if k != "pipeline"})
    out["graphs"] = graphs
    return out


def both(raw: dict[str, Any], seed: int, records: str = "all") -> tuple[Replication, Replication]:
    base = SCENARIOS / "quickstart.yaml"
    a = from_dict(raw, base=base.parent)
    b = from_dict(as_graphs(raw), base=base.parent)
    return simulate(a, seed, records=records), simulate(b, seed, records=records)  # type: ignore[arg-type]


def same_requests(a: Replication, b: Replication) -> None:
    assert [s.name for s in a.sources] == [s.name for s in b.sources]
    for pa, pb in zip(a.sources, b.sources, strict=True):
        assert len(pa.ids) > 50
        np.testing.assert_array_equal(pa.ids, pb.ids)
        np.testing.assert_array_equal(pa.status, pb.status)
        np.testing.assert_array_equal(pa.stamps[:, 0], pb.stamps[:, 0])
        np.testing.assert_array_equal(pa.stamps[:, -1], pb.stamps[:, -1])
        np.testing.assert_array_equal(pa.lost, pb.lost)
        np.testing.assert_array_equal(pa.pending, pb.pending)


def same_stages(a: Replication, b: Replication) -> None:
    """The log's arrive, start and end at actor k are the pipeline's stage-k stamps."""
    for g in b.graphs:
        assert g.events is not None
        for src in a.sources:
            if src.pipeline != g.name:
                continue
            for k in range(len(src.stages)):
                for col, event in enumerate((Event.ARRIVE, Event.START, Event.END)):
                    rows = g.events[(g.events["actor"] == g.actors.index(f"stage{k}"))
                                    & (g.events["event"] == event)]  # fmt: skip
                    when = dict(zip(rows["request"].tolist(), rows["time"].tolist(), strict=True))
                    want = src.stamps[:, 3 * k + 1 + col]
                    got = np.array([when.get(i, np.nan) for i in src.ids.tolist()])
                    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("seed", [1, 7])
def test_tandem_chain_equals_pipeline(seed: int) -> None:
    raw = document.read(SCENARIOS / "reference" / "tandem.yaml")
    raw["horizon"] = "60s"
    a, b = both(raw, seed)
    same_requests(a, b)
    same_stages(a, b)


def test_quickstart_chain_equals_pipeline() -> None:
    """Two sources, a shared Wi-Fi medium with jitter, the cost model with device noise."""
    raw = document.read(SCENARIOS / "quickstart.yaml")
    raw["horizon"] = "20s"
    a, b = both(raw, 5)
    same_requests(a, b)
    same_stages(a, b)


def test_drops_and_losses_chain_equals_pipeline() -> None:
    """Queue limits that drop, and lossy links that re-send and give up."""
    raw = chain([0.02, 0.03], latency=0.001, bandwidth=2e6)
    raw["devices"] = {"d0": {"queue_limit": 1}, "d1": {"queue_limit": 1}}
    raw["links"][0] |= {"loss": 0.3, "max_retransmits": 1, "retransmit_timeout": 0.005}
    raw["workload"][0]["arrivals"] = {"kind": "poisson", "rate": 40}
    raw["model"] = None
    a, b = both(raw, 2)
    same_requests(a, b)
    statuses = set(a.sources[0].status.tolist())
    assert {0, 2, 3} <= statuses  # ok, failed and dropped all happened


def test_summary_mode_chain_equals_pipeline() -> None:
    """Without rows, the tallies agree: counts, completions and the latency sum."""
    raw = document.read(SCENARIOS / "reference" / "tandem.yaml")
    raw["horizon"] = "60s"
    a, b = both(raw, 3, records="summary")
    for pa, pb in zip(a.sources, b.sources, strict=True):
        assert pa.tally is not None and pb.tally is not None
        np.testing.assert_array_equal(pa.tally.counts, pb.tally.counts)
        assert pa.tally.completions == pb.tally.completions
        assert pa.tally.latency_sum == pytest.approx(pb.tally.latency_sum, rel=1e-12)
    assert all(g.events is None for g in b.graphs)


def _general(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chain graphs take the general engine (FIFOs, firings) instead of the chain walk."""
    monkeypatch.setattr("sim.graph.chain.is_chain", lambda feed: False)


def _sorted_events(rep: Replication) -> list[list[tuple[Any, ...]]]:
    out = []
    for g in rep.graphs:
        assert g.events is not None
        out.append(sorted(tuple(r) for r in g.events.tolist()))
    return out


@pytest.mark.parametrize("case", ["tandem", "drops", "summary"])
def test_chain_walk_equals_the_general_engine(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A chain graph on the fast path (one walk per request, its log written when it ends)
    records what the general engine records: the same rows, the same events (as a set:
    the walk writes a request's events together), the same per-actor figures; with
    records "summary", the same tallies and folded figures."""
    records = "summary" if case == "summary" else "all"
    if case != "drops":
        raw = document.read(SCENARIOS / "reference" / "tandem.yaml")
        raw["horizon"] = "60s"
    else:
        raw = chain([0.02, 0.03], latency=0.001, bandwidth=2e6)
        raw["devices"] = {"d0": {"queue_limit": 1}, "d1": {"queue_limit": 1}}
        raw["links"][0] |= {"loss": 0.3, "max_retransmits": 1, "retransmit_timeout": 0.005}
        raw["workload"][0]["arrivals"] = {"kind": "poisson", "rate": 40}
        raw["model"] = None
    spec = from_dict(as_graphs(raw), base=SCENARIOS)
    fast = simulate(spec, 4, records=records)  # type: ignore[arg-type]
    with monkeypatch.context() as m:
        _general(m)
        slow = simulate(spec, 4, records=records)  # type: ignore[arg-type]
    for a, b in zip(fast.graphs, slow.graphs, strict=True):
        for name in a.figures:
            np.testing.assert_array_equal(a.figures[name], b.figures[name])
    if records == "summary":
        for pa, pb in zip(fast.sources, slow.sources, strict=True):
            assert pa.tally is not None and pb.tally is not None
            np.testing.assert_array_equal(pa.tally.counts, pb.tally.counts)
            assert pa.tally.latency_sum == pb.tally.latency_sum
        return
    same_requests(fast, slow)
    for a, b in zip(fast.sources, slow.sources, strict=True):
        np.testing.assert_array_equal(a.stamps, b.stamps)
    assert _sorted_events(fast) == _sorted_events(slow)
    if case == "drops":
        statuses = set(fast.sources[0].status.tolist())
        assert {0, 2, 3} <= statuses  # ok, failed and dropped all happened
