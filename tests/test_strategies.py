"""Strategies as objects: one registry, one decision shared by the run and the analytic model,
and one serve step whether or not anything can fail."""

from __future__ import annotations

import re
import typing
from typing import Any

import numpy as np
import pytest

from analysis.analytic import Analyzer
from sim.records import Status
from sim.spec import FaultToleranceSpec
from sim.strategies import STRATEGIES, Runtime, candidates, strategy
from sim.streams import Streams
from sim.world import World
from tests.helpers import ROOT, load_dict, served_by


def test_every_policy_choice_is_a_registered_strategy() -> None:
    """The spec's ``policy`` choices and the registry's kinds are the same set, in order."""
    choices = typing.get_args(FaultToleranceSpec.model_fields["policy"].annotation)
    assert choices == tuple(STRATEGIES)
    assert all(cls.kind == kind for kind, cls in STRATEGIES.items())


def test_no_policy_is_compared_by_name_outside_the_strategies() -> None:
    """Behaviour hangs on strategy objects: no ``policy == "failover"``-style test elsewhere."""
    pattern = re.compile(r"""\.policy\s*(==|!=|in\b|not in\b)|policy\s*(==|!=)\s*["']""")
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for package in ("sim", "analysis", "hil")
        for path in sorted((ROOT / package).rglob("*.py"))
        if "strategies" not in path.parts
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []


def scenario(policy: str, ft: dict[str, Any] | None = None, **stage: Any) -> Any:
    """A camera and three servers, the stage on ``srv`` (down from 1 s on); ``fast`` runs it
    as fast as ``srv``, ``slow`` five times slower, the camera ten times slower."""
    devices: dict[str, Any] = {"srv": {}, "slow": {}, "fast": {}}
    raw = served_by(devices, {"on": "srv", **stage},
                    fault_tolerance={"policy": policy, **(ft or {})},
                    failures=[{"at": "1s", "target": "srv", "duration": "60s"}],
                    horizon="20s", replications=1)  # fmt: skip
    del raw["pipelines"]["p"]["stages"][0]["service"]
    raw["model"] = {
        "input_bytes": 1000,
        "layers": [{"name": "x", "op": "conv", "flops": 1e8, "output_bytes": 10}],
    }
    rates = {"cam": 10, "srv": 100, "slow": 20, "fast": 100}
    for name, gflops in rates.items():
        raw["devices"][name] = {"gflops": gflops, "mem_bandwidth": 1e12}
    return load_dict(raw)


def runtime_with_srv_down(s: Any) -> Runtime:
    """The stage's runtime object once the camera's detector has declared ``srv`` down."""
    world = World(s, Streams(0, 0))
    assert world.resilience is not None
    world.env.run(until=8.0)  # heartbeats every 1 s, 3 misses: declared by 5 s
    assert any(d.device == "srv" for d in world.resilience.declarations)
    (rt,) = world.resilience.resilient.placements["cam"]
    return rt


CASES = [
    ("none", {}, {}, ["srv"]),
    ("retry", {"timeout": "1s"}, {}, ["srv"]),
    ("failover", {}, {"standby": ["slow", "fast"]}, ["slow"]),
    ("replicate", {}, {"replicas": ["slow", "fast"]}, ["srv", "slow", "fast"]),
    ("local_fallback", {}, {}, ["cam"]),
    ("repartition", {}, {}, ["fast"]),
]


@pytest.mark.parametrize(("policy", "ft", "stage", "expected"), CASES)
def test_the_run_and_the_analytic_model_make_the_same_choice(
    policy: str, ft: dict[str, Any], stage: dict[str, Any], expected: list[str]
) -> None:
    """With ``srv`` down and declared down, the runtime object sends the request where the
    analytic model sends the state's flow and its copies: one strategy decides both."""
    s = scenario(policy, ft, **stage)
    rt = runtime_with_srv_down(s)
    ran = [d.name for d in rt.targets(rt.plan.source, 0)]
    names = candidates(s, "p", 0, "cam")
    up = [d for d in names if d != "srv"]
    analytic = Analyzer(s)._choose(s.workload[0], 0, up)
    copies = strategy(s, "p", 0).shadows(analytic, names)
    assert ran == expected
    if len(expected) == 1:
        assert analytic == expected[0]
    else:  # copies: the runtime sends to all; the flow's visit and its shadows cover them
        assert sorted([analytic, *copies]) == sorted(expected)


