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

Rows are kept only with ``records="all"`` (:class:`Log` with ``keep=False``
appends nothing): per-request outcomes then come from the streams' tallies
(:mod:`sim.streaming`), as for pipelines. :func:`table` turns the rows into a
numpy structured array; per-actor and per-device figures are group-bys of it
(:func:`per_actor`).
"""

from __future__ import annotations

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


class Log:
    """The rows appended so far (none unless ``keep``)."""

    __slots__ = ("keep", "rows")

    def __init__(self, keep: bool) -> None:
        self.keep = keep
        self.rows: list[tuple[int, int, int, int, int, float]] = []

    def add(
        self, request: int, source: int, actor: int, device: int, event: Event, t: float
    ) -> None:
        if self.keep:
            self.rows.append((request, source, actor, device, int(event), t))

    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        return f"Log(keep={self.keep}, rows={len(self.rows)})"


def table(rows: list[tuple[int, int, int, int, int, float]]) -> np.ndarray:
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
    }
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
