"""RTC/CTC: a worker asks a neighbour before offloading a task to it.

The holder sends a request-to-compute (``handshake_bytes``) over the link, naming
the task's rank, the seconds it needs there, and the most backlog it would accept
there (beyond which keeping it, its next best choice, is better). The neighbour,
on receiving it, answers clear-to-compute when it is up and either has a free slot
nobody waits for, which it takes for the task at once, or its backlog ahead of the
task (exact, counting the tasks it has already cleared) is within the limit, when
it keeps a place for the task in its count: a second request arriving before the
task does sees the slot taken or the backlog grown, and is told no. Either answer
crosses the link back (the same size). A request or an answer lost on the way
counts as a no; what was granted for an answer lost is given back (the neighbour's
wait for the task running out, idealised as at once).

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
    """A slot of ``worker`` (or a place in its queue) held for task ``rid`` since ``at``,
    under the device's ``epoch``."""

    worker: Worker
    rid: int
    at: float
    epoch: int
    slot: bool


@dataclass(frozen=True, slots=True)
class Request:
    """What an RTC says: the task, its rank, its seconds there, the backlog it accepts."""

    rid: int
    rank: int
    seconds: float
    limit: float


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
        self, there: Hop, back: Hop, to: Worker, request: Request
    ) -> Generator[simpy.Event, Any, Grant | None]:
        """Ask ``to`` over ``there``, the answer coming ``back``: the grant, or None."""
        self.asked += 1
        if (yield from there.send(self.size)) is None:
            return None
        grant = self._decide(to, request)
        if (yield from back.send(self.size)) is None:
            if grant is not None:
                self.release(grant)
            return None
        return grant

    def _decide(self, to: Worker, request: Request) -> Grant | None:
        device = to.device
        if not device.up or device.loading:
            return None
        slot = bool(device.free) and not device.queue
        if not slot and to.backlog(request.rank) > request.limit:
            return None
        if slot:
            taken = device.acquire(request.rank)
            assert taken is None, "a free slot with nobody queued is taken at once"
        to.work[request.rid] = (request.rank, request.seconds)  # counted from now
        self.granted += 1
        epoch = self.epochs.get(device.name, 0)
        return Grant(to, request.rid, self.env.now, epoch, slot)

    def valid(self, grant: Grant) -> bool:
        """Whether the granted slot still stands (no crash of its device since)."""
        device = grant.worker.device
        return device.up and self.epochs.get(device.name, 0) == grant.epoch

    def release(self, grant: Grant) -> None:
        """Give back what was granted for a task that will not come."""
        grant.worker.work.pop(grant.rid, None)
        if grant.slot and self.valid(grant):
            grant.worker.device.release()

    def __repr__(self) -> str:
        return f"Handshake(asked={self.asked}, granted={self.granted})"