def test_local_fallback_pins_later_stages_in_both_models() -> None:
    """Served on the source instead of its device, later stages stay on the source: the
    runtime object says so, and so does the analytic description."""
    s = scenario("local_fallback")
    rt = runtime_with_srv_down(s)
    stage = s.pipelines["p"].stages[0]
    assert rt.pinned(rt.plan.source, False) is True
    assert rt.pinned(rt.plan.primary, False) is False
    assert strategy(s, "p", 0).pins(stage, "cam", "cam") is True
    assert strategy(s, "p", 0).pins(stage, "srv", "cam") is False


def test_resend_times_follow_timeout_and_backoff() -> None:
    """Re-sends go at timeout + backoff × 2^(n−1) after the lost attempt; ``none`` never."""
    s = scenario("retry", {"timeout": "1s", "backoff": "500ms", "max_attempts": 3})
    world = World(s, Streams(0, 0))
    assert world.resilience is not None
    (rt,) = world.resilience.resilient.placements["cam"]
    assert rt.resend_at(10.0, 1) == pytest.approx(11.5)
    assert rt.resend_at(10.0, 2) == pytest.approx(12.0)
    assert rt.resend_at(10.0, 3) is None
    none = STRATEGIES["none"](FaultToleranceSpec()).start(rt.plan, rt.shared)
    assert none.resend_at(10.0, 1) is None


def test_one_serve_step_whether_or_not_anything_can_fail() -> None:
    """A queue-limited device under overload: the plain walk and the failure-aware journey
    (policy retry, nothing failing) serve, drop and stamp the same requests."""
    raw = served_by({"srv": {"queue_limit": 2}}, {"on": "srv",
                    "service": {"kind": "exponential", "mean": "300ms"}},
                    horizon="60s", replications=1)  # fmt: skip
    plain = load_dict(raw)
    raw["fault_tolerance"] = {"policy": "retry", "timeout": "100s"}
    guarded = load_dict(raw)
    a = World(plain, Streams(3, 0)).run().sources[0]
    b = World(guarded, Streams(3, 0)).run().sources[0]
    assert (a.status == Status.DROPPED).sum() > 10
    assert np.array_equal(a.ids, b.ids) and np.array_equal(a.status, b.status)
    served = a.status == Status.OK
    assert np.array_equal(a.stamps[served], b.stamps[served])


class EveryOther(Runtime):
    """A placement strategy's runtime: request ``rid`` runs on alternative ``rid mod n``."""

    __slots__ = ()

    def targets(self, here: Any, rid: int) -> list[Any]:
        alternatives = self.plan.alternatives
        return [alternatives[rid % len(alternatives)]]


def test_a_runtime_may_choose_each_requests_device_among_the_alternatives() -> None:
    """The seam for placement strategies: the journey routes each request to whichever
    alternative the runtime names, and serves it there with that device's sampler."""
    raw = served_by({"srv": {}, "a": {}, "b": {}}, {"on": "srv", "standby": ["a", "b"]},
                    fault_tolerance={"policy": "failover"}, horizon="60s", replications=1)  # fmt: skip
    raw["pipelines"]["p"]["stages"][0]["service"] = {"kind": "exponential", "mean": "2ms"}
    world = World(load_dict(raw), Streams(1, 0))
    assert world.resilience is not None
    (rt,) = world.resilience.resilient.placements["cam"]
    world.resilience.resilient.placements["cam"] = (EveryOther(rt.plan, rt.shared),)
    rep = world.run()
    src = rep.sources[0]
    assert [d.name for d in rt.plan.alternatives] == ["srv", "a", "b"]
    assert (src.status == Status.OK).all() and len(src.ids) > 100
    for i, name in enumerate(["srv", "a", "b"]):
        assert world.devices[name].served == np.count_nonzero(src.ids % 3 == i)
