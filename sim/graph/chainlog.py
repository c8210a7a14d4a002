"""A chain graph's event log, kept as its requests' stamps and turned into events in blocks.

A chain graph's source on the fast path (:mod:`sim.graph.chain`) walks each request
with a row of stamps, as a pipeline does. Its sink, :class:`Logged`, gives the graph's
source its [arrival, completion] row at once, and keeps (id, status, stamps, end) until
:data:`sim.graph.log.BLOCK` requests have ended; :func:`expand` then turns them into
the events the general engine would have logged, all at once with numpy: ``arrive`` at
the source, per actor reached ``arrive``, ``start``, ``end`` and (before the next
actor) ``send``, then ``receive``, or ``drop`` where a full queue turned the request
away, or ``fail`` where a transfer ran out of retransmissions (at the actor it was
going to, or, on the way back, at the last actor without a device). The block goes to
the graph's :class:`sim.graph.log.Log` (:meth:`~sim.graph.log.Log.take`): kept, or
folded into the per-actor figures. At the horizon the requests still on their way
are expanded as far as they got (:meth:`Logged.flush`).

A block's events are in time order; blocks follow one another as requests end.

A ``pipelines:`` source's record is its compact log itself; :func:`log_of` expands it
the same way (actor ``k`` and device ``k``: stage ``k`` and its device in
``SourceRecords.stages``), with ``fail`` rows at an unknown time (NaN: the row does not
stamp when a request was lost), so that readers group the log
(:mod:`sim.graph.groupby`) rather than index the stamps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import simpy

from sim.graph.log import BLOCK, DTYPE, Event, Log
from sim.records import SourceRecords, Status

if TYPE_CHECKING:
    from sim.graph.expand import Actor
    from sim.graph.tokens import Feed

OPEN = -1
"""The status of a request still on its way at the horizon."""
Ended = tuple[int, int, list[float], float]
"""A request as the sink keeps it: (id, status or OPEN, stamps, when it ended)."""


class Logged:
    """A chain graph source's sink: rows for the source, blocks of events for its log."""

    __slots__ = ("actors", "env", "feed", "log", "open", "rows", "where")

    def __init__(
        self, env: simpy.Environment, feed: Feed, actors: list[Actor], log: Log,
        open: dict[int, list[float]],
    ) -> None:  # fmt: skip
        self.env = env
        self.feed = feed
        self.log = log
        self.actors = np.array([a.index for a in actors], np.int32)  # the log's actor column
        self.where = np.array([feed.where[a.name] for a in actors], np.int32)  # its device's
        self.open = open  # the stamps of the requests on their way
        self.rows: list[Ended] = []

    def append(self, row: tuple[int, int, list[float], int], /) -> None:
        rid, status, stamps, lost = row
        feed = self.feed
        del self.open[rid]
        del feed.live[rid]
        ended = [stamps[0], stamps[-1]] if status <= Status.LATE else [stamps[0]]
        feed.sink.append((rid, status, ended, lost))
        self.rows.append((rid, status, stamps, self.env.now))
        if len(self.rows) >= BLOCK:
            self._block()

    def flush(self) -> None:
        """Expand what is left: the requests ended since the last block, and those still
        on their way as far as they got."""
        self.rows += [(rid, OPEN, stamps, np.nan) for rid, stamps in self.open.items()]
        self.open.clear()
        self._block()

    def _block(self) -> None:
        if self.rows:
            self.log.take(expand(self.rows, self.feed.index, self.actors, self.where))
            self.rows = []

    def __len__(self) -> int:
        return len(self.feed.sink)

    def __repr__(self) -> str:
        return f"Logged({self.feed.spec.name!r}, buffered={len(self.rows)})"


def log_of(src: SourceRecords) -> np.ndarray:
    """The events of a ``pipelines:`` source's finished requests (see the module docstring)."""
    width = (~np.isnan(src.stamps)).sum(axis=1)  # stamps are a prefix of the row
    rows = [
        (rid, status, line[:n].tolist(), np.nan)
        for rid, status, line, n in zip(
            src.ids.tolist(), src.status.tolist(), src.stamps, width.tolist(), strict=True
        )
    ]
    stages = np.arange(len(src.stages), dtype=np.int32)
    return expand(rows, 0, stages, stages)


def expand(rows: Sequence[Ended], source: int, actors: np.ndarray, where: np.ndarray) -> np.ndarray:
    """The events of ``rows`` (see the module docstring), a structured array of
    :data:`sim.graph.log.DTYPE` in time order."""
    n, k = len(rows), len(actors)
    s = np.full((n, 3 * k + 2), np.nan)
    for line, (_, _, stamps, _) in zip(s, rows, strict=True):
        line[: len(stamps)] = stamps
    rid = np.fromiter((r[0] for r in rows), np.int64, n)
    status = np.fromiter((r[1] for r in rows), np.int8, n)
    ended = np.fromiter((r[3] for r in rows), np.float64, n)
    length = np.fromiter((len(r[2]) for r in rows), np.int64, n)
    parts: list[tuple[np.ndarray, np.ndarray | int, np.ndarray | int, Event, np.ndarray]] = []
    everyone = np.ones(n, bool)
    parts.append((everyone, -1, -1, Event.ARRIVE, s[:, 0]))
    for j in range(k):
        for col, event in enumerate((Event.ARRIVE, Event.START, Event.END), start=3 * j + 1):
            parts.append((~np.isnan(s[:, col]), int(actors[j]), int(where[j]), event, s[:, col]))
        if j < k - 1:
            end = s[:, 3 * j + 3]
            parts.append((~np.isnan(end), int(actors[j]), int(where[j]), Event.SEND, end))
    dropped = (length - 2) // 3  # the actor whose full queue turned it away
    at = np.minimum(dropped, k - 1).clip(0)
    queued = s[np.arange(n), 3 * at + 1]
    parts.append((status == Status.DROPPED, actors[at], where[at], Event.DROP, queued))
    reached = (length - 1) // 3  # the actor it was going to, or k: on the way back
    on_way = reached < k
    lost_at = np.minimum(reached, k - 1)
    device = np.where(on_way, where[lost_at], -1)
    parts.append((status == Status.FAILED, actors[lost_at], device, Event.FAIL, ended))
    done = (status == Status.OK) | (status == Status.LATE)
    parts.append((done, -1, -1, Event.RECEIVE, s[:, -1]))
    return _table(rid, source, parts)


def _table(
    rid: np.ndarray,
    source: int,
    parts: list[tuple[np.ndarray, np.ndarray | int, np.ndarray | int, Event, np.ndarray]],
) -> np.ndarray:
    size = sum(int(mask.sum()) for mask, *_ in parts)
    out = np.empty(size, DTYPE)
    out["source"] = source
    i = 0
    for mask, actor, device, event, time in parts:
        m = int(mask.sum())
        block = out[i : i + m]
        block["request"] = rid[mask]
        block["actor"] = actor if isinstance(actor, int) else actor[mask]
        block["device"] = device if isinstance(device, int) else device[mask]
        block["event"] = event
        block["time"] = time[mask]
        i += m
    return out[np.argsort(out["time"], kind="stable")]
