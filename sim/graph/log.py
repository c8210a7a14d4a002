"""The event log: the graph engine's record of what happened to every token.

An append-only table, one row per event: the request, its source, the actor
(-1: the source itself), the device (-1: none), the event and its time. A
request's life reads as: ``arrive`` at actor -1 (it was sent), then per actor
``arrive`` (its token is in the actor's input FIFO), ``start`` and ``end`` of
service, ``send`` (the actor hands its output on) or ``exit`` (the request
leaves the graph here), and finally ``receive`` at actor -1 (the result is
back at the source). ``drop`` is a token turned away (a full device queue, or
one arriving for a request already decided: a late copy after a ``first``
join) and ``fail`` a token lost (a transfer that ran out of retransmissions, a
device that failed under it).

Rows are kept only with ``records="all"``, appended as tuples (``Log.add`` is the
list's own ``append``: no Python call per event) and turned into numpy blocks of
:data:`BLOCK` rows as they pile up (:meth:`Log.compact`, asked at each arrival), so
the log costs 29 bytes a row and the garbage collector never walks millions of
tuples; otherwise (:class:`Log` with
``keep=False``) each event is folded into per-actor figures as it comes
(:class:`ActorTally`) and per-request outcomes come from the streams' tallies
(:mod:`sim.streaming`), as for pipelines. :func:`table` turns the rows into a
numpy structured array; per-actor and per-device figures are group-bys of it
(:func:`per_actor`).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum

import numpy as np


class Event(IntEnum):
    """What happened to a token."""

    ARRIVE = 0
    START = 1
    END = 2
    SEND = 3
    RECEIVE = 4
    EXIT = 5
    DROP = 6
    FAIL = 7


DTYPE = np.dtype(
    [
        ("request", np.int64),
        ("source", np.int32),
        ("actor", np.int32),
        ("device", np.int32),
        ("event", np.int8),
        ("time", np.float64),
    ]
)
"""One row of the event log."""
Row = tuple[int, int, int, int, int, float]
"""One row as the engine adds it: (request, source, actor, device, event, time)."""
BLOCK = 4096
"""Rows kept as tuples before :meth:`Log.compact` turns them into a numpy block."""


class Log:
    """One graph's events: the rows, kept (``keep``) or folded into per-actor figures."""

    __slots__ = ("actors", "add", "blocks", "keep", "rows", "start", "tally")

    def __init__(self, keep: bool, actors: int, start: float) -> None:
        self.keep = keep
        self.actors = actors
        self.start = start
        self.rows: list[Row] = []
        self.blocks: list[np.ndarray] = []
        self.tally = ActorTally(actors, start)
        self.add: Callable[[Row], None] = (
            self.rows.append if keep else self._fold
        )  # bound once: called for every event

    def _fold(self, row: Row) -> None:
        request, _, actor, _, event, t = row
        if actor >= 0:
            self.tally.add(request, actor, event, t)

    def take(self, block: np.ndarray) -> None:
        """Add a block of whole requests' events (:mod:`sim.graph.chainlog`): kept, or
        folded into the per-actor figures."""
        if self.keep:
            self.blocks.append(block)
        else:
            self.tally.fold(block)

    def compact(self) -> None:
        """Turn the rows added so far into a numpy block, if there are :data:`BLOCK` of them."""
        if len(self.rows) >= BLOCK:
            self.blocks.append(table(self.rows))
            self.rows.clear()  # the same list: ``add`` stays bound to it

    def events(self) -> np.ndarray | None:
        """The rows as a table (:func:`table`), in the order added; None unless kept."""
        if not self.keep:
            return None
        return np.concatenate([*self.blocks, table(self.rows)])

    def figures(self) -> dict[str, np.ndarray]:
        """Per-actor figures (:data:`FIGURES`): grouped from the rows when they were kept,
        else as folded while they came (the same figures: a test checks it)."""
        events = self.events()
        return (
            self.tally.figures() if events is None else per_actor(events, self.actors, self.start)
        )

    def __len__(self) -> int:
        return len(self.rows) + sum(len(b) for b in self.blocks)

    def __repr__(self) -> str:
        return f"Log(keep={self.keep}, rows={len(self)}, {self.tally!r})"


FIGURES = ("fired", "wait", "service", "dropped", "failed", "exits")
"""Per-actor figures: firings, mean wait and service (seconds), drops, fails and exits."""


