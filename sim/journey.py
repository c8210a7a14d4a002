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
class Transfer:
    """Carrying ``size`` bytes over ``hops``.

    When no hop needs its medium (nothing to serialise), loses or jitters,
    the transfer is a fixed ``delay``: one timeout instead of one per hop.
    """

    hops: tuple[Hop, ...]
    size: float

    @property
    def delay(self) -> float | None:
        if self.size > 0 or any(h.lose or h.jitter for h in self.hops):
            return None
        return sum(h.latency for h in self.hops)


@dataclass(frozen=True, slots=True)
class Step:
    """Reaching one stage and being served there."""

    transfer: Transfer  # to the stage's device
    delay: float | None  # the transfer's fixed delay, if it has one
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
    back: Transfer  # the result, from the last stage's device to the source
    warmup: float
    back_delay: float | None = None
    arrived: int = 0
    arrived_measured: int = 0
    done: list[tuple[int, int, list[float]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.back_delay = self.back.delay

    def __repr__(self) -> str:
        return f"Route({self.name!r}, arrived={self.arrived}, done={len(self.done)})"


def carry(transfer: Transfer) -> Generator[simpy.Event, Any, bool]:
    """Carry a transfer hop by hop; False if a hop ran out of retransmissions."""
    for hop in transfer.hops:
        if not (yield from hop.send(transfer.size)):
            return False
    return True


def journey(env: simpy.Environment, route: Route, rid: int) -> Generator[simpy.Event, Any, None]:
    """Carry request ``rid``, arriving now, through ``route``; record how it ended."""
    arrival = env.now
    stamps = [arrival]
    done = route.done
    priority = route.priority
    for step in route.steps:
        if step.delay is not None:
            if step.delay:
                yield env.timeout(step.delay)
        elif not (yield from carry(step.transfer)):
            done.append((rid, Status.FAILED, stamps))
            return
        stamps.append(env.now)
        device = step.device
        limit = device.queue_limit
        if limit is not None and len(device.queue) >= limit:
            done.append((rid, Status.DROPPED, stamps))
            return
        granted = device.acquire(priority)
        if granted is not None:
            yield granted
        stamps.append(env.now)
        device.meter.start()
        yield env.timeout(step.service())
        device.meter.stop()
        device.served += 1
        device.release()
        stamps.append(env.now)
    back = route.back_delay
    if back is not None:
        if back:
            yield env.timeout(back)
    elif not (yield from carry(route.back)):
        done.append((rid, Status.FAILED, stamps))
        return
    now = env.now
    stamps.append(now)
    late = route.deadline is not None and now - arrival > route.deadline
    done.append((rid, Status.LATE if late else Status.OK, stamps))
