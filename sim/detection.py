"""Failure detection by heartbeats, simulated rather than assumed.

A watched device sends a heartbeat every ``heartbeat`` seconds to each device
that sends it work (its observer); the beat arrives after the route's latency
if the device and every link on the route are up when it is sent. A beat is
counted missed when the next one is due without it, and the observer declares
the device down once ``misses`` beats in a row are missed. So a failure
between two beats is declared between ``misses`` and ``misses + 1`` periods
(plus the route latency) after it happened; the first beat after a repair
declares the device up again. Detection delays are recorded per declaration.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Generator
from typing import Any

import simpy

from sim.devices import Device
from sim.records import Declaration

Beat = Callable[[], tuple[bool | simpy.Event, float]]
"""Whether a beat sent now reaches the observer, and after what latency; for a real device
(hardware in the loop) an event that succeeds with whether it answered."""


class Detector:
    """One observer's view of one device."""

    def __init__(
        self,
        env: simpy.Environment,
        device: Device,
        observer: str,
        beat: Beat,
        heartbeat: float,
        misses: int,
        phase: float,
        since: Callable[[str, float], float],
        declare: Callable[[Declaration], None],
    ) -> None:
        self.env = env
        self.device = device
        self.observer = observer
        self.beat = beat
        self.heartbeat = heartbeat
        self.misses = misses
        self.since = since  # (verdict, last beat received) -> when the failure or repair happened
        self.last_beat = 0.0  # when the last beat that arrived was sent
        self.declare = declare
        self.believed_up = True  # the observer's view, once a verdict has arrived
        self._verdict_up = True  # the latest verdict, arrived or on its way
        self.missed = 0
        env.process(self._run(phase))

    def _run(self, phase: float) -> Generator[simpy.Event, Any, None]:
        env = self.env
        yield env.timeout(phase)
        received_last: bool | simpy.Event = True
        while True:
            sent = env.now
            received, latency = self.beat()
            if isinstance(received_last, simpy.Event):  # a real beat: answered by now?
                received_last = received_last.triggered and bool(received_last.value)
            if not received_last:
                self.missed += 1
            if isinstance(received, simpy.Event):  # a real device answers later, or not
                received.callbacks.append(functools.partial(self._answered, sent))
            elif received:
                self._arrived(sent, latency)
            if received is not True and self.missed >= self.misses and self._verdict_up:
                self._verdict(False, latency)
            received_last = received
            yield env.timeout(self.heartbeat)

    def _arrived(self, sent: float, latency: float) -> None:
        self.last_beat = sent
        self.missed = 0
        if not self._verdict_up:
            self._verdict(True, latency)

    def _answered(self, sent: float, answer: simpy.Event) -> None:
        """A real device's answer, now; too late once the next beat was due."""
        if answer.value and self.env.now - sent <= self.heartbeat:
            self._arrived(sent, 0.0)

    def _verdict(self, up: bool, latency: float) -> None:
        self._verdict_up = up
        when = self.env.now + latency
        state = "up" if up else "down"
        happened = self.since(state, self.last_beat)
        declaration = Declaration(when, self.device.name, self.observer, state, when - happened)

        def arrive(_: object = None) -> None:
            self.believed_up = up
            self.declare(declaration)

        if latency > 0:
            self.env.timeout(latency).callbacks.append(arrive)
        else:
            arrive()

    def __repr__(self) -> str:
        view = "up" if self.believed_up else "down"
        return f"Detector({self.observer} sees {self.device.name} {view}, missed={self.missed})"
