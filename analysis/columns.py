"""The requests table's open columns: a registry of small objects, one per column.

The fixed columns of the requests table (:mod:`analysis.tables`) come from the
record arrays every source has. Further per-request columns are objects with a
``name`` and ``values(rep, src)``, the column of one source's finished requests
in their order, registered here by :func:`register`; the table appends them in
registration order. A column an engine fills per request reads it from
:attr:`sim.records.SourceRecords.extra`; one the event log implies groups it.

Two are built in:

* ``exit``: the actor where the request left its graph early, empty if it did not
  (a pipeline has no exits);
* ``devices``: the devices that served it (ended a service for it), in order of
  first service, joined by ``;``. For a pipeline, its stages' devices as far as it
  got, or where a strategy sent it (``extra["devices"]``); for a graph, from its log.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np

from analysis.arrow import Labels, labelled
from sim.graph.log import Event
from sim.records import GraphRecords, Replication, SourceRecords

if TYPE_CHECKING:
    import pyarrow as pa


class Column(Protocol):
    """One per-request column of the requests table."""

    @property
    def name(self) -> str: ...

    def values(self, rep: Replication, src: SourceRecords) -> pa.Array:
        """The column of ``src``'s finished requests, in the order of ``src.ids``."""
        ...


COLUMNS: dict[str, Column] = {}
"""Column name -> column, in the order the requests table appends them."""


def register(column: Column) -> Column:
    """Add ``column`` to the requests table; a name taken already is refused."""
    if column.name in COLUMNS:
        raise ValueError(f"column {column.name!r} is registered already")
    COLUMNS[column.name] = column
    return column


def log_of(rep: Replication, src: SourceRecords) -> tuple[GraphRecords, np.ndarray] | None:
    """The graph of a graph source, and its rows of the graph's event log (None: a
    pipeline source, or no log kept)."""
    for g in rep.graphs:
        if g.name == src.pipeline and src.name in g.sources:
            if g.events is None:
                return None
            events = g.events
            return g, events[events["source"] == g.sources.index(src.name)]
    return None


def _lookup(ids: np.ndarray, keys: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """``codes`` of ``keys`` (ascending) found for each of ``ids``; 0 where absent."""
    at = np.minimum(np.searchsorted(keys, ids), max(len(keys) - 1, 0))
    found = (keys[at] == ids) if len(keys) else np.zeros(len(ids), bool)
    return np.where(found, codes[at] if len(keys) else 0, 0)


class Exit:
    """The actor where the request left its graph early (:data:`Event.EXIT`), or empty."""

    name = "exit"

    def values(self, rep: Replication, src: SourceRecords) -> pa.Array:
        found = log_of(rep, src)
        if found is None:
            return labelled(np.zeros(len(src.ids), np.int32), [""])
        g, events = found
        exits = events[events["event"] == Event.EXIT]
        keys, first = np.unique(exits["request"], return_index=True)
        codes = exits["actor"][first] + 1
        return labelled(_lookup(src.ids, keys, codes), ["", *g.actors])


class Devices:
    """The devices that served the request, in order of first service, joined by ``;``."""

    name = "devices"

    def values(self, rep: Replication, src: SourceRecords) -> pa.Array:
        found = log_of(rep, src)
        if found is not None:
            return _from_log(src, *found)
        ends = src.stamps[:, 3 : 3 * len(src.stages) + 1 : 3]  # each stage's service end
        labels = Labels(joined(src.stages[:m]) for m in range(len(src.stages) + 1))
        codes = np.count_nonzero(~np.isnan(ends), axis=1).astype(np.int32)
        for i, served in elsewhere(src):
            codes[i] = labels.code(joined(served))
        return labelled(codes, labels.names)


def joined(devices: Sequence[str]) -> str:
    """Devices as the column shows them: each once, in order of first service."""
    return ";".join(dict.fromkeys(devices))


def elsewhere(src: SourceRecords) -> list[tuple[int, tuple[str, ...]]]:
    """(row, devices) of a pipeline's requests served elsewhere than on its stages."""
    via = src.extra.get("devices")
    return [] if via is None else [(i, v) for i, v in enumerate(via.tolist()) if v is not None]


def _from_log(src: SourceRecords, g: GraphRecords, events: np.ndarray) -> pa.Array:
    ends = events[events["event"] == Event.END]
    width = len(g.devices) + 1
    _, first = np.unique(ends["request"] * width + ends["device"], return_index=True)
    pairs = ends[np.sort(first)]  # (request, device) at its first service, in log order
    pairs = pairs[np.argsort(pairs["request"], kind="stable")]
    requests = pairs["request"]
    starts = np.flatnonzero(np.r_[True, requests[1:] != requests[:-1]] if len(pairs) else [])
    labels = Labels([""])
    seen: dict[tuple[int, ...], int] = {}
    devices = pairs["device"].tolist()
    bounds = [*starts.tolist(), len(devices)]
    codes = np.zeros(len(starts), np.int32)
    for j in range(len(starts)):
        group = tuple(devices[bounds[j] : bounds[j + 1]])
        if group not in seen:
            seen[group] = labels.code(";".join(g.devices[d] for d in group))
        codes[j] = seen[group]
    keys = requests[starts]
    return labelled(_lookup(src.ids, keys, codes), labels.names)


register(Exit())
register(Devices())
