"""Invariants under failures: every request ends exactly once, whatever fails when."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from sim.streams import Streams
from sim.world import World
from tests.helpers import assert_conserved, base, load_dict

POLICIES = ["none", "retry", "failover", "replicate", "local_fallback", "repartition"]


def topology(
    policy: str, seed: int = 0, horizon: float = 20.0, failing: bool = True
) -> dict[str, Any]:
    """A camera, two servers and a relay, the stage on s1 under ``policy``."""
    fail = {
        "failure": {
            "ttf": {"kind": "exponential", "mean": 2},
            "ttr": {"kind": "exponential", "mean": 1},
        }
    }
    devices = {name: dict(fail) if failing else {} for name in ("s1", "s2", "relay")}
    devices["cam"] = {}
    links = [
        {
            "ends": ["cam", "s1"],
            "bandwidth": "10Mbps",
            "latency": "2ms",
            **(fail if failing else {}),
        },
        {"ends": ["cam", "relay"], "bandwidth": "10Mbps", "latency": "1ms"},
        {"ends": ["relay", "s2"], "bandwidth": "10Mbps", "latency": "1ms"},
        {"ends": ["s1", "s2"], "bandwidth": "10Mbps", "latency": "1ms"},
    ]
    stage: dict[str, Any] = {"on": "s1", "service": {"kind": "exponential", "mean": "20ms"}}
    if policy == "failover":
        stage["standby"] = ["s2"]
    if policy == "replicate":
        stage["replicas"] = ["s2"]
    return base(
        seed=seed,
        horizon=horizon,
        devices=devices,
        links=links,
        pipelines={"p": {"stages": [stage], "result_bytes": "10kB"}},
        workload=[
            {
                "name": "cam",
                "at": "cam",
                "pipeline": "p",
                "arrivals": {"kind": "poisson", "rate": 30},
            }
        ],
        fault_tolerance={
            "policy": policy,
            "heartbeat": "50ms",
            "misses": 2,
            "timeout": "100ms",
            "max_attempts": 3,
        },
    )


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(POLICIES), st.integers(0, 10_000), st.floats(1, 30))
def test_every_request_ends_once_under_failures(policy: str, seed: int, horizon: float) -> None:
    """Every arrival ends once (ok, late, failed, dropped) or is in flight, whatever fails."""
    scenario = load_dict(topology(policy, seed, horizon))
    rep = World(scenario, Streams(seed, 0)).run()
    assert_conserved(scenario, rep)


class FailRepairSubmit(RuleBasedStateMachine):
    """Fail and repair components at will, submit requests, advance time; nothing gets lost."""

    def __init__(self) -> None:
        super().__init__()
        raw = topology("failover", failing=False, horizon=1e6)
        raw["workload"][0]["arrivals"] = {
            "kind": "trace",
            "times": [1e9],
        }  # requests come from submit
        self.world = World(load_dict(raw), Streams(1))
        resilience = self.world.resilience
        assert resilience is not None
        self.health = resilience.health
        self.components = {**self.world.devices, **{link.name: link for link in self.world.links}}
        self.down: set[str] = set()
        self.processes: list[Any] = []

    @rule(name=st.sampled_from(["s1", "s2", "relay", "cam-s1", "relay-s2"]))
    def fail(self, name: str) -> None:
        if name not in self.down:
            self.health.fail(self.components[name], "scheduled")
            self.down.add(name)

    @precondition(lambda self: bool(self.down))
    @rule(data=st.data())
    def repair(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(self.down)))
        self.health.repair(self.components[name], "scheduled")
        self.down.discard(name)

    @rule(n=st.integers(1, 5))
    def submit(self, n: int) -> None:
        for _ in range(n):
            self.processes.append(self.world.submit(self.world.routes[0]))

    @rule(dt=st.floats(0.001, 2.0))
    def advance(self, dt: float) -> None:
        self.world.env.run(until=self.world.env.now + dt)

    @invariant()
    def conserved(self) -> None:
        """Each submitted request has ended once (one record) or is alive (one live entry)."""
        route = self.world.routes[0]
        alive = {p for p in self.processes if p.is_alive}
        ended = len(self.processes) - len(alive)
        ids = [d[0] for d in route.done]
        assert len(ids) == len(set(ids)) == ended, "every ended request recorded once"
        assert set(route.live) == alive, "in flight means alive"
        assert set(ids).isdisjoint(rid for rid, _ in route.live.values())
        assert all(d[1] in (0, 1, 2, 3) for d in route.done)

    @invariant()
    def devices_consistent(self) -> None:
        for device in self.world.devices.values():
            assert 0 <= device.free <= device.spec.slots
            if not device.up:
                assert not device.queue and not device.occupants and device.free == 0


FailRepairSubmit.TestCase.settings = settings(
    max_examples=30, stateful_step_count=30, deadline=None
)
test_fail_repair_submit = FailRepairSubmit.TestCase
