"""RoCoIn (issue #16): the built graph, its accuracy, the law of its groups, the optimiser.

The committed ensembles (models/trained/nonn-k{2,3,4}-...) are real distilled students;
every run here is a real simulation of the graph ``system: {kind: rocoin}`` builds. The
four checks of item 6 are the first four tests; the rest pin the plan, the refusals and
the analytic accuracy.
"""

from __future__ import annotations

import math
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from analysis.analytic import analyze
from analysis.rocoin import Instance, Rules, evaluate, exact, heuristic, partitions
from analysis.rocoin_plan import instances, rocoin_graphs
from analysis.stats import wilson
from models.ensemble import DistillRecipe, correct, obtain
from sim.graph.log import Event
from sim.graph.systems.rocoin import group
from sim.loader import from_dict
from sim.problems import ScenarioError
from sim.records import Replication
from sim.run import run
from tests.helpers import ROOT


def cluster(
    groups: list[list[str]],
    fail: dict[str, float] | None = None,
    types: dict[str, str] | None = None,
    **top: Any,
) -> dict[str, Any]:
    """A hub and the groups' devices (Pi 4s unless ``types`` says), each down a share
    ``fail[d]`` of the time (crash-recover, mean repair 0.5 s)."""
    devices: dict[str, Any] = {"hub": {"type": "rpi4"}}
    for d in (d for g in groups for d in g):
        devices[d] = {"type": (types or {}).get(d, "rpi4")}
        p = (fail or {}).get(d, 0.0)
        if p > 0:
            ttr = 0.5
            ttf = {"kind": "exponential", "mean": ttr * (1 - p) / p}
            devices[d]["failure"] = {"ttf": ttf, "ttr": {"kind": "exponential", "mean": ttr}}
    links = [
        {"ends": ["hub", d], "bandwidth": "20Mbps", "latency": "1ms"} for d in devices if d != "hub"
    ]
    system = {"kind": "rocoin", "aggregator": "hub", "groups": groups, "timeout": "1s"}
    return {
        "name": "rocoin_test",
        "seed": 5,
        "horizon": top.pop("horizon", "60s"),
        "warmup": "1s",
        "devices": devices,
        "links": links,
        "graphs": {
            "g": {
                "system": system,
                "sources": [
                    {"name": "cam", "at": "hub", "arrivals": {"kind": "poisson", "rate": 20}}
                ],
            }
        },
        **top,
    }


def simulate(raw: dict[str, Any]) -> Replication:
    return run(from_dict(raw), records="all")[0]


def every_group(rep: Replication, k: int, start: float) -> tuple[int, int]:
    """Requests (arrived after ``start``) whose every group answered, and all requests."""
    g = rep.graphs[0]
    ev = g.events
    assert ev is not None
    sent = ev[(ev["actor"] == -1) & (ev["event"] == Event.ARRIVE) & (ev["time"] >= start)]
    requests = np.unique(sent["request"])
    heads = [g.actors.index(group(j)) for j in range(k)]
    started = ev[ev["event"] == Event.START]
    answered = [set(started["request"][started["actor"] == h].tolist()) for h in heads]
    ok = sum(all(int(r) in a for a in answered) for r in requests)
    return ok, len(requests)


def test_with_no_failure_every_answer_is_the_all_students_answer() -> None:
    raw = cluster([["a", "b"], ["c", "d"], ["e"]])
    src = simulate(raw).sources[0]
    assert src.accuracy is not None and len(src.accuracy.sample) > 500
    ensemble = obtain(DistillRecipe(3))
    full = correct(ensemble, frozenset({0, 1, 2}))
    assert np.array_equal(src.accuracy.correct, full[src.accuracy.sample])
    low, high = wilson(int(src.accuracy.correct.sum()), len(src.accuracy.correct))
    assert low <= full.mean() <= high


def test_the_probability_that_every_group_answers_matches_the_product_formula() -> None:
    fail = {"a": 0.3, "b": 0.3, "c": 0.2, "d": 0.25}
    raw = cluster([["a", "b"], ["c", "d"]], fail, horizon="400s")
    scenario = from_dict(raw)
    c = rocoin_graphs(scenario)[0]
    law = evaluate(instances(scenario, c)[2], ((0, 1), (2, 3)))  # the planner's law
    expected = law.every
    assert expected == pytest.approx((1 - 0.3 * 0.3) * (1 - 0.2 * 0.25))
    ok, total = every_group(run(scenario, records="all")[0], 2, 1.0)
    low, high = wilson(ok, total)
    assert total > 5000
    # requests are not independent (a down period spans many): widen by the renewal
    # cycles' count, about one cycle per ttr / p seconds per device
    cycles = 400 * min(fail.values()) / 0.5
    spread = math.sqrt(expected * (1 - expected) / cycles) * 1.96
    assert expected - spread <= ok / total <= expected + spread, (ok / total, low, high)


def random_instance(rng: np.random.Generator, n: int, k: int) -> Instance:
    times = rng.uniform(1, 10, (n, 1)) * rng.uniform(0.8, 1.2, (1, k))
    fits = rng.random((n, k)) > 0.1
    return Instance(tuple(f"d{i}" for i in range(n)), times, rng.uniform(0, 0.3, n), fits)


