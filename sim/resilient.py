"""One actor's attempts when anything can fail, or a strategy adds redundancy.

Each actor of a chain (:mod:`sim.graph.strategic`) goes where its strategy's runtime
object (:mod:`sim.strategies`) says, a lost attempt is re-sent when the runtime says,
and the request is registered on every device and link it occupies so that a failure
can interrupt it. Its link attempts lost, by every copy and re-sending, are added up
in a one-element tally. Every attempt is served by the one step
:func:`sim.journey.serve`, as in the plain walk (:func:`sim.graph.chain.walk`).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import simpy

from sim.devices import Device
from sim.journey import DROPPED, SERVED, serve
from sim.links import Hop
from sim.strategies import Runtime

Outcome = tuple[Device, float, float, float] | str | None
"""(device, queue arrival, service start, service end), DROPPED, or None when lost."""


@dataclass(slots=True)
class Resilient:
    """What a chain's failure-aware journey needs of the world: routes over what is up, and the
    runtime objects of every source's stages."""

    path: Callable[[str, str], tuple[Hop, ...] | None]
    placements: dict[str, tuple[Runtime, ...]]  # per source name
    source: dict[str, Device]


def stage(
    env: simpy.Environment, world: Resilient, priority: int, runtime: Runtime, here: Device,
    pinned: bool, tally: list[int], rid: int,
) -> Generator[simpy.Event, Any, Outcome]:  # fmt: skip
    """Reach and be served at one stage (or graph actor) under its strategy's ``runtime``,
    re-sending what is lost while the runtime says so; its link attempts lost go to
    ``tally``."""
    attempts = 0
    while True:
        targets = [runtime.plan.source] if pinned else runtime.targets(here, rid)
        sent = env.now
        if len(targets) == 1:
            target = targets[0]
            outcome = yield from _reach_and_serve(
                env, world, runtime, here, target, priority, tally
            )
        else:
            outcome = yield from _first_of(env, world, priority, runtime, here, targets, tally)
        if outcome is not None:
            return outcome
        attempts += 1
        if not (yield from _before_resend(env, runtime, sent, attempts)):
            return None


def _before_resend(
    env: simpy.Environment, runtime: Runtime, sent: float, attempts: int
) -> Generator[simpy.Event, Any, bool]:
    """Wait until the sender would re-send a lost attempt; False when it gives up."""
    resend = runtime.resend_at(sent, attempts)
    if resend is None:
        return False
    if resend > env.now:
        yield env.timeout(resend - env.now)
    return True


def _reach_and_serve(
    env: simpy.Environment, world: Resilient, runtime: Runtime, here: Device, target: Device,
    priority: int, tally: list[int],
) -> Generator[simpy.Event, Any, Outcome]:  # fmt: skip
    plan = runtime.plan
    real_link = target.name in plan.real or here.probe is not None  # the real call carries it
    hops = () if real_link else world.path(here.name, target.name)
    if hops is None:
        return None
    for hop in hops:
        lost = yield from hop.send(plan.size)
        if lost is None:
            return None
        tally[0] += lost
    real = plan.real.get(target.name)
    # a real device is known to have failed only when it does not answer: the sender's
    # timeout runs from the attempt's sending, through its wait for the device too
    timeout = plan.spec.timeout
    deadline = None if real is None or timeout is None else env.now + timeout
    stamps: list[float] = []  # this attempt's: a lost or dropped one's are not kept
    outcome = yield from serve(
        env, target, priority, plan.services[target.name], stamps, real,
        plan.ready_at(target), deadline,
    )  # fmt: skip
    if outcome is not SERVED:
        return outcome
    queued, started, ended = stamps
    return (target, queued, started, ended)


def _first_of(
    env: simpy.Environment, world: Resilient, priority: int, runtime: Runtime, here: Device,
    targets: list[Device], tally: list[int],
) -> Generator[simpy.Event, Any, Outcome]:  # fmt: skip
    """Send to every target at once; the first served copy wins, the others still run."""
    pending = [
        env.process(_reach_and_serve(env, world, runtime, here, target, priority, tally))
        for target in targets
    ]
    dropped = False
    while pending:
        yield env.any_of(pending)
        for copy in [c for c in pending if c.triggered]:
            pending.remove(copy)
            if isinstance(copy.value, tuple):
                return copy.value
            dropped = dropped or copy.value == DROPPED
    return DROPPED if dropped else None


def deliver(
    env: simpy.Environment, world: Resilient, runtime: Runtime, here: Device, source: Device,
    size: float, tally: list[int],
) -> Generator[simpy.Event, Any, bool]:  # fmt: skip
    """Return the result to the source, re-sending when the last stage's runtime says."""
    attempts = 0
    while True:
        sent = env.now
        hops = () if here.probe is not None else world.path(here.name, source.name)
        ok = hops is not None
        for hop in hops or ():
            lost = yield from hop.send(size)
            if lost is None:
                ok = False
                break
            tally[0] += lost
        if ok:
            return True
        attempts += 1
        if not (yield from _before_resend(env, runtime, sent, attempts)):
            return False
