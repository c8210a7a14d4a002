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
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np


class Status(IntEnum):
    """How a request ended."""

    OK = 0
    LATE = 1  # completed after its deadline
    FAILED = 2  # lost on the way (a transfer that ran out of retransmissions)
    DROPPED = 3  # turned away by a full device queue


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
        s = self.stamps
        out: dict[str, np.ndarray] = {}
        for k in range(len(self.stages)):
            before = s[:, 0] if k == 0 else s[:, 3 * k]
            out[f"transfer{k}"] = s[:, 3 * k + 1] - before
            out[f"wait{k}"] = s[:, 3 * k + 2] - s[:, 3 * k + 1]
            out[f"service{k}"] = s[:, 3 * k + 3] - s[:, 3 * k + 2]
        out["transfer_result"] = s[:, -1] - s[:, -2]
        return out


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

    @property
    def window(self) -> float:
        return self.end - self.start
