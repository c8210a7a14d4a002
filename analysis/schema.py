"""The structure of ``summary.json``, as pydantic models; ``python -m analysis.schema [FILE]``
exports it as a JSON Schema (committed as docs/summary.schema.json).

Every figure is a :class:`Cell`: the mean over replications and its 95 %
interval, ``null`` where there is nothing to measure (no deadline, no power
figures) or no interval (one replication of a figure that is not a proportion).
Times are in seconds, rates per second, energy in joules, sizes in bytes.
docs/results.md explains each figure and how its interval is computed.
"""

from __future__ import annotations

import sys
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sim.schema import export, write


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Cell(_Strict):
    """A figure: its mean over replications and 95 % interval [low, high]."""

    mean: float | None = Field(description="mean over replications; null: nothing measured")
    ci95: tuple[float, float] | None = Field(
        description="95 % interval, inside the figure's range; null: no interval"
    )
    transient: Cell | None = Field(
        None,
        description="only on latency figures of an unstable system (mean and ci95 are then "
        "null): the values measured up to the horizon, which grow with it",
    )


class Requests(_Strict):
    """Requests that arrived after the warm-up, by how they ended (counts per replication)."""

    arrived: Cell
    ok: Cell
    late: Cell
    failed: Cell
    dropped: Cell
    in_flight: Cell = Field(description="arrived but not finished at the horizon")


class Latency(_Strict):
    """Arrival to result back at the source, over completed requests (seconds)."""

    mean: Cell
    p50: Cell
    p90: Cell
    p95: Cell
    p99: Cell
    max: Cell


class Device(_Strict):
    utilisation: Cell = Field(description="busy slot-time over slots × window")
    served: Cell = Field(description="stage services completed in the window")
    energy_busy: Cell = Field(description="joules; null without both power figures")
    energy_idle: Cell
    energy: Cell


class Link(_Strict):
    bytes: Cell = Field(description="bytes carried in the window")
    medium: str = Field(description="the medium it transmits on: its shared channel, or itself")


class Medium(_Strict):
    """What transfers serialise onto: a shared channel (listed once) or a link of its own."""

    links: list[str]
    utilisation: Cell = Field(description="fraction of the window it was transmitting")


class Scored(_Strict):
    """Correct answers of a trained model, as proportions of requests."""

    answered: Cell = Field(description="correct over answered (ok or late) requests")
    all: Cell = Field(description="correct over finished requests: failed ones count as wrong")


class Accuracy(Scored):
    """The accuracy of the answers (sim.graph.accuracy), overall and around failures."""

    inside: Scored = Field(description="requests that arrived while some component was down")
    outside: Scored = Field(description="requests that arrived while everything was up")


class Source(_Strict):
    arrived: Cell
    in_flight: Cell
    throughput: Cell
    latency_mean: Cell
    latency_p95: Cell
    success_ratio: Cell
    deadline_miss: Cell
    phases: dict[str, Cell] = Field(
        description="mean time per transfer{k}, wait{k}, service{k} and transfer_result"
    )
    accuracy: Accuracy | None = Field(None, description="when its graph names a trained model")


class DetectionDelay(_Strict):
    mean: Cell
    max: Cell
    count: Cell


class Faults(_Strict):
    """Present when something can fail."""

    availability: Cell
    availability_by_source: dict[str, Cell]
    components_up: dict[str, Cell]
    failures: Cell
    failovers: Cell
    repartitions: Cell
    detection_delay: DetectionDelay
    time_to_recover: Cell
    latency_inside: Cell
    latency_outside: Cell
    deadline_miss_inside: Cell
    deadline_miss_outside: Cell
    misses_due_to_failures: Cell


class Load(_Strict):
    """Offered load ρ = λ E[S] / c per device and medium, from the traffic equations."""

    offered: dict[str, float]
    bottleneck: str | None = Field(description="the station with the highest ρ")
    stable: bool = Field(description="every ρ < 1, but at devices with a queue limit")
    bounded: list[str] = Field(description="devices with a queue limit (they drop the excess)")


class Caveat(_Strict):
    """A warning about the figures (analysis.caveats)."""

    code: Literal["unstable", "high_utilisation", "in_flight_at_horizon", "wide_interval"]
    component: str | None = Field(description="device, medium or source; null: the system")
    figure: str
    value: float
    limit: float
    message: str


class Overhead(_Strict):
    """A policy's cost when nothing fails: paired runs with and without it."""

    with_policy: float | None
    without: float | None
    difference: float | None
    ci95: tuple[float, float] | None
    relative: float | None


class RunInfo(_Strict):
    """The only values that differ between two runs with one seed."""

    started: str
    wall_seconds: float


class Actor(_Strict):
    """A dataflow graph's actor, over the window."""

    fired: Cell = Field(description="firings started")
    wait: Cell = Field(description="first input's arrival to the start of service")
    service: Cell = Field(description="mean service time of its firings")
    dropped: Cell = Field(description="tokens turned away: a full queue, or no longer wanted")
    failed: Cell = Field(description="tokens lost on the way or with a failed device")
    exits: Cell = Field(description="requests that left the graph here")


class Graph(_Strict):
    """A dataflow graph (its sources' figures are under ``sources``)."""

    actors: dict[str, Actor]


class Summary(_Strict):
    """summary.json: what ``edgesim run`` found, one cell per figure."""

    scenario: str
    seed: int | None = Field(None, description="present in edgesim run, not in hil run")
    replications: int | None = None
    horizon: float | None = None
    warmup: float | None = None
    bindings: dict[str, str] | None = Field(None, description="HIL runs: device → address")
    requests: Requests
    throughput: Cell = Field(description="completions in the window per second")
    success_ratio: Cell = Field(description="ok over arrived, in-flight requests included")
    deadline_miss: Cell = Field(description="not ok over arrived, of sources with a deadline")
    latency: Latency
    energy_per_inference: Cell
    devices: dict[str, Device]
    links: dict[str, Link]
    media: dict[str, Medium]
    sources: dict[str, Source]
    faults: Faults | None = None
    graphs: dict[str, Graph] | None = Field(None, description="present when there are graphs")
    accuracy: Accuracy | None = Field(None, description="when a graph names a trained model")
    load: Load | None = None
    warnings: list[Caveat]
    overhead: dict[str, Overhead] | None = None
    run: RunInfo | None = None


def schema_text() -> str:
    """The JSON Schema of summary.json, as committed in docs/summary.schema.json."""
    return export(Summary, "edgesim summary.json")


if __name__ == "__main__":
    write(schema_text(), sys.argv)
