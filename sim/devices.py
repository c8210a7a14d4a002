"""Devices: compute resources that serve inference stages.

A device has ``slots`` servers (inferences it runs at once) and one queue,
served first-come first-served or by priority (higher source priority first,
first-come first-served within a class, never preempting a running
inference). A device with a ``queue_limit`` drops a request that arrives to
find that many already waiting.

A device can fail (:mod:`sim.failures`). A failed device loses the requests
in its queue and in service (their processes are interrupted with a
:class:`Lost` cause) and restarts empty: after repair it reloads its
partitions for its ``load_time`` before it serves again; requests arriving
meanwhile wait.

The slots are a lean resource rather than ``simpy.Resource``: a request that
finds a free slot takes it without an event, and a finishing request hands
its slot straight to the first waiter. The queueing behaviour is the same;
an uncontended stage costs one event (its service) instead of three.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import simpy

from sim.meter import BusyMeter
from sim.spec import DeviceSpec


@dataclass(frozen=True, slots=True)
class Lost:
    """Interrupt cause: the component a request was on failed under it."""

    component: str


class Device:
    """A simulated compute device."""

    __slots__ = (
        "_order", "cold", "down_causes", "env", "free", "load_time", "loading", "meter", "name",
        "occupants", "probe", "queue", "queue_limit", "ready_at", "served", "slowdown", "spec",
    )  # fmt: skip

    def __init__(self, env: simpy.Environment, name: str, spec: DeviceSpec) -> None:
        self.env = env
        self.name = name
        self.spec = spec
        self.free = spec.slots
        self.queue: deque[simpy.Event] | list[tuple[int, int, simpy.Event]] = (
            [] if spec.discipline == "priority" else deque()
        )
        self._order = itertools.count()
        self.queue_limit = spec.queue_limit
        self.meter = BusyMeter(env)
        self.served = 0
        self.down_causes = 0  # active failures; up when zero
        self.loading = False
        self.load_time = 0.0  # to reload every partition it hosts after a restart
        self.cold = False  # lost its partitions in a failure: reload on restart
        self.slowdown = 0.0  # seconds added to every service (a 'slow' fault)
        # requests queued or in service, in arrival order: a crash interrupts them in that
        # order (a set would order them by memory address, so runs would differ by process)
        self.occupants: dict[simpy.Process, None] = {}
        self.ready_at: dict[str, float] = {}  # cold standby partitions loading since a switch
        self.probe: Callable[[], simpy.Event] | None = None  # a real device's heartbeat (HIL)

    @property
    def up(self) -> bool:
        return self.down_causes == 0

    def crash(self) -> None:
        """Fail now: lose every request queued or in service; hold no slots."""
        self.queue.clear()
        self.ready_at.clear()
        self.free = 0
        self.meter.reset()
        lost = Lost(self.name)
        for process in list(self.occupants):
            if process.is_alive:
                process.interrupt(lost)
        self.occupants.clear()

    def restart(self) -> simpy.Process:
        """Come back empty, reload partitions for ``load_time``, then serve (a process)."""
        return self.env.process(self._reload())

    def _reload(self) -> Generator[simpy.Event, Any, None]:
        self.loading = True
        if self.load_time > 0 and self.cold:
            yield self.env.timeout(self.load_time)
        self.loading = False
        if not self.up:
            return  # failed again while loading
        self.cold = False
        self.free = self.spec.slots
        while self.free and self.queue:
            self.free -= 1
            self._grant()

    def _grant(self) -> None:
        if isinstance(self.queue, deque):
            self.queue.popleft().succeed()
        else:
            heapq.heappop(self.queue)[2].succeed()

    def acquire(self, priority: int) -> simpy.Event | None:
        """Take a slot now (None), or an event that fires when the slot is handed over.

        A higher ``priority`` is served sooner on a priority device.
        """
        if self.free and not self.queue:
            self.free -= 1
            return None
        granted = self.env.event()
        if isinstance(self.queue, deque):
            self.queue.append(granted)
        else:
            heapq.heappush(self.queue, (-priority, next(self._order), granted))
        return granted

    def withdraw(self, granted: simpy.Event) -> None:
        """Give up a place in the queue (or the slot, if it was handed over meanwhile)."""
        if granted.triggered:
            self.release()
        elif isinstance(self.queue, deque):
            self.queue.remove(granted)
        else:
            self.queue[:] = [entry for entry in self.queue if entry[2] is not granted]
            heapq.heapify(self.queue)

    def release(self) -> None:
        """Give the slot back, to the first waiter if there is one."""
        if not self.queue:
            self.free += 1
        else:
            self._grant()

    def __repr__(self) -> str:
        state = "up" if self.up and not self.loading else "loading" if self.up else "down"
        return (
            f"Device({self.name!r}, {state}, busy={self.meter.busy}/{self.spec.slots}, "
            f"queued={len(self.queue)}, served={self.served})"
        )
