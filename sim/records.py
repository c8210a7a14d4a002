"""What a run leaves behind: flat, frozen records, free of SimPy objects.

Per request the engine keeps a row of timestamps. For a pipeline of K stages
the row holds, for each stage k, the time the request reached stage k's
device queue, started service there and finished; then the time the result
reached the source. With the arrival time in front, a row has 3K + 2 columns,
NaN where the request never got. Waiting, service and transfer times are
differences of neighbouring columns (:func:`SourceRecords.phases`). Beside
the row, ``lost`` counts the request's link attempts that were lost (each
cost the link's ``retransmit_timeout`` before the next), on the transfers
that got through, by every copy and re-sending of the request.

Requests still in flight at the horizon are listed apart (``pending``), from
the engine's live set of request processes rather than as arrivals minus
finished ones: every arrival is either one row or one pending id.

Beside the fixed arrays, ``extra`` holds named per-request columns an engine
adds (one array per name, aligned with ``ids``; the requests table's column
registry, :mod:`analysis.columns`, reads them): today ``devices``, the devices
that served a request of a failure-aware pipeline where they were not its
stages' own. Adding one is a name there and a column in the registry, not a
wider row.

A run with ``records="summary"`` (or ``"none"``) keeps no rows: a source's
``tally`` (:class:`sim.streaming.Tally`) holds their statistics instead, and
its row arrays are empty; the pending requests are listed as always.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    from sim.streaming import Tally

Records = Literal["none", "summary", "all"]
"""How much of each request a run keeps: every row (``all``), or only their
statistics (``summary``, and ``none``, which writes no requests file either)."""
RECORDS: tuple[Records, ...] = ("none", "summary", "all")


class Status(IntEnum):
    """How a request ended."""

    OK = 0
    LATE = 1  # completed after its deadline
    FAILED = 2  # lost on the way (a transfer that ran out of retransmissions)
    DROPPED = 3  # turned away by a full device queue


@dataclass(frozen=True, slots=True)
class Outcomes:
    """What a source's requests answered, scored by a trained model (:mod:`sim.graph.accuracy`).

    ``sample`` and ``correct`` follow the source's rows (empty unless they were kept);
    ``counts`` holds, for the requests that arrived after the warm-up and finished, by
    [arrived outside, inside a failure period] × [answered, answered correctly, finished].
    """

    model: str
    sample: np.ndarray  # int32 per row: the test sample the request carried
    correct: np.ndarray  # bool per row: answered, and the answer was right
    counts: np.ndarray  # int64, 2 x 3, see above


@dataclass(frozen=True, slots=True)
class SourceRecords:
    """Every finished request of one source, and those still in flight at the horizon."""

    name: str
    pipeline: str
    priority: int
    deadline: float | None
    stages: tuple[str, ...]  # the device of each stage
    ids: np.ndarray  # int64, request ids in completion order
    status: np.ndarray  # int8, a Status per request
    stamps: np.ndarray  # float64, n x (3K + 2), see the module docstring
    in_flight: int  # arrived but not finished at the horizon: len(pending)
    in_flight_measured: int  # of those, how many arrived after the warm-up
    lost: np.ndarray  # int32, per request, link attempts lost (see the module docstring)
    pending: np.ndarray  # int64, ids of the requests in flight at the horizon, ascending
    pending_arrival: np.ndarray  # float64, their arrival times
    tally: Tally | None = None  # the rows' statistics when they were not kept
    extra: Mapping[str, np.ndarray] = field(default_factory=dict)  # see the module docstring
    accuracy: Outcomes | None = None  # with a trained model to score the answers

    @property
    def kept(self) -> bool:
        """Whether the rows were kept (records "all")."""
        return self.tally is None

    @property
    def arrival(self) -> np.ndarray:
        return np.asarray(self.stamps[:, 0])

    @property
    def completion(self) -> np.ndarray:
        return np.asarray(self.stamps[:, -1])

    @property
    def latency(self) -> np.ndarray:
        return np.asarray(self.stamps[:, -1] - self.stamps[:, 0])

    def phases(self) -> dict[str, np.ndarray]:
        """Per request, time spent in each transfer, queue and service, in pipeline order."""
        return phases(self.stamps, len(self.stages))


def phase_names(stages: int) -> list[str]:
    """transfer0, wait0, service0, …, transfer_result: the phases of a K-stage row."""
    names = [f"{p}{k}" for k in range(stages) for p in ("transfer", "wait", "service")]
    return [*names, "transfer_result"]


def phases(s: np.ndarray, stages: int) -> dict[str, np.ndarray]:
    """Per row of the stamp matrix ``s``, the time in each phase (:func:`phase_names`)."""
    out: dict[str, np.ndarray] = {}
    for k in range(stages):
        before = s[:, 0] if k == 0 else s[:, 3 * k]
        out[f"transfer{k}"] = s[:, 3 * k + 1] - before
        out[f"wait{k}"] = s[:, 3 * k + 2] - s[:, 3 * k + 1]
        out[f"service{k}"] = s[:, 3 * k + 3] - s[:, 3 * k + 2]
    out["transfer_result"] = s[:, -1] - s[:, -2]
    return out


def phase_sums(s: np.ndarray, stages: int) -> np.ndarray:
    """Each phase's total over the rows of ``s``, in :func:`phase_names` order."""
    return np.array([v.sum() for v in phases(s, stages).values()], dtype=np.float64)


