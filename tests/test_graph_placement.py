"""The graph planner: its branch and bound is exhaustive search, its unloaded cost is the
graph's critical path, and its choice on the SSD scenario is not beaten in simulation."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.analytic.graphs import span_cost
from analysis.graph_placement import apply, brute, place, problem, search
from analysis.summary import summary
from sim import document
from sim.loader import from_dict, load, revised
from sim.spec import Scenario
from sim.world import simulate
from tests.helpers import ROOT, load_dict

SSD = ROOT / "scenarios" / "edge_prune" / "ssd_tracking.yaml"
SETTINGS = settings(max_examples=30, deadline=None, derandomize=True, database=None)


@st.composite
def graphs(draw: st.DrawFn) -> dict[str, Any]:
    """A random DAG of 1-4 actors, each running one layer, joined by all or first, over a
    source device and 1-3 others in a random tree of links."""
    n = draw(st.integers(1, 3))
    devices: dict[str, Any] = {
        f"d{i}": {"gflops": draw(st.sampled_from([1, 3, 10, 40])), "mem_bandwidth": "10GB/s",
                  "power_busy": f"{draw(st.sampled_from([1, 5, 20]))}W"}
        for i in range(n + 1)
    }  # fmt: skip
    links = [
        {"ends": [f"d{draw(st.integers(0, i - 1))}", f"d{i}"],
         "bandwidth": f"{draw(st.sampled_from([10, 100, 1000]))}Mbps",
         "latency": f"{draw(st.sampled_from([0, 1, 5]))}ms"}
        for i in range(1, n + 1)
    ]  # fmt: skip
    k = draw(st.integers(1, 4))
    layers = [
        {"name": f"l{i}", "op": "conv", "flops": draw(st.sampled_from([1e6, 1e7, 1e8])),
         "output_bytes": draw(st.sampled_from([1e3, 1e5, 1e6]))}
        for i in range(k)
    ]  # fmt: skip
    actors: dict[str, Any] = {}
    for i in range(k):
        after = sorted(draw(st.sets(st.sampled_from([f"a{j}" for j in range(i)]))) if i else [])
        actors[f"a{i}"] = {"on": "$source", "after": after, "layers": [f"l{i}", f"l{i}"]}
        if len(after) > 1:
            actors[f"a{i}"]["join"] = draw(st.sampled_from(["all", "first"]))
    return {
        "name": "g",
        "horizon": "10s",
        "model": {"input_bytes": draw(st.sampled_from([1e3, 1e6])), "layers": layers},
        "devices": devices,
        "links": links,
        "graphs": {"g": {"sources": [{"name": "src", "at": "d0",
                                      "arrivals": {"kind": "poisson", "rate": "1/s"}}],
                         "actors": actors, "result_bytes": 100}},
    }  # fmt: skip


@SETTINGS
@given(graphs(), st.sampled_from(["latency", "energy", "bytes"]))
def test_the_branch_and_bound_is_exhaustive_search(raw: dict[str, Any], objective: str) -> None:
    """The search's `keep` best figures are the best of every placement, costed one by one."""
    s = load_dict(raw)
    p = problem(s, "g", [d for d in s.devices if d != "d0"])
    figure = {"latency": "unloaded", "energy": "energy", "bytes": "bytes_sent"}[objective]
    every = [getattr(c, figure) for c in brute(p, objective)]
    for keep in (1, 3):
        got = [getattr(c, figure) for c in search(p, objective, keep=keep)]
        assert got == pytest.approx(every[:keep], rel=1e-9, abs=1e-12)


def _dag() -> Scenario:
    """The SSD scenario's Pi 4 Wi-Fi graph with the backbone's last part cut in two where
    the first feature map leaves it: p3a (blocks 7-13) sends block 13's output to p3b
    and its 19 x 19 x 576 expansion to the heads; p3b the other five maps."""
    raw = document.read(SSD)
    actors = raw["graphs"]["split_pi4_wifi"]["actors"]
    actors["p3a"] = {"on": "$source", "after": ["p2"], "part": ["b7.expand", "b13.add"]}
    actors["p3b"] = {
        "on": "$source",
        "after": ["p3a"],
        "part": ["b14.expand", "extra4.expand.relu6"],
    }
    actors["heads"] = dict(actors["heads"], after=["p3a", "p3b"])
    del actors["p3"]
    raw["graphs"] = {"split_pi4_wifi": raw["graphs"]["split_pi4_wifi"]}
    return from_dict(raw, file=str(SSD), base=SSD.parent)


