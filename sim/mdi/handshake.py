"""RTC/CTC: a worker asks a neighbour before offloading a task to it.

The holder sends a request-to-compute (``handshake_bytes``) over the link; the
neighbour, on receiving it, grants a clear-to-compute only if it is up and has a
free slot nobody waits for, and takes that slot at once for the task announced:
a second request arriving before the task does finds the slot taken and is told
no. Either answer crosses the link back (the same size). A request or an answer
lost on the way counts as a no; a slot granted whose answer was lost is freed
(the neighbour's wait for the task running out, idealised as at once).

A slot is held from the grant until the task's service ends, and a device crash
meanwhile voids the grant (its slots reset): the epoch of the device at the grant
tells the two apart when the task arrives or its carrying fails.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import simpy

from sim.links import Hop
from sim.mdi.state import Worker


@dataclass(frozen=True, slots=True)
class Grant:
    """A slot of ``worker`` held for a task since ``at``, under the device's ``epoch``."""

    worker: Worker
    at: float
    epoch: int


class Handshake:
    """The RTC/CTC exchanges of one world, and the devices' crash epochs."""

    def __init__(self, env: simpy.Environment, size: float) -> None:
        self.env = env
        self.size = size
        self.epochs: dict[str, int] = {}
        self.asked = 0
        self.granted = 0

    def crashed(self, device: str) -> None:
        """``device`` went down: the slots it granted are void."""
        self.epochs[device] = self.epochs.get(device, 0) + 1

    def ask(
        self, there: Hop, back: Hop, to: Worker, rank: int
    ) -> Generator[simpy.Event, Any, Grant | None]:
        """Ask ``to`` over ``there`` for a slot, the answer coming ``back``: the grant, or None."""
        self.asked += 1
        if (yield from there.send(self.size)) is None:
            return None
        grant = self._decide(to, rank)
        if (yield from back.send(self.size)) is None:
            if grant is not None:
                self.release(grant)
            return None
        return grant

    def _decide(self, to: Worker, rank: int) -> Grant | None:
        device = to.device
        if not device.up or device.loading or not device.free or device.queue:
            return None
        taken = device.acquire(rank)
        assert taken is None, "a free slot with nobody queued is taken at once"
        self.granted += 1
        return Grant(to, self.env.now, self.epochs.get(device.name, 0))

    def valid(self, grant: Grant) -> bool:
        """Whether the granted slot still stands (no crash of its device since)."""
        device = grant.worker.device
        return device.up and self.epochs.get(device.name, 0) == grant.epoch

    def release(self, grant: Grant) -> None:
        """Free a granted slot whose task will not come."""
        if self.valid(grant):
            grant.worker.device.release()

    def __repr__(self) -> str:
        return f"Handshake(asked={self.asked}, granted={self.granted})"
