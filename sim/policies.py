"""Fault-tolerance policies: where a stage's request goes, given what the sender believes.

A :class:`Placement` answers, for one stage of one source's pipeline, which
device(s) a request at device ``here`` should be sent to. What the sender
believes about a device is its heartbeat detector's verdict
(:mod:`sim.detection`), never the simulator's own knowledge, so detection
delay shows in the results:

* ``none`` and ``retry``: always the stage's device (``retry`` re-sends a lost
  request after ``timeout``, see :mod:`sim.journey`);
* ``failover``: the first of the stage's device and its ``standby`` devices
  that the sender believes up (``switch_back``), or the current one until it
  is believed down (no switch-back); a ``cold`` standby loads the partition
  when it is switched to, a ``hot`` one has it loaded from the start;
* ``replicate``: the stage's device and all its ``replicas`` at once; the
  first answer wins;
* ``local_fallback``: the stage's device, or, once it is believed down, the
  source device itself for this and every later stage (Edge-PRUNE's
  endpoint-only mode);
* ``repartition``: the device a :class:`Repartitioner` has mapped the stage
  to; on a detected failure it moves the stage to the surviving device with
  the lowest predicted time, after a reconfiguration delay.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import simpy

from sim.detection import Detector
from sim.devices import Device
from sim.records import Declaration
from sim.spec import FaultToleranceSpec

Believes = Callable[[str, Device], bool]
"""Whether the device named first believes the second is up."""


@dataclass(slots=True)
class Placement:
    """Where stage ``k`` of one source's requests are served."""

    key: str  # pipeline.k
    partition: str  # what a device loads to serve the stage
    policy: FaultToleranceSpec
    primary: Device
    standby: tuple[Device, ...]
    replicas: tuple[Device, ...]
    source: Device
    size: float  # bytes carried to the stage
    load_time: float  # of this stage's partition, for a cold switch-over
    believes: Believes
    env: simpy.Environment
    services: dict[str, Callable[[], float]] = field(default_factory=dict)
    real: dict[str, Any] = field(default_factory=dict)  # device -> RealService (HIL)
    current: Device | None = None
    mapped: list[Device] | None = None  # repartition: the shared current device
    failovers: list[int] = field(default_factory=lambda: [0])

    def targets(self, here: Device) -> list[Device]:
        kind = self.policy.policy
        if kind == "replicate":
            return [self.primary, *self.replicas]
        if kind == "failover":
            return [self._failover(here)]
        if kind == "local_fallback" and not self.believes(here.name, self.primary):
            return [self.source]
        if kind == "repartition" and self.mapped is not None:
            return [self.mapped[0]]
        return [self.primary]

    def _failover(self, here: Device) -> Device:
        order = [self.primary, *self.standby]
        alive = [d for d in order if self.believes(here.name, d)]
        current = self.current or self.primary
        if self.policy.switch_back or current not in alive:
            choice = alive[0] if alive else current
        else:
            choice = current
        if choice is not current:
            self.failovers[0] += 1
            if self.policy.mode == "cold" and choice is not self.primary:
                choice.ready_at.setdefault(self.partition, self.env.now + self.load_time)
        self.current = choice
        return choice

    def ready_at(self, device: Device) -> float:
        """When ``device`` can serve this stage (a cold standby loads first)."""
        return device.ready_at.get(self.partition, 0.0)


class Repartitioner:
    """Moves stages off devices declared down, and back when they return (``switch_back``)."""

    def __init__(
        self,
        env: simpy.Environment,
        devices: dict[str, Device],
        predict: Callable[[str, Device], float],
        delay: float,
        switch_back: bool,
    ) -> None:
        self.env = env
        self.devices = devices
        self.predict = predict  # predicted seconds for a stage key on a device
        self.delay = delay
        self.switch_back = switch_back
        self.stages: dict[str, tuple[Device, list[Device]]] = {}  # key -> (primary, [current])
        self.moves = 0

    def track(self, key: str, primary: Device) -> list[Device]:
        """Start tracking a stage; the returned one-item list always holds its device."""
        if key not in self.stages:
            self.stages[key] = (primary, [primary])
        return self.stages[key][1]

    def declared(self, verdict: Declaration) -> None:
        self.env.timeout(self.delay).callbacks.append(lambda _: self._apply(verdict))

    def _apply(self, verdict: Declaration) -> None:
        for key, (primary, current) in self.stages.items():
            if verdict.state == "down" and current[0].name == verdict.device:
                alive = [d for d in self.devices.values() if d.up]
                if alive:
                    current[0] = min(alive, key=lambda d, k=key: self.predict(k, d))  # type: ignore[misc]
                    self.moves += 1
            elif (
                verdict.state == "up"
                and self.switch_back
                and verdict.device == primary.name
                and current[0] is not primary
            ):
                current[0] = primary
                self.moves += 1

    def __repr__(self) -> str:
        return f"Repartitioner(stages={len(self.stages)}, moves={self.moves})"


def believer(detectors: dict[tuple[str, str], Detector]) -> Believes:
    """A sender believes a device up unless its detector of that device says otherwise."""

    def believes(observer: str, device: Device) -> bool:
        if observer == device.name:
            return device.up
        detector = detectors.get((device.name, observer))
        return True if detector is None else detector.believed_up

    return believes
