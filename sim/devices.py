"""Devices: compute resources that serve inference stages.

A device has ``slots`` servers (inferences it runs at once) and one queue,
served first-come first-served or by priority (higher source priority first,
first-come first-served within a class, never preempting a running
inference). A device with a ``queue_limit`` drops a request that arrives to
find that many already waiting.
"""

from __future__ import annotations

import simpy

from sim.meter import BusyMeter
from sim.spec import DeviceSpec


class Device:
    """A simulated compute device."""

    __slots__ = ("meter", "name", "queue_limit", "resource", "served", "spec")

    def __init__(self, env: simpy.Environment, name: str, spec: DeviceSpec) -> None:
        self.name = name
        self.spec = spec
        self.resource: simpy.Resource = (
            simpy.PriorityResource(env, spec.slots)
            if spec.discipline == "priority"
            else simpy.Resource(env, spec.slots)
        )
        self.queue_limit = spec.queue_limit
        self.meter = BusyMeter(env)
        self.served = 0

    def request(self, priority: int) -> simpy.resources.resource.Request:
        """Ask for a slot; a higher ``priority`` is served sooner on a priority device.

        Use it as a context manager: the slot is released on leaving the block.
        """
        if isinstance(self.resource, simpy.PriorityResource):
            return self.resource.request(priority=-priority)
        return self.resource.request()

    def full(self) -> bool:
        """Whether a request arriving now would be dropped."""
        return self.queue_limit is not None and len(self.resource.queue) >= self.queue_limit

    def __repr__(self) -> str:
        return (
            f"Device({self.name!r}, busy={self.meter.busy}/{self.spec.slots}, "
            f"queued={len(self.resource.queue)}, served={self.served})"
        )
