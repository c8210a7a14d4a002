"""The state of tokens in a graph at run time: FIFOs, sources, joins, requests.

A :class:`Fifo` is an actor's input FIFO from one producer: a producer reserves a
place before it sends (waiting while none is free, so a full FIFO blocks it) and the
place is freed when the actor's firing takes the token, or when the token is
dropped. A :class:`Join` is one request's state at one actor with several inputs;
:func:`fires` says whether it fires.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import simpy

from sim.devices import Device
from sim.graph.expand import Actor, Graph
from sim.graph.log import Row
from sim.graph.spec import KOfN
from sim.journey import Sink, Transfer
from sim.spec import SourceSpec

if TYPE_CHECKING:
    from sim.graph.accuracy import Scorer
    from sim.graph.chain import Chain


class Fifo:
    """An actor's input FIFO from one producer: ``capacity`` places (None: unbounded)."""

    __slots__ = ("capacity", "used", "waiting")

    def __init__(self, capacity: int | None) -> None:
        self.capacity = capacity
        self.used = 0
        self.waiting: deque[simpy.Event] = deque()

    def reserve(self, env: simpy.Environment) -> simpy.Event | None:
        """A place now (None), or an event that fires when one is handed over."""
        if self.capacity is None or self.used < self.capacity:
            self.used += 1
            return None
        granted = env.event()
        self.waiting.append(granted)
        return granted

    def free(self) -> None:
        """Give a place back, to the first waiting producer if there is one."""
        if self.waiting:
            self.waiting.popleft().succeed()
        else:
            self.used -= 1

    def withdraw(self, granted: simpy.Event) -> None:
        """Give up a wait (or the place, if it was handed over meanwhile)."""
        if granted.triggered:
            self.free()
        else:
            self.waiting.remove(granted)

    def __repr__(self) -> str:
        return f"Fifo(used={self.used}/{self.capacity}, waiting={len(self.waiting)})"


@dataclass(slots=True)
class Feed:
    """One source of a graph at run time: its actors' devices and FIFOs, what it recorded."""

    spec: SourceSpec
    index: int
    graph: Graph
    devices: dict[str, Device]
    fifos: dict[tuple[str, str], Fifo]  # (actor, producer or "") -> its FIFO
    sink: Sink
    note: Callable[[Row], None]  # its graph's Log.add
    where: dict[str, int] = field(default_factory=dict)  # actor -> its device's log index
    # actor -> its successors: (actor, FIFO, transfer there, its fixed delay or None)
    nexts: dict[str, list[tuple[Actor, Fifo, Transfer, float | None]]] = field(default_factory=dict)
    entries: list[tuple[Actor, Fifo, Transfer, float | None]] = field(default_factory=list)
    back: dict[str, tuple[Transfer, float | None]] = field(default_factory=dict)  # results
    service: dict[str, Callable[[], float]] = field(default_factory=dict)  # actor -> draws
    live: dict[int, float] = field(default_factory=dict)  # request id -> arrival
    score: Scorer | None = None  # with accuracy: its requests' samples and outcomes
    chain: Chain | None = None  # a chain graph's fast path (sim.graph.chain), when it takes it


@dataclass(slots=True)
class Join:
    """A join's state for one request: the FIFOs holding its inputs, those lost, fired."""

    held: list[Fifo] = field(default_factory=list)
    missing: int = 0
    fired: bool = False


@dataclass(slots=True)
class Request:
    """One request on its way through a graph."""

    rid: int
    feed: Feed
    arrival: float
    sinks: int
    joins: dict[str, Join] = field(default_factory=dict)
    lost: int = 0
    done: bool = False
    sample: int = -1  # with accuracy: the test sample it carries
    gone: int = 0  # bit per actor index: outputs lost, or missing when a join fired
    inside: bool = False  # with accuracy: whether it arrived while a component was down
    exited: int = -1  # with accuracy: the actor whose model exit it took


def fires(actor: Actor, join: Join) -> bool | None:
    """Whether a join fires now (True), can never fire (False), or waits (None)."""
    held = len(join.held)
    if held >= actor.need:
        return True
    if isinstance(actor.join, KOfN) and actor.join.detect == "timeout":
        # losses unseen: wait for the timer (started by the first input), unless none can come
        return False if join.missing == len(actor.inputs) else None
    coming = len(actor.inputs) - held - join.missing
    if held + coming >= actor.need:
        return None
    timed = isinstance(actor.join, KOfN) and actor.join.timeout is not None
    if timed and coming:
        return None  # its timeout fires it with what came
    return timed and held > 0