@pytest.mark.parametrize("objective", ["mean", "p95"])
def test_the_exact_optimiser_is_never_worse_than_the_heuristic(objective: str) -> None:
    rng = np.random.default_rng(16)
    compared = 0
    for _ in range(40):
        n, k = int(rng.integers(4, 7)), int(rng.integers(2, 4))
        inst = random_instance(rng, n, k)
        rules = Rules(min_group=int(rng.integers(1, 3)), objective=objective)
        best, quick = exact(inst, rules), heuristic(inst, rules)
        if quick is not None:
            assert best is not None
            assert best.score.objective(objective) <= quick.score.objective(objective) + 1e-12
            compared += 1
    assert compared > 20


def answer_times(rep: Replication, k: int) -> dict[int, float]:
    """Per request, when group k's first answer reached the aggregator, from the request's
    arrival (a group that never answered has none)."""
    g = rep.graphs[0]
    ev = g.events
    assert ev is not None
    sent = ev[(ev["actor"] == -1) & (ev["event"] == Event.ARRIVE)]
    arrival = dict(zip(sent["request"].tolist(), sent["time"].tolist(), strict=True))
    head = ev[(ev["actor"] == g.actors.index(group(k))) & (ev["event"] == Event.START)]
    return {int(r): t - arrival[int(r)] for r, t in zip(head["request"], head["time"], strict=True)}


def test_adding_a_device_to_a_group_never_raises_its_latency() -> None:
    fail = {"a": 0.2, "b": 0.2, "c": 0.2}
    types = {"b": "rpi5"}  # b is the faster when both are up
    few = answer_times(simulate(cluster([["a"], ["c", "d"]], fail, types=types)), 0)
    more = answer_times(simulate(cluster([["a", "b"], ["c", "d"]], fail, types=types)), 0)
    assert len(few) > 800
    assert set(few) <= set(more)  # a request group 0 answered still has its answer
    assert all(more[r] <= few[r] + 1e-12 for r in few)
    faster = sum(more[r] < few[r] - 1e-6 for r in few)
    assert faster > len(few) / 2  # b answered first for most: the comparison is not empty
    assert len(more) > len(few) * 1.1  # and b answered while a was down


def test_the_law_of_the_latency_matches_sampling() -> None:
    rng = np.random.default_rng(3)
    inst = random_instance(rng, 7, 3)
    groups = ((0, 1, 2), (3, 4), (5, 6))
    score = evaluate(inst, groups)
    up = rng.random((200_000, 7)) > inst.p
    latency = np.full(len(up), -np.inf)
    every = np.ones(len(up), bool)
    for k, members in enumerate(groups):
        t = np.where(up[:, members], inst.times[list(members), k], np.inf).min(axis=1)
        every &= np.isfinite(t)
        latency = np.maximum(latency, np.where(np.isfinite(t), t, -np.inf))
    some = np.isfinite(latency)
    assert abs(every.mean() - score.every) < 4 * math.sqrt(
        score.every * (1 - score.every) / len(up)
    )
    sd = latency[some].std() / math.sqrt(some.sum())
    assert abs(latency[some].mean() - score.mean) < 4 * sd


def test_partitions_are_the_stirling_numbers() -> None:
    assert sum(1 for _ in partitions(list(range(6)), 3, 1)) == 90  # S(6, 3)
    assert sum(1 for _ in partitions(list(range(6)), 3, 2)) == 15  # pairs of 6
    assert sum(1 for _ in partitions(list(range(5)), 3, 2)) == 0


def test_the_analytic_accuracy_mixes_the_subset_table() -> None:
    fail = {"a": 0.3, "b": 0.3}
    figures = analyze(from_dict(cluster([["a", "b"], ["c"]], fail)))
    ensemble = obtain(DistillRecipe(2))
    both = correct(ensemble, frozenset({0, 1})).mean()
    one = correct(ensemble, frozenset({1})).mean()
    expected = (1 - 0.09) * both + 0.09 * one
    assert figures["accuracy"]["answered"]["value"] == pytest.approx(expected, abs=1e-9)


def test_validate_names_the_systems_problems() -> None:
    raw = cluster([["a", "b"], ["c", "x"]])
    raw["graphs"]["g"]["system"]["groups"] = [["a", "b"], ["c", "zz"], ["a"]]
    with pytest.raises(ScenarioError) as exc:
        from_dict(raw)
    text = str(exc.value)
    assert "graphs.g.system.groups[1][1]: unknown device" in text
    assert "graphs.g.system.groups[2][0]: a device is in one group only" in text
    raw["graphs"]["g"]["system"]["groups"] = [["a", "b"], ["c", "d"]]
    raw["devices"]["d"] = {}  # nothing to price a student with
    with pytest.raises(ScenarioError, match=r"groups\[1\]\[1\]: needs gflops and mem_bandwidth"):
        from_dict(raw)


def test_a_group_count_without_an_ensemble_is_refused() -> None:
    raw = cluster([["a"], ["b"], ["c"], ["d"], ["e"]])
    with pytest.raises(ScenarioError, match=r"graphs.g.system.ensemble: no distilled ensemble"):
        from_dict(raw)


def test_plan_prints_the_grouping_and_the_baselines() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "sim", "plan", str(ROOT / "scenarios/rocoin/homogeneous.yaml"),
         "--strategy", "rocoin", "--min-group", "2"],
        capture_output=True, text=True, check=True, cwd=ROOT,
    ).stdout  # fmt: skip
    assert "groups: [[" in out
    for name in ("teacher on the fastest device", "random grouping", "full replication"):
        assert name in out
