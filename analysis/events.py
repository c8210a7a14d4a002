"""The events table: the event log of every replication, one row per event.

Columns: replication, request, source, actor, device, event, time. Actor, device
and source are names (empty: the source itself, or no device); ``event`` is one
of :class:`sim.graph.log.Event`'s names in lower case (arrive, start, end, send,
receive, exit, drop, fail). Per replication the rows of each graph's log come in
the order the engine appended them (time order), then those of each pipeline
source, request by request.

A pipeline's rows are read back from its requests' stamps (a ``pipelines:`` chain keeps
its log as them): ``arrive`` at the source (actor empty), then per stage ``stage{k}`` (the
chain graph's actor names) ``arrive``, ``start``, ``end`` and, before the next
stage, ``send``; ``drop`` where a full queue turned the request away, and
``receive`` when its result is back. Its row does not stamp when a lost
request was lost, so a pipeline's failed request has no ``fail`` row: its last
row is its last stamp, and its status is in the requests table. A failure-aware
run keeps no stamps of a lost or dropped attempt (so no rows of it), and a
request still in flight at the horizon has no rows (a graph's log has them).

Written beside the requests file as ``events.<format>`` with ``--records all``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from analysis.arrow import Labels, labelled, numeric
from analysis.columns import elsewhere
from sim.graph.log import Event
from sim.records import Replication, SourceRecords, Status

if TYPE_CHECKING:
    import pyarrow as pa

NAMES = ["replication", "request", "source", "actor", "device", "event", "time"]
EVENTS = [e.name.lower() for e in sorted(Event)]


Part = dict[str, np.ndarray]
"""A block of rows, column by column (:data:`NAMES`; source, actor, device and event as
codes of their labels)."""


def events_table(reps: Sequence[Replication]) -> pa.Table:
    """Every event of every replication (see the module docstring)."""
    import pyarrow as pa

    sources, actors, devices = Labels(), Labels([""]), Labels([""])
    parts: list[Part] = []
    for rep in reps:
        for g in rep.graphs:
            if g.events is not None and len(g.events):
                ev = g.events
                parts.append({
                    "replication": np.full(len(ev), rep.index, np.int64),
                    "request": ev["request"],
                    "source": sources.of(g.sources)[ev["source"]],
                    "actor": np.r_[actors.of(g.actors), 0][ev["actor"]],  # -1: the empty name
                    "device": np.r_[devices.of(g.devices), 0][ev["device"]],
                    "event": ev["event"],
                    "time": ev["time"],
                })  # fmt: skip
        for src in rep.sources:
            if not any(src.name in g.sources for g in rep.graphs):  # a pipeline's
                parts.append(_chain(rep.index, src, sources, actors, devices))

    def column(name: str, dtype: type) -> np.ndarray:
        arrays = [p[name] for p in parts]
        if len(arrays) == 1:
            return arrays[0].astype(dtype, copy=False)
        return np.concatenate(arrays).astype(dtype, copy=False) if arrays else np.zeros(0, dtype)

    data = [
        numeric(column("replication", np.int64)),
        numeric(column("request", np.int64)),
        labelled(column("source", _index(sources)), sources.names),
        labelled(column("actor", _index(actors)), actors.names),
        labelled(column("device", _index(devices)), devices.names),
        labelled(column("event", np.int8), EVENTS),
        numeric(column("time", np.float64)),
    ]
    return pa.Table.from_arrays(data, names=NAMES)


def _index(labels: Labels) -> type:
    """The smallest index type of a dictionary column over ``labels``."""
    return np.int16 if len(labels.names) < 2**15 else np.int32


def _chain(
    replication: int, src: SourceRecords, sources: Labels, actors: Labels, devices: Labels
) -> Part:
    """A pipeline source's rows, read back from its stamps (see the module docstring)."""
    s, k = src.stamps, len(src.stages)
    n = len(src.ids)
    stage = np.tile(devices.of(src.stages), (n, 1))
    for i, served in elsewhere(src):
        stage[i, : len(served)] = devices.of(served)
    dropped = src.status == Status.DROPPED
    # (actor, event, stamp column, extra condition) of every row a request may have
    plan: list[tuple[int, Event, int, np.ndarray | None]] = [(-1, Event.ARRIVE, 0, None)]
    for j in range(k):
        plan += [(j, Event.ARRIVE, 3 * j + 1, None)]
        plan += [(j, Event.DROP, 3 * j + 1, dropped & np.isnan(s[:, 3 * j + 2]))]
        plan += [(j, Event.START, 3 * j + 2, None), (j, Event.END, 3 * j + 3, None)]
        if j < k - 1:
            plan += [(j, Event.SEND, 3 * j + 3, None)]
    plan += [(-1, Event.RECEIVE, 3 * k + 1, None)]
    times = s[:, [c for _, _, c, _ in plan]]
    keep = ~np.isnan(times)
    for col, (_, _, _, extra) in enumerate(plan):
        if extra is not None:
            keep[:, col] &= extra
    row, step = np.nonzero(keep)  # request by request, each in its plan's order
    names = np.r_[actors.of([f"stage{j}" for j in range(k)]), 0]  # -1: the empty name
    stage = np.c_[stage, np.zeros(n, np.int32)]  # column -1: no device (the source's rows)
    actor = np.array([a for a, _, _, _ in plan])
    return {
        "replication": np.full(len(row), replication, np.int64),
        "request": src.ids[row],
        "source": np.full(len(row), sources.code(src.name), np.int32),
        "actor": names[actor][step],
        "device": stage[row, actor[step]],
        "event": np.array([e for _, e, _, _ in plan], np.int8)[step],
        "time": times[keep],
    }


def write_events(path: Path, reps: Sequence[Replication], fmt: str = "parquet") -> Path:
    """Write the events of ``reps`` to ``path`` in ``fmt`` (:data:`analysis.tables.WRITERS`),
    atomically; returns ``path``."""
    from analysis.tables import WRITERS, atomic, filename

    filename(fmt)
    table = events_table(reps)
    with atomic(Path(path)) as tmp:
        WRITERS[fmt](table, tmp)
    return Path(path)
