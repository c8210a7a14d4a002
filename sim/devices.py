"""Devices: compute resources that serve inference stages.

A device has ``slots`` servers (inferences it runs at once) and one queue,
served first-come first-served or by priority (higher source priority first,
first-come first-served within a class, never preempting a running
inference). A device with a ``queue_limit`` drops a request that arrives to
find that many already waiting.

The slots are a lean resource rather than ``simpy.Resource``: a request that
finds a free slot takes it without an event, and a finishing request hands
its slot straight to the first waiter. The queueing behaviour is the same;
an uncontended stage costs one event (its service) instead of three.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque

import simpy

from sim.meter import BusyMeter
from sim.spec import DeviceSpec


class Device:
    """A simulated compute device."""

    __slots__ = ("_order", "env", "free", "meter", "name", "queue", "queue_limit", "served", "spec")

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

    def release(self) -> None:
        """Give the slot back, to the first waiter if there is one."""
        if not self.queue:
            self.free += 1
        elif isinstance(self.queue, deque):
            self.queue.popleft().succeed()
        else:
            heapq.heappop(self.queue)[2].succeed()

    def __repr__(self) -> str:
        return (
            f"Device({self.name!r}, busy={self.meter.busy}/{self.spec.slots}, "
            f"queued={len(self.queue)}, served={self.served})"
        )
