"""The placement planner: exact for its additive cost, costed as the simulation costs, and
never choosing a plan the simulation finds clearly worse than another candidate."""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
from typing import Any

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.placement import apply, place, problem, search
from analysis.summary import summary
from sim.costs import stage_cost
from sim.loader import load, revised
from sim.spec import Scenario
from sim.world import simulate
from tests.helpers import ROOT, load_dict

QUICKSTART = ROOT / "scenarios" / "quickstart.yaml"
SETTINGS = settings(max_examples=30, deadline=None, derandomize=True, database=None)


@st.composite
def chains(draw: st.DrawFn) -> dict[str, Any]:
    """A random chain model over 2-4 devices in a random tree of links."""
    n = draw(st.integers(2, 4))
    devices = {
        f"d{i}": {"gflops": draw(st.sampled_from([1, 3, 10, 40])),
                  "mem_bandwidth": "10GB/s"}
        for i in range(n)
    }  # fmt: skip
    links = [
        {"ends": [f"d{draw(st.integers(0, i - 1))}", f"d{i}"],
         "bandwidth": f"{draw(st.sampled_from([10, 100, 1000]))}Mbps",
         "latency": f"{draw(st.sampled_from([0, 1, 5]))}ms"}
        for i in range(1, n)
    ]  # fmt: skip
    layers = [
        {"name": f"l{k}", "op": "conv", "flops": draw(st.sampled_from([1e6, 1e7, 1e8])),
         "output_bytes": draw(st.sampled_from([1e3, 1e5, 1e6]))}
        for k in range(draw(st.integers(1, 5)))
    ]  # fmt: skip
    return {
        "name": "chain",
        "horizon": "10s",
        "model": {"input_bytes": draw(st.sampled_from([1e3, 1e6])), "layers": layers},
        "devices": devices,
        "links": links,
        "pipelines": {"p": {"stages": [{"on": "d0", "layers": "all"}], "result_bytes": 100}},
        "workload": [{"name": "src", "at": "d0", "pipeline": "p",
                      "arrivals": {"kind": "poisson", "rate": "1/s"}}],
    }  # fmt: skip


def _exhaustive(s: Scenario) -> list[float]:
    """The unloaded latency of every plan: each way of cutting the layers into consecutive
    parts, each part on any device but the previous part's, costed directly."""
    table = s.table
    assert table is not None
    layers = table.cost_layers()
    sizes = [table.input_bytes, *(x.output_bytes for x in layers)]
    sizes[-1] = s.pipelines["p"].result_bytes
    graph = nx.Graph()
    for link in s.links:
        graph.add_edge(*link.ends, s=8 / link.bandwidth, t=link.latency)

    def hop(a: str, b: str, size: float) -> float:
        path = nx.shortest_path(graph, a, b, weight="t") if a != b else [a]
        return sum(size * graph[x][y]["s"] + graph[x][y]["t"] for x, y in itertools.pairwise(path))

    out = []
    n = len(layers)
    for k in range(1, n + 1):
        for cuts in itertools.combinations(range(1, n), k - 1):
            bounds = [0, *cuts, n]
            for devs in itertools.product(list(s.devices), repeat=k):
                if any(a == b for a, b in itertools.pairwise(devs)):
                    continue
                total, at = 0.0, "d0"
                for d, (i, j) in zip(devs, itertools.pairwise(bounds), strict=True):
                    compute = s.devices[d].compute()
                    assert compute is not None
                    before = table.input_bytes if i == 0 else layers[i - 1].output_bytes
                    total += hop(at, d, sizes[i]) + compute.run_time(layers[i:j], before)
                    at = d
                out.append(total + hop(at, "d0", sizes[-1]))
    return sorted(out)


@SETTINGS
@given(chains())
def test_the_search_is_exhaustive_search(raw: dict[str, Any]) -> None:
    """The dynamic programme's `keep` best plans are the exhaustive search's best costs."""
    s = load_dict(raw)
    want = _exhaustive(s)
    got = [p.unloaded for p in search(problem(s, s.workload[0]), "latency", keep=4)]
    assert got == pytest.approx(want[:4], rel=1e-9, abs=1e-12)


def test_a_plan_is_costed_as_the_simulation_costs_its_stages() -> None:
    """Each segment's seconds are the simulator's own stage cost of the stage it becomes."""
    s = load(QUICKSTART)
    for plan in place(s, keep=4):
        placed = apply(s, "split_cam0", plan)
        for k, segment in enumerate(plan.segments):
            assert segment.seconds == pytest.approx(
                stage_cost(placed, "split_cam0", k, segment.device), rel=1e-12
            )


def test_the_chosen_plan_is_not_worse_in_simulation_than_another_candidate() -> None:
    """On the quickstart, no candidate the planner weighed beats its choice in simulation
    by more than the two 95 % intervals (4 replications of 30 s, fixed seeds)."""
    s = load(QUICKSTART)
    plans = place(s, keep=5)
    means = []
    for plan in plans:
        variant = revised(apply(s, "split_cam0", plan), "placed", horizon=30.0, warmup=2.0)
        reps = [simulate(variant, 11, r, records="summary") for r in range(4)]
        cell = summary(reps, variant)["sources"]["cam0"]["latency_mean"]
        means.append((cell["mean"], *cell["ci95"]))
    chosen_low = means[0][1]
    assert all(chosen_low <= high for _, _, high in means[1:]), means


def test_energy_and_bytes_are_ranked_by_their_own_figures() -> None:
    s = load(QUICKSTART)
    for objective, attr in (("energy", "endpoint_energy"), ("bytes", "bytes_sent")):
        plans = [p for p in place(s, objective=objective) if math.isfinite(p.latency)]
        values = [getattr(p, attr) for p in plans]
        assert values == sorted(values)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sim", "plan", str(QUICKSTART), "--place", *args],
        capture_output=True, text=True,
    )  # fmt: skip


def test_the_cli_prints_the_plans_best_first() -> None:
    done = _cli("--json", "--keep", "3")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [r["best"] for r in rows] == [True, False, False]
    assert rows[0]["latency"] <= rows[1]["latency"]
    assert rows[0]["plan"].startswith("cam0: stem–")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--devices", "cam0,gpu"), "--devices: unknown device 'gpu' (known: cam0, cam1, nx)"),
        (("--keep", "0"), "--keep: give at least 1 (got 0)"),
    ],
)
def test_the_cli_names_a_bad_option(args: tuple[str, ...], message: str) -> None:
    done = _cli(*args)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
