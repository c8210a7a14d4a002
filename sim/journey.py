"""The steps every request takes: transfers over hops, and the one serve step.

Before each actor the request's tensor crosses the hops from where it is to the
actor's device (:class:`Transfer`, carried by :func:`carry`); it then waits for a
slot on the device and is served by :func:`serve` (queue limit, a slot, the busy
meter, the service with the device's slowdown, release), whether or not anything can
fail; a request that finds a free slot takes it without an event. Every engine path
uses them: the chain walk (:func:`sim.graph.chain.walk`), the failure-aware journey
(:func:`sim.graph.strategic.journey`, through :mod:`sim.resilient`) and the general
graph engine's firings (:mod:`sim.graph.engine`, which shares the transfers and the
queue limit and slot protocol).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, Protocol

import simpy

from sim.devices import Device
from sim.links import Hop


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


class RealFailure(Exception):
    """A real device failed to serve a request (crashed, hung, unreachable)."""


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