@dataclass(frozen=True, slots=True)
class DeviceUsage:
    """A device's work inside the measurement window."""

    name: str
    slots: int
    busy: float  # slot-seconds of service
    served: int
    power_idle: float | None
    power_busy: float | None


@dataclass(frozen=True, slots=True)
class LinkUsage:
    """A link's traffic inside the measurement window."""

    name: str
    bytes: float
    busy: float  # seconds its busiest medium was transmitting
    shared: str | None


@dataclass(frozen=True, slots=True)
class Change:
    """One line of the timeline: a component went down or came back."""

    time: float
    component: str
    kind: str  # "device" or "link"
    state: str  # "down" or "up"
    cause: str  # "random" or "scheduled"


@dataclass(frozen=True, slots=True)
class Declaration:
    """An observer's verdict on a device, and how long after the failure (or repair) it came."""

    time: float
    device: str
    observer: str
    state: str  # "down" or "up"
    delay: float


@dataclass(frozen=True, slots=True)
class Faults:
    """What failures did in one replication (absent when nothing could fail)."""

    timeline: tuple[Change, ...]
    declarations: tuple[Declaration, ...]
    availability: dict[str, float]  # per source, over the window
    failovers: int
    moves: int  # repartitions


@dataclass(frozen=True, slots=True)
class GraphRecords:
    """One dataflow graph's names, and its event log (:mod:`sim.graph.log`) when kept.

    The log's ``source``, ``actor`` and ``device`` columns index ``sources``, ``actors``
    and ``devices`` (-1: the source itself, or no device); its sources' requests are
    also in :attr:`Replication.sources`, one row each, stamped [arrival, completion].
    """

    name: str
    actors: tuple[str, ...]
    devices: tuple[str, ...]
    sources: tuple[str, ...]  # every graph source of the world; the log holds this graph's
    events: np.ndarray | None  # structured (sim.graph.log.DTYPE); None unless records "all"
    figures: dict[str, np.ndarray]  # per actor, sim.graph.log.FIGURES, kept or not


@dataclass(frozen=True, slots=True)
class Replication:
    """One replication's records, measured over ``[start, end)``."""

    index: int
    seed: int
    start: float
    end: float
    sources: tuple[SourceRecords, ...]
    devices: tuple[DeviceUsage, ...]
    links: tuple[LinkUsage, ...]
    faults: Faults | None = None
    real: tuple[tuple[str, int], ...] = ()  # (pipeline, stage) run on real devices (HIL)
    graphs: tuple[GraphRecords, ...] = ()  # dataflow graphs (their sources are in sources)

    @property
    def window(self) -> float:
        return self.end - self.start
