"""Links: transmission resources between devices.

A transfer of ``size`` bytes over one hop first holds the hop's medium for
its serialisation time, size × 8 / bandwidth, then propagates for the link's
latency plus a jitter draw (a negative total counts as zero). A point-to-point
link is full duplex: each direction is its own medium. Links that name the
same ``shared`` medium (Wi-Fi clients of one access point) all take turns on
one half-duplex medium. A zero-byte message only propagates.

With ``loss`` p, each attempt is lost with probability p after it has used
the medium; the sender notices after ``retransmit_timeout`` and sends again,
up to ``max_retransmits`` times, after which the transfer fails. A
Gilbert–Elliott ``loss`` makes the losses bursty.

A link can fail (:mod:`sim.failures`): transfers on it are dropped (their
processes are interrupted) and a transfer that finds it down fails at once;
routes around a down link are taken where they exist.

A medium is a lean first-come first-served resource rather than
``simpy.Resource``, like a device's slots: a transfer that finds the medium
idle with nobody queued takes it without an event, and a finishing transfer
hands it straight to the first waiter. An uncontended hop costs its two
timeouts (serialisation, then propagation) instead of four events.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator
from typing import Any

import numpy as np
import simpy

from sim.devices import Lost
from sim.meter import BusyMeter
from sim.spec import GilbertElliott, LinkSpec


class Link:
    """A simulated link: its media (one per direction, or one shared) and its counters."""

    __slots__ = ("bytes", "down_causes", "fallible", "media", "name", "occupants", "spec")

    def __init__(self, name: str, spec: LinkSpec, media: dict[str, Medium]) -> None:
        self.name = name
        self.spec = spec
        self.media = media
        self.bytes = 0.0
        self.down_causes = 0
        self.fallible = spec.failure is not None  # set too when an injection targets it
        self.occupants: dict[simpy.Process, None] = {}  # transfers on the wire, in order

    @property
    def up(self) -> bool:
        return self.down_causes == 0

    def crash(self) -> None:
        """Go down now, dropping every transfer on the wire."""
        lost = Lost(self.name)
        for process in list(self.occupants):
            if process.is_alive:
                process.interrupt(lost)
        self.occupants.clear()

    def __repr__(self) -> str:
        return f"Link({self.name!r}, bytes={self.bytes:.0f}, media={list(self.media.values())})"


class Medium:
    """Something one transfer at a time serialises onto: a link direction or a shared channel.

    ``take()`` gives the medium now (None) or an event that fires when it is handed over;
    whoever has it calls ``release()``. Waiters are served first-come first-served.
    """

    __slots__ = ("env", "meter", "name", "taken", "waiting")

    def __init__(self, env: simpy.Environment, name: str) -> None:
        self.env = env
        self.name = name
        self.taken = False  # someone holds it; nobody waits unless someone holds it
        self.waiting: deque[simpy.Event] = deque()
        self.meter = BusyMeter(env)

    def take(self) -> simpy.Event | None:
        """Hold the medium now (None), or an event that fires when it is handed over."""
        if not self.taken:
            self.taken = True
            return None
        granted = self.env.event()
        self.waiting.append(granted)
        return granted

    def release(self) -> None:
        """Give the medium back, to the first waiter if there is one."""
        if self.waiting:
            self.waiting.popleft().succeed()
        else:
            self.taken = False

    def withdraw(self, granted: simpy.Event) -> None:
        """Give up a place in the queue (or the medium, if it was handed over meanwhile)."""
        if granted.triggered:
            self.release()
        else:
            self.waiting.remove(granted)

    def __repr__(self) -> str:
        return f"Medium({self.name!r}, busy={self.meter.busy}, queued={len(self.waiting)})"


class Hop:
    """One link crossed in one direction, with what a transfer over it needs."""

    __slots__ = ("env", "jitter", "latency", "link", "lose", "medium", "rate", "spec")

    def __init__(
        self,
        env: simpy.Environment,
        link: Link,
        direction: str,
        jitter: Callable[[], float] | None,
        loss_rng: np.random.Generator,
    ) -> None:
        self.env = env
        self.link = link
        self.spec = link.spec
        self.medium = link.media[direction]
        self.rate = link.spec.bandwidth / 8.0
        self.latency = link.spec.latency
        self.jitter = jitter
        loss = link.spec.loss
        self.lose: Callable[[], bool] | None = None
        if isinstance(loss, GilbertElliott):
            self.lose = _gilbert_elliott(loss_rng, loss)
        elif loss > 0:
            self.lose = _bernoulli(loss_rng, loss)

    def send(self, size: float) -> Generator[simpy.Event, Any, int | None]:
        """Carry ``size`` bytes across: the number of attempts lost on the way (each
        cost a retransmit timeout), or None if every attempt was lost or the link failed."""
        link = self.link
        if not link.up:
            return None
        if not link.fallible:
            return (yield from self._attempts(size))
        process = self.env.active_process
        assert process is not None
        link.occupants[process] = None
        try:
            return (yield from self._attempts(size))
        except simpy.Interrupt:
            return None
        finally:
            link.occupants.pop(process, None)

    def _attempts(self, size: float) -> Generator[simpy.Event, Any, int | None]:
        env = self.env
        for attempt in range(self.spec.max_retransmits + 1):
            if size > 0:
                yield from self._serialise(size)
            if self.lose is not None and self.lose():
                yield env.timeout(self.spec.retransmit_timeout)
                continue
            delay = self.latency + self.jitter() if self.jitter else self.latency
            if delay > 0:
                yield env.timeout(delay)
            return attempt
        return None

    def _serialise(self, size: float) -> Generator[simpy.Event, Any, None]:
        """Hold the medium for ``size`` bytes' serialisation time, waiting for it if taken."""
        medium = self.medium
        granted = medium.take()
        if granted is not None:
            try:
                yield granted
            except BaseException:  # dropped while queued (the link failed)
                medium.withdraw(granted)
                raise
        medium.meter.start()
        try:
            yield self.env.timeout(size / self.rate)
        finally:
            medium.meter.stop()
            medium.release()
        self.link.bytes += size

    def __repr__(self) -> str:
        return f"Hop({self.link.name!r} via {self.medium.name!r})"


def _bernoulli(rng: np.random.Generator, p: float) -> Callable[[], bool]:
    """Draws of 'lost?' with probability ``p``, a block at a time."""
    pending: list[bool] = []

    def lost() -> bool:
        if not pending:
            pending.extend((rng.random(512) < p)[::-1].tolist())
        return pending.pop()

    return lost


def _gilbert_elliott(rng: np.random.Generator, ge: GilbertElliott) -> Callable[[], bool]:
    """Bursty losses: the chain starts in its stationary distribution and steps per attempt."""
    bad = [bool(rng.random() < ge.p_good_bad / (ge.p_good_bad + ge.p_bad_good))]
    pending: list[float] = []

    def lost() -> bool:
        if not pending:
            pending.extend(rng.random(1024)[::-1].tolist())
        if bad[0]:
            bad[0] = pending.pop() >= ge.p_bad_good
        else:
            bad[0] = pending.pop() < ge.p_good_bad
        if not pending:
            pending.extend(rng.random(1024)[::-1].tolist())
        return pending.pop() < (ge.loss_bad if bad[0] else ge.loss_good)

    return lost
