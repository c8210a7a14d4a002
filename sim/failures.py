"""Failures: when devices and links go down and come back, and the timeline of it.

Each device or link with a ``failure:`` spec runs a crash–recover process:
up for a ``ttf`` draw, down for a ``ttr`` draw, and so on (crash–stop when
there is no ``ttr``). Scheduled ``failures:`` injections take a component
down at a fixed time, for a fixed duration or for good. Causes add up: a
component is up only when no cause holds it down. Every process draws from
its own named stream, so the failure history of a component is the same
under every fault-tolerance policy (common random numbers).

:class:`Health` applies a change (the component's ``crash`` or ``restart``),
appends it to the timeline and tells its listeners, which keep availability
and switch routes and placements.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, Literal

import simpy

from sim.devices import Device
from sim.links import Link
from sim.records import Change
from sim.spec import InjectionSpec

Component = Device | Link


class Health:
    """The failure state of every component, its timeline, and who must hear of changes."""

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.timeline: list[Change] = []
        self.went_down: dict[str, float] = {}
        self.listeners: list[Callable[[Component], None]] = []

    def fail(
        self, component: Component, cause: Literal["random", "scheduled"], lose_state: bool = True
    ) -> None:
        """``lose_state=False`` (a hang or a dropped connection): a device that comes back
        need not reload its partitions, unless another failure meanwhile lost them."""
        component.down_causes += 1
        if lose_state and isinstance(component, Device):
            component.cold = True
        if component.down_causes == 1:
            self.went_down[component.name] = self.env.now
            self._record(component, "down", cause)
            component.crash()
            self._tell(component)

    def repair(self, component: Component, cause: Literal["random", "scheduled"]) -> None:
        component.down_causes -= 1
        if component.down_causes == 0:
            self._record(component, "up", cause)
            if isinstance(component, Device):
                component.restart()
            self._tell(component)

    def _record(self, c: Component, state: Literal["down", "up"], cause: Any) -> None:
        kind: Literal["device", "link"] = "device" if isinstance(c, Device) else "link"
        self.timeline.append(Change(self.env.now, c.name, kind, state, cause))

    def _tell(self, component: Component) -> None:
        for listener in self.listeners:
            listener(component)

    def __repr__(self) -> str:
        return f"Health(changes={len(self.timeline)})"


def crash_recover(
    env: simpy.Environment,
    health: Health,
    component: Component,
    ttf: Callable[[], float],
    ttr: Callable[[], float] | None,
) -> Generator[simpy.Event, Any, None]:
    """Up for ttf, down for ttr, forever; down for good after the first ttf without a ttr."""
    while True:
        yield env.timeout(max(0.0, ttf()))
        health.fail(component, "random")
        if ttr is None:
            return
        yield env.timeout(max(0.0, ttr()))
        health.repair(component, "random")


def injection(
    env: simpy.Environment, health: Health, component: Component, spec: InjectionSpec
) -> Generator[simpy.Event, Any, None]:
    """A scheduled failure at ``spec.at``, lasting ``spec.duration`` (or for good)."""
    yield env.timeout(spec.at)
    if spec.mode == "slow":
        assert isinstance(component, Device) and spec.delay is not None
        component.slowdown += spec.delay
        if spec.duration is not None:
            yield env.timeout(spec.duration)
            component.slowdown -= spec.delay
        return
    health.fail(component, "scheduled", lose_state=spec.mode == "crash")
    if spec.duration is not None:
        yield env.timeout(spec.duration)
        health.repair(component, "scheduled")
