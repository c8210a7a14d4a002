"""Figures from the event log by group-by (sim.graph.groupby), against independent records:
a chain's phases against the pipeline's own stamps, devices' work against their meters."""

from __future__ import annotations

import numpy as np
import pytest

from sim import document
from sim.graph.chainlog import log_of
from sim.graph.groupby import per_device, phases
from sim.graph.log import Event
from sim.loader import load
from sim.records import Status
from sim.world import simulate
from tests.helpers import SCENARIOS, chain, load_dict
from tests.test_graph_chain import both


@pytest.mark.parametrize("walk", ["chain", "general"])
def test_a_chains_phases_from_its_log_are_the_pipelines(
    walk: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tandem with a shared link: each request's transfer, wait and service per actor, and
    its result's way back, grouped from the chain graph's log (the fast path's, or the
    general engine's, written event by event) equal the pipeline's phases from its stamps."""
    if walk == "general":
        monkeypatch.setattr("sim.graph.chain.is_chain", lambda feed: False)
    raw = document.read(SCENARIOS / "reference" / "tandem.yaml")
    raw["horizon"] = "60s"
    a, b = both(raw, 9)
    for src, (g,) in zip(a.sources, [b.graphs], strict=True):
        assert g.events is not None
        actors = [g.actors.index(f"stage{k}") for k in range(len(src.stages))]
        got = phases(g.events, src.ids, actors)
        want = src.phases()
        assert list(got) == list(want)
        for name in want:
            np.testing.assert_array_equal(got[name], want[name], err_msg=name)


@pytest.mark.parametrize("name", ["fork_join", "first_of_two", "early_exit_cameras"])
def test_devices_work_from_the_log_is_their_meters(name: str) -> None:
    """Per device, the services that ended in the window and the busy seconds inside it,
    grouped from the log, equal what the devices counted and metered themselves."""
    scenario = load(SCENARIOS / "graphs" / f"{name}.yaml")
    rep = simulate(scenario, 4)
    (g,) = rep.graphs
    assert g.events is not None
    got = per_device(g.events, len(g.devices), rep.start, rep.end)
    usage = {d.name: d for d in rep.devices}
    served = [usage[d].served for d in g.devices]
    busy = [usage[d].busy for d in g.devices]
    assert sum(served) > 100
    np.testing.assert_array_equal(got["served"], served)
    np.testing.assert_allclose(got["busy"], busy, rtol=1e-9, atol=1e-9)


def test_a_pipeline_sources_log_gives_its_phases() -> None:
    """A pipelines: source's compact log (its stamps), expanded into events and grouped,
    gives every request's phases, NaN where it never got (drops and losses included)."""
    raw = chain([0.02, 0.03], latency=0.001, bandwidth=2e6)
    raw["devices"] = {"d0": {"queue_limit": 1}, "d1": {"queue_limit": 1}}
    raw["links"][0] |= {"loss": 0.3, "max_retransmits": 1, "retransmit_timeout": 0.005}
    raw["workload"][0]["arrivals"] = {"kind": "poisson", "rate": 40}
    (src,) = simulate(load_dict(raw), 2).sources
    assert {0, 2, 3} <= set(src.status.tolist())  # ok, failed and dropped all happened
    events = log_of(src)
    assert (events["event"] == Event.FAIL).sum() == (src.status == Status.FAILED).sum()
    got = phases(events, src.ids, [0, 1])
    want = src.phases()
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def test_hil_validates_stage_phases_grouped_from_the_log() -> None:
    """`hil validate`'s per-stage figures (its phase means over the completed requests
    sent in the window) are the means of the sources' own phases."""
    from hil.validate import _phases

    scenario = load(SCENARIOS / "quickstart.yaml")
    rep = simulate(scenario, 6)
    pipeline = rep.sources[0].pipeline
    chosen = [s for s in rep.sources if s.pipeline == pipeline]
    before = rep.start + 0.5 * rep.window
    got = _phases(rep, pipeline, before)
    for name in chosen[0].phases():
        parts = [
            s.phases()[name][(s.status <= Status.LATE) & (s.arrival >= rep.start)
                             & (s.arrival < before)]
            for s in chosen
        ]  # fmt: skip
        assert got[name] == float(np.mean(np.concatenate(parts))), name
