"""A request's journey: source → stage 1 → … → stage K → back to the source.

Before each stage the request's tensor crosses the hops from where it is to
the stage's device (the source's input before stage 1, stage k's output
before stage k + 1); it then waits for a slot on the device and is served.
Finally the result crosses back to the source. Each arrival at a queue, start
of service and end of service is stamped into the request's row (see
:mod:`sim.records`).

The journey is one flat generator: the engine's cost per request is what a
hand-written SimPy model of the same system pays, plus appending the stamps.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import simpy

from sim.devices import Device
from sim.links import Hop
from sim.records import Status


@dataclass(frozen=True, slots=True)
class Step:
    """Reaching one stage and being served there."""

    hops: tuple[Hop, ...]  # crossed to reach the stage's device
    size: float  # bytes carried across those hops
    device: Device
    service: Callable[[], float]  # draws this stage's service time


@dataclass(slots=True)
class Route:
    """A source's way through its pipeline, and what it has recorded so far."""

    name: str
    pipeline: str
    priority: int
    deadline: float | None
    steps: tuple[Step, ...]
    back: tuple[Hop, ...]  # from the last stage's device to the source
    result_bytes: float
    warmup: float
    arrived: int = 0
    arrived_measured: int = 0
    done: list[tuple[int, int, list[float]]] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"Route({self.name!r}, arrived={self.arrived}, done={len(self.done)})"


def journey(env: simpy.Environment, route: Route, rid: int) -> Generator[simpy.Event, Any, None]:
    """Carry request ``rid``, arriving now, through ``route``; record how it ended."""
    arrival = env.now
    stamps = [arrival]
    done = route.done
    priority = route.priority
    for step in route.steps:
        for hop in step.hops:
            delivered = yield from hop.send(step.size)
            if not delivered:
                done.append((rid, Status.FAILED, stamps))
                return
        stamps.append(env.now)
        device = step.device
        if device.full():
            done.append((rid, Status.DROPPED, stamps))
            return
        with device.request(priority) as slot:
            yield slot
            stamps.append(env.now)
            device.meter.start()
            yield env.timeout(step.service())
            device.meter.stop()
            device.served += 1
        stamps.append(env.now)
    for hop in route.back:
        delivered = yield from hop.send(route.result_bytes)
        if not delivered:
            done.append((rid, Status.FAILED, stamps))
            return
    now = env.now
    stamps.append(now)
    late = route.deadline is not None and now - arrival > route.deadline
    done.append((rid, Status.LATE if late else Status.OK, stamps))
