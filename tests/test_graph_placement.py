"""The graph planner: its branch and bound is exhaustive search, its unloaded cost is the
graph's critical path, and its choice on the SSD scenario is not beaten in simulation.

``python -m tests.test_graph_placement [INSTANCES]`` prints the heuristic's gap against the
exact search on random small instances (docs/planning.md).
"""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis import graph_placement
from analysis.graph_placement import apply, brute, evaluate, heuristic, place, problem, search
from analysis.summary import summary
from sim import document
from sim.graph.samplers import span_cost
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


def test_beyond_the_exact_limit_the_heuristic_finds_the_ssd_choice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With enumeration switched off, the heuristic's choice is the exact search's."""
    s = load(SSD)
    exact = place(s, "split_pi4_wifi", keep=1)[0]
    monkeypatch.setattr(graph_placement, "EXACT", 1)
    for keep in (1, 2):
        found = place(s, "split_pi4_wifi", keep=keep)
        assert found[0].places == exact.places
        assert found[0].latency == pytest.approx(exact.latency, rel=1e-12)


def test_the_heuristics_moves_leave_a_saturated_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two 80 ms actors at 10 requests/s: together on one fast server (the unloaded best)
    they saturate it; the moves spread them over both servers, as the exact search does."""
    fast = {"gflops": 50, "mem_bandwidth": "10GB/s"}
    layers = [{"name": f"l{i}", "op": "conv", "flops": 4e9, "output_bytes": 1e3} for i in (0, 1)]
    raw = {
        "name": "spread", "horizon": "10s", "model": {"input_bytes": 1e3, "layers": layers},
        "devices": {"cam": {"gflops": 1, "mem_bandwidth": "1GB/s"}, "s1": fast, "s2": fast},
        "links": [{"ends": list(e), "bandwidth": "1Gbps", "latency": "1ms"}
                  for e in (("cam", "s1"), ("cam", "s2"), ("s1", "s2"))],
        "graphs": {"g": {"sources": [{"name": "cam", "at": "cam",
                                      "arrivals": {"kind": "poisson", "rate": "10/s"}}],
                         "actors": {"a": {"on": "s1", "layers": ["l0", "l0"]},
                                    "b": {"on": "s1", "after": ["a"], "layers": ["l1", "l1"]}}}},
    }  # fmt: skip
    s = load_dict(raw)
    exact = place(s, "g", keep=1)[0]
    assert math.isfinite(exact.latency) and len(set(exact.places)) == 2
    p = problem(s, "g")
    assert not math.isfinite(evaluate(s, p, search(p, "latency", keep=1))[0].latency)
    monkeypatch.setattr(graph_placement, "EXACT", 1)
    assert place(s, "g", keep=1)[0].latency == pytest.approx(exact.latency, rel=1e-12)


def test_energy_and_bytes_rank_by_their_own_figures() -> None:
    s = load(SSD)
    for objective, figure in (("energy", "energy"), ("bytes", "bytes_sent")):
        found = place(s, "split_nano_eth", objective=objective, keep=4)
        values = [getattr(c, figure) for c in found]
        assert values == sorted(values) and values[0] == 0.0  # everything on the server


def _plan(*args: str, file: Path = SSD) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sim", "plan", str(file), *args],
                          capture_output=True, text=True, cwd=ROOT, check=False)  # fmt: skip


def test_the_cli_writes_json_and_refuses_a_chain_graph() -> None:
    done = _plan("--graph", "split_nano_eth", "--keep", "2", "--objective", "p95", "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert len(rows) == 2 and rows[0]["best"] and rows[0]["p95"] <= rows[1]["p95"]
    assert set(rows[0]["per_source"]) == {"nano_eth"} and "0" in rows[0]["per_class"]
    done = _plan("--graph", "p_as_graph", file=ROOT / "scenarios" / "graphs" / "chain.yaml")
    assert done.returncode == 2 and "chains a pipeline: plan it with --place" in done.stderr


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


def _instance(rng: random.Random) -> dict[str, Any]:
    """A random placement problem: 3-4 actors in a DAG, a source and 2 other devices, and
    a Poisson load under which a device that takes every actor may queue or saturate."""
    devices = {f"d{i}": {"gflops": rng.choice([5, 20, 50, 100]), "mem_bandwidth": "10GB/s"}
               for i in range(3)}  # fmt: skip
    links = [{"ends": [f"d{rng.randrange(i)}", f"d{i}"],
              "bandwidth": f"{rng.choice([20, 100, 1000])}Mbps",
              "latency": f"{rng.choice([0, 1, 5])}ms"} for i in range(1, 3)]  # fmt: skip
    k = rng.randint(3, 4)
    layers = [{"name": f"l{i}", "op": "conv", "flops": rng.choice([1e8, 3e8, 1e9]),
               "output_bytes": rng.choice([1e3, 3e4, 1e5])} for i in range(k)]  # fmt: skip
    actors: dict[str, Any] = {}
    for i in range(k):
        after = (
            sorted(rng.sample([f"a{j}" for j in range(i)], rng.randint(1, min(i, 2)))) if i else []
        )
        actors[f"a{i}"] = {"on": "$source", "after": after, "layers": [f"l{i}", f"l{i}"]}
    rate = rng.choice([5, 10, 20])
    return {"name": "gap", "horizon": "10s", "devices": devices, "links": links,
            "model": {"input_bytes": 3e4, "layers": layers},
            "graphs": {"g": {"actors": actors, "sources": [
                {"name": "src", "at": "d0", "arrivals": {"kind": "poisson", "rate": f"{rate}/s"}}]}}}  # fmt: skip


def gap(instances: int, seed: int = 1) -> None:
    """The heuristic against the exact search (every placement evaluated) on random small
    instances: its start alone (the `keep` best by unloaded latency, analytic best of them)
    and with its one-actor moves."""
    rng = random.Random(seed)
    keeps = (1, 2, 4, 8)
    rows: dict[tuple[str, int], list[tuple[float, int]]] = {}
    infeasible = 0
    for _ in range(instances):
        s = load_dict(_instance(rng))
        p = problem(s, "g", ["d1", "d2"])
        exact = min(c.latency for c in evaluate(s, p, brute(p)))
        if not math.isfinite(exact):  # every placement saturates a station
            infeasible += 1
            continue
        for k in keeps:
            start = evaluate(s, p, search(p, "latency", keep=k))
            moved = heuristic(s, p, "latency", keep=k)
            for what, found in (("start", start), ("moves", moved)):
                best = min(c.latency for c in found)
                error = best / exact - 1 if math.isfinite(best) else math.inf
                rows.setdefault((what, k), []).append((error, len(found)))
    print(f"{infeasible} of {instances} instances have no stable placement; over the rest:\n")
    print(
        "| heuristic | keep | exact choice | mean gap (finite) | worst gap | unstable | placements evaluated |"
    )
    print("|---|---|---|---|---|---|---|")
    for (what, k), cells in rows.items():
        errors = [e for e, _ in cells]
        finite = [e for e in errors if math.isfinite(e)]
        print(f"| {what} | {k} | {sum(e < 1e-9 for e in errors)} of {len(errors)} | "
              f"{100 * sum(finite) / max(len(finite), 1):.2f} % | {100 * max(finite, default=0):.1f} % | "
              f"{len(errors) - len(finite)} | {sum(n for _, n in cells) / len(cells):.1f} |")  # fmt: skip


if __name__ == "__main__":
    gap(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