class ActorTally:
    """Per-actor figures folded as events come, without keeping them (see :func:`per_actor`).

    Memory is the (request, actor) pairs with tokens still open (arrived and neither
    consumed by a firing nor dropped, or started and not ended): what is in flight,
    plus the inputs and services a crash took (at most what the crashed devices held).
    """

    __slots__ = ("_arrived", "_started", "counts", "start", "sums")

    def __init__(self, actors: int, start: float) -> None:
        self.start = start
        self.counts = np.zeros((len(FIGURES), actors), np.int64)
        self.sums = np.zeros((2, actors))  # wait, service
        self._arrived: dict[tuple[int, int], tuple[float, int]] = {}  # first arrival, tokens
        self._started: dict[tuple[int, int], float] = {}

    def add(self, request: int, actor: int, event: int, t: float) -> None:
        key = (request, actor)
        counted = t >= self.start
        if event == Event.ARRIVE:
            first, tokens = self._arrived.get(key, (t, 0))
            self._arrived[key] = (first, tokens + 1)
        elif event == Event.START:
            arrived = self._arrived.pop(key)[0]  # the firing takes every token there
            self._started[key] = t
            if counted:
                self.counts[0, actor] += 1
                self.sums[0, actor] += t - arrived
        elif event == Event.END:
            started = self._started.pop(key)
            if counted:
                self.counts[2, actor] += 1
                self.sums[1, actor] += t - started
        elif event in _CLOSING:
            self._close(key)
            if counted:
                self.counts[_CLOSING[event], actor] += 1

    def fold(self, events: np.ndarray) -> None:
        """Add the figures of ``events``, every (request, actor) in them whole (a firing's
        arrival, start and end all there, or as far as the request got)."""
        actors = self.counts.shape[1]
        for row, sums, (first, then) in ((0, 0, (Event.ARRIVE, Event.START)),
                                         (2, 1, (Event.START, Event.END))):  # fmt: skip
            actor, spent = _pairs(events, first, then, self.start)
            self.counts[row] += np.bincount(actor, minlength=actors)
            self.sums[sums] += np.bincount(actor, weights=spent, minlength=actors)
        late = events[(events["time"] >= self.start) & (events["actor"] >= 0)]
        for event, row in _CLOSING.items():
            self.counts[row] += np.bincount(late["actor"][late["event"] == event], minlength=actors)

    def _close(self, key: tuple[int, int]) -> None:
        """One of the tokens waiting at an actor is gone (dropped or lost)."""
        if key in self._arrived:
            first, tokens = self._arrived[key]
            if tokens > 1:
                self._arrived[key] = (first, tokens - 1)
            else:
                del self._arrived[key]

    def figures(self) -> dict[str, np.ndarray]:
        """The figures of :data:`FIGURES`, one entry per actor (NaN means: none measured)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            wait = np.where(self.counts[0] > 0, self.sums[0] / self.counts[0], np.nan)
            service = np.where(self.counts[2] > 0, self.sums[1] / self.counts[2], np.nan)
        c = self.counts
        return {"fired": c[0], "wait": wait, "service": service, "dropped": c[3], "failed": c[4],
                "exits": c[5]}  # fmt: skip

    def __repr__(self) -> str:
        return f"ActorTally(fired={int(self.counts[0].sum())}, open={len(self._arrived)})"


_CLOSING: dict[int, int] = {Event.DROP: 3, Event.FAIL: 4, Event.EXIT: 5}


def table(rows: list[Row]) -> np.ndarray:
    """The rows as a structured array of :data:`DTYPE`, in the order they were appended."""
    return np.array(rows, dtype=DTYPE)


def per_actor(events: np.ndarray, actors: int, start: float) -> dict[str, np.ndarray]:
    """Per actor, over tokens whose service started at or after ``start``: firings, mean
    wait (arrive to start) and mean service (start to end); and drops, fails and exits
    at or after ``start``. Each array has one entry per actor index."""
    fired = _pairs(events, Event.ARRIVE, Event.START, start)
    served = _pairs(events, Event.START, Event.END, start)
    late = events[events["time"] >= start]
    out = {
        "fired": np.bincount(fired[0], minlength=actors),
        "wait": _mean(fired, actors),
        "service": _mean(served, actors),
    }  # the same figures as ActorTally's, by group-by of the whole log
    for name, event in (("dropped", Event.DROP), ("failed", Event.FAIL), ("exits", Event.EXIT)):
        hits = late["actor"][(late["event"] == event) & (late["actor"] >= 0)]
        out[name] = np.bincount(hits, minlength=actors)
    return out


def _pairs(
    events: np.ndarray, first: Event, then: Event, start: float
) -> tuple[np.ndarray, np.ndarray]:
    """(actor, time from ``first`` to ``then``) of every (request, actor) with both, its
    ``then`` at or after ``start``; one firing per request and actor."""
    a = events[(events["event"] == first) & (events["actor"] >= 0)]
    b = events[(events["event"] == then) & (events["time"] >= start)]
    if not len(b):
        return np.zeros(0, np.int64), np.zeros(0)
    width = int(max(a["actor"].max(initial=0), b["actor"].max(initial=0))) + 1
    key_a = a["request"] * width + a["actor"]
    key_b = b["request"] * width + b["actor"]
    order = np.argsort(key_a, kind="stable")
    at = np.searchsorted(key_a[order], key_b)
    found = at < len(a)
    found[found] = key_a[order][at[found]] == key_b[found]
    begun = a["time"][order][at[found]]
    return b["actor"][found].astype(np.int64), b["time"][found] - begun


def _mean(pairs: tuple[np.ndarray, np.ndarray], actors: int) -> np.ndarray:
    count = np.bincount(pairs[0], minlength=actors)
    total = np.bincount(pairs[0], weights=pairs[1], minlength=actors)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def served_by(events: np.ndarray, request: int) -> list[int]:
    """The devices that served ``request`` (ended a service for it), in order of first service."""
    mine = events[(events["request"] == request) & (events["event"] == Event.END)]
    return list(dict.fromkeys(mine["device"].tolist()))


def exit_of(events: np.ndarray, request: int) -> int:
    """The actor where ``request`` left the graph early; -1 if it did not."""
    mine = events[(events["request"] == request) & (events["event"] == Event.EXIT)]
    return int(mine["actor"][0]) if len(mine) else -1
