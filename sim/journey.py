"""A request's journey: source → stage 1 → … → stage K → back to the source.

Before each stage the request's tensor crosses the hops from where it is to
the stage's device (the source's input before stage 1, stage k's output
before stage k + 1); it then waits for a slot on the device and is served.
Finally the result crosses back to the source. Each arrival at a queue, start
of service and end of service is stamped into the request's row (see
:mod:`sim.records`), with how the request ended and how many of its link
attempts were lost.

Which requests are still in flight is kept apart from what they record: a
route holds the live set of its requests' processes, entered on arrival and
left when the process ends, whatever the journey recorded or failed to.

Every stage is served by one step, :func:`serve` (queue limit, a slot, the busy
meter, the service with the device's slowdown, release), whether or not anything can
fail; a request that finds a free slot takes it without an event. When nothing can
fail and no strategy adds redundancy, requests take :func:`journey`, one flat walk of
the route's fixed steps; otherwise :func:`sim.resilient.resilient_journey` asks each
stage's strategy (:mod:`sim.strategies`) where to go, and re-sends what is lost.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, Protocol

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
    real: RealService | None = None  # a real device runs this stage instead (HIL)


RealService = Callable[[simpy.Environment, float | None], Generator[simpy.Event, Any, float]]
"""Runs a stage on a real device in real time; the value is the device's compute seconds.

The call crosses the real link both ways, so the simulated hops to and from a bound
device are left out of its route. It raises :class:`RealFailure` when the device does
not answer, or not within the limit given (seconds, or None): the request's attempt is
then lost, as on a failed simulated device."""


class Sink(Protocol):
    """Where a route's finished requests go: a list of rows (records "all"), or a
    :class:`sim.streaming.Stream` that keeps their statistics only."""

    def append(self, row: tuple[int, int, list[float], int], /) -> None: ...

    def __len__(self) -> int: ...


def _rows() -> list[tuple[int, int, list[float], int]]:
    return []


class RealFailure(Exception):
    """A real device failed to serve a request (crashed, hung, unreachable)."""


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
    # (id, status, stamps, attempts lost on links) of every request that ended
    done: Sink = field(default_factory=lambda: _rows())
    # per named column, request id -> value (sim.records.SourceRecords.extra); None: not kept
    extra: dict[str, dict[int, object]] | None = field(default_factory=dict)
    # the process of every request still on its way -> (id, arrival time)
    live: dict[simpy.Process, tuple[int, float]] = field(default_factory=dict)
    leave: Callable[[simpy.Process], None] = field(init=False)

    def __post_init__(self) -> None:
        self.back_delay = self.back.delay
        self.leave = self.live.__delitem__  # bound once: called as each process ends

    def enter(self, process: simpy.Process, rid: int, now: float) -> None:
        """Count ``process`` in flight until it ends, however it ends."""
        self.live[process] = (rid, now)
        process.callbacks.append(self.leave)

    def __repr__(self) -> str:
        return f"Route({self.name!r}, in_flight={len(self.live)}, done={len(self.done)})"


def carry(transfer: Transfer) -> Generator[simpy.Event, Any, int | None]:
    """Carry a transfer hop by hop: the attempts lost, or None if a hop ran out of them."""
    lost = 0
    for hop in transfer.hops:
        n = yield from hop.send(transfer.size)
        if n is None:
            return None
        lost += n
    return lost


SERVED = "served"
DROPPED = "dropped"


def serve(
    env: simpy.Environment,
    device: Device,
    priority: int,
    service: Callable[[], float],
    stamps: list[float],
    real: RealService | None = None,
    ready: float = 0.0,
    deadline: float | None = None,
    guarded: bool = True,
) -> Generator[simpy.Event, Any, str | None]:
    """Serve the active request on ``device``: SERVED, DROPPED, or None when it is lost.

    It joins the queue (its arrival stamped), is dropped by a full one (``queue_limit``),
    waits until ``ready`` (a partition still loading) and for a slot (taken at once,
    without an event, when one is free), then holds the slot for a draw of ``service``
    plus the device's slowdown, or for the ``real`` device's answer; the start and end of
    service are stamped too. It is lost when the device is down, fails under it (an
    interrupt), or, with a ``deadline``, has no slot or no real answer by then.
    ``guarded`` registers the request on the device so that a crash interrupts it; only
    the plain walk, where nothing can fail, leaves it out.
    """
    if guarded and not device.up:
        return None
    queued = env.now
    stamps.append(queued)
    limit = device.queue_limit
    if limit is not None and len(device.queue) >= limit:
        return DROPPED
    process = env.active_process if guarded else None
    if process is not None:
        device.occupants[process] = None
    try:
        if ready > queued:
            yield env.timeout(ready - queued)
        granted = device.acquire(priority)
        if granted is not None:
            if deadline is None:
                yield granted
            else:
                yield granted | env.timeout(max(0.0, deadline - env.now))
                if not granted.triggered:
                    device.withdraw(granted)
                    return None
        stamps.append(env.now)
        device.meter.start()
        try:
            if real is None:
                yield env.timeout(service() + device.slowdown)
            else:
                yield from real(env, None if deadline is None else max(0.0, deadline - env.now))
        except RealFailure:
            device.meter.stop()
            device.release()
            return None
        device.meter.stop()
        device.served += 1
        device.release()
        stamps.append(env.now)
        return SERVED
    except simpy.Interrupt:
        return None  # the device failed; its crash reset slots and meter
    finally:
        if process is not None:
            device.occupants.pop(process, None)


def journey(env: simpy.Environment, route: Route, rid: int) -> Generator[simpy.Event, Any, None]:
    """Carry request ``rid``, arriving now, through ``route``'s fixed steps; record how it ended."""
    arrival = env.now
    stamps = [arrival]
    done = route.done
    priority = route.priority
    lost = 0
    for step in route.steps:
        if step.delay is not None:
            if step.delay:
                yield env.timeout(step.delay)
        else:
            n = yield from carry(step.transfer)
            if n is None:
                done.append((rid, Status.FAILED, stamps, lost))
                return
            lost += n
        outcome = yield from serve(
            env, step.device, priority, step.service, stamps, step.real, 0.0, None, False
        )
        if outcome is not SERVED:
            status = Status.DROPPED if outcome is DROPPED else Status.FAILED
            done.append((rid, status, stamps, lost))  # a drop's stamps end at its arrival
            return
    back = route.back_delay
    if back is not None:
        if back:
            yield env.timeout(back)
    else:
        n = yield from carry(route.back)
        if n is None:
            done.append((rid, Status.FAILED, stamps, lost))
            return
        lost += n
    now = env.now
    stamps.append(now)
    late = route.deadline is not None and now - arrival > route.deadline
    done.append((rid, Status.LATE if late else Status.OK, stamps, lost))
