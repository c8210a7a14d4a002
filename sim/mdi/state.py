"""Workers and the state they exchange: each one's backlog, as its neighbours last heard it.

A worker knows its own work exactly: every task queued or in service on it, with
the task's rank and the partition's expected seconds. Every ``state_period`` it
sends a state message of ``state_bytes`` to each neighbour over their link (it
takes the medium, can be lost and delayed like any transfer); the neighbour's view
is what the last message that arrived said when it was sent, so decisions use
stale figures. A worker's compute speed F_n (the partitions' times there) is known
to its neighbours from the start: it does not change.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import simpy

from sim.devices import Device
from sim.links import Hop

Work = tuple[tuple[int, float], ...]
"""(rank, expected seconds) of each task a worker holds; rank ``SERVING`` once in service."""

SERVING = 1 << 30
"""The rank of a task in service: every task waits for it (service is never preempted)."""


@dataclass(slots=True)
class Worker:
    """A device that takes tasks, its neighbours (by the hop to each) and what it knows."""

    name: str
    device: Device
    neighbours: dict[str, Hop] = field(default_factory=dict)
    work: dict[int, tuple[int, float]] = field(default_factory=dict)  # request id -> entry
    view: dict[str, Work] = field(default_factory=dict)  # neighbour -> its work, last heard
    heard: dict[str, float] = field(default_factory=dict)  # neighbour -> when it was sent

    def backlog(self, rank: int, of: str | None = None) -> float:
        """Seconds of work per slot ahead of a task of ``rank``: here exactly, or at the
        neighbour ``of`` as last heard."""
        entries = self.work.values() if of is None else self.view.get(of, ())
        return sum(s for r, s in entries if r >= rank) / self.device.spec.slots

    def __repr__(self) -> str:
        return f"Worker({self.name!r}, holds={len(self.work)}, neighbours={list(self.neighbours)})"


class Exchange:
    """The periodic state messages between neighbouring workers."""

    def __init__(
        self, env: simpy.Environment, workers: dict[str, Worker], period: float, size: float
    ) -> None:
        self.env = env
        self.workers = workers
        self.period = period
        self.size = size
        self.sent = 0
        self.delivered = 0
        for w in workers.values():
            if w.neighbours:
                env.process(self._beacon(w))

    def _beacon(self, w: Worker) -> Generator[simpy.Event, Any, None]:
        while True:
            yield self.env.timeout(self.period)
            if not w.device.up:
                continue
            state = tuple(w.work.values())
            for name, hop in w.neighbours.items():
                self.sent += 1
                self.env.process(self._tell(w.name, self.workers[name], hop, state))

    def _tell(
        self, frm: str, to: Worker, hop: Hop, state: Work
    ) -> Generator[simpy.Event, Any, None]:
        sent = self.env.now
        lost = yield from hop.send(self.size)
        if lost is None or not to.device.up:
            return
        if to.heard.get(frm, -1.0) <= sent:  # a later state may have overtaken this one
            to.view[frm] = state
            to.heard[frm] = sent
            self.delivered += 1

    def __repr__(self) -> str:
        return f"Exchange(period={self.period:g}s, sent={self.sent}, delivered={self.delivered})"