def test_the_unloaded_cost_is_the_critical_path() -> None:
    """Backbone on the Pi 4, heads on the server over Wi-Fi, costed by hand: the parts'
    seconds, each part's own feature maps over 48.7 Mbit/s plus 2 ms and 1 ms of mean
    jitter (the later of the two arrivals), and the 1 kB result back."""
    s = _dag()
    p = problem(s, "split_pi4_wifi")
    g = p.graph
    assert g.actors["p3a"].bytes_to("heads") == 19 * 19 * 576 * 4
    assert g.actors["p3a"].bytes_to("p3b") == 19 * 19 * 96 * 4

    def on(names: tuple[str, ...], device: str) -> float:
        return sum(span_cost(s, g.actors[n].span, device) for n in names)

    def wifi(size: float) -> float:
        return size * 8 / 48.7e6 + 2e-3 + 1e-3

    first = on(("p1", "p2", "p3a"), "pi4_wifi")
    second = first + on(("p3b",), "pi4_wifi")
    want = max(first + wifi(19 * 19 * 576 * 4), second + wifi(g.actors["p3b"].bytes_to("heads")))
    want += on(("heads",), "server") + wifi(1000)
    places = tuple("server" if n == "heads" else "$source" for n in g.actors)
    c = next(c for c in brute(p) if c.places == places)
    assert c.unloaded == pytest.approx(want, rel=1e-12)
    assert c.bytes_sent == 1408768  # the six maps, each sent once
    assert c.energy == pytest.approx(second * 5.7, rel=1e-12)  # the Pi 4's busy power


def test_the_choice_is_not_worse_in_simulation_than_another_candidate() -> None:
    """On the SSD scenario (Pi 4 over Wi-Fi), no placement the planner weighed beats its
    choice in simulation by more than the two 95 % intervals (4 replications of 20 s)."""
    s = load(SSD)
    s = revised(s, "one graph", graphs={"split_pi4_wifi": s.graphs["split_pi4_wifi"]})
    found = place(s, "split_pi4_wifi", keep=16)
    assert len(found) == 16
    cells = []
    for c in found:
        variant = revised(apply(s, "split_pi4_wifi", c), "placed", horizon=20.0, warmup=2.0)
        reps = [simulate(variant, 5, r, records="summary") for r in range(4)]
        cell = summary(reps, variant)["sources"]["pi4_wifi"]["latency_mean"]
        cells.append((cell["mean"], *cell["ci95"]))
    chosen_low = cells[0][1]
    assert all(chosen_low <= high for _, _, high in cells[1:]), cells
    assert min(m for m, _, _ in cells) == pytest.approx(cells[0][0], rel=0.05)


def test_energy_and_bytes_rank_by_their_own_figures() -> None:
    s = load(SSD)
    for objective, figure in (("energy", "energy"), ("bytes", "bytes_sent")):
        found = place(s, "split_nano_eth", objective=objective, keep=4)
        values = [getattr(c, figure) for c in found]
        assert values == sorted(values) and values[0] == 0.0  # everything on the server


def _plan(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sim", "plan", str(SSD), *args],
                          capture_output=True, text=True, cwd=ROOT, check=False)  # fmt: skip


def test_the_cli_prints_placements_per_source_and_class() -> None:
    done = _plan("--graph", "split_pi4_eth", "--keep", "2")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "exact: all 16 placements evaluated" in out
    assert "p1@server, p2@server, p3@server, heads@server" in out
    assert "per source" in out and "per priority class" in out and "pi4_eth" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--graph", "nope"), "--graph: unknown graph 'nope'"),
        (("--graph", "alone", "--devices", "moon"), "--devices: unknown device 'moon'"),
        (("--graph", "alone", "--keep", "0"), "--keep: give at least 1"),
    ],
)
def test_the_cli_names_a_bad_option(args: tuple[str, ...], message: str) -> None:
    done = _plan(*args)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.splitlines()) == 1
