"""Streaming statistics: what a source's finished requests add up to, without keeping them.

With ``records="summary"`` (or ``"none"``) a route's finished requests go
into a :class:`Stream` instead of a list of rows. The streams of a world
buffer at most :data:`BUFFER` rows together (:func:`chunk` each), then fold
them into a :class:`Tally` with numpy, so
memory stays bounded whatever the horizon while the cost per request stays a
list append.

A tally holds what the summary reports of one source's requests that arrived
after the warm-up: counts by status, completions inside the window, the
completed requests' latency (count, sum, min, max and a :class:`Sketch`), the
sum of every phase, and latency and deadline-miss counts split by whether the
request arrived while some component was down. Tallies and sketches are
mergeable: merging the tallies of two sets of requests gives the tally of
their union, so sources and replications pool without their rows.

The sketch is a histogram with logarithmic buckets: bucket ``i`` holds the
values in ``(γ^(i-1), γ^i]`` with ``γ = (1 + α) / (1 - α)`` and stands for
``2 γ^i / (γ + 1)``, within relative error ``α`` (:data:`ALPHA`, 0.5 %) of
every value in it. Quantiles interpolate between approximated order
statistics exactly as ``numpy.percentile`` does between exact ones, so each
is within ``α`` of numpy's value on the same data.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from sim.records import Change, SourceRecords, Status, phase_sums

ALPHA = 0.005
"""Relative error of a :class:`Sketch` quantile (before clipping to the exact min and max)."""
GAMMA = (1 + ALPHA) / (1 - ALPHA)
_LOG_GAMMA = math.log(GAMMA)
BUFFER = 8192
"""Rows all of a world's streams buffer together, at most (see :func:`chunk`)."""
CHUNK = 4096
"""Rows one :class:`Stream` buffers, at most, before folding them into its tally."""


def chunk(streams: int) -> int:
    """Rows each of ``streams`` streams may buffer: :data:`BUFFER` shared, 64 to CHUNK each."""
    return min(CHUNK, max(64, BUFFER // max(1, streams)))


Row = tuple[int, int, list[float], int]
"""A finished request as the journey reports it: (id, status, stamps, attempts lost)."""


@dataclass(frozen=True, slots=True)
class Sketch:
    """A mergeable log-bucketed histogram of non-negative values (see the module docstring)."""

    counts: np.ndarray  # int64, the buckets offset, offset + 1, …
    offset: int
    zeros: int  # values equal to 0 (no bucket holds them)

    @classmethod
    def of(cls, values: np.ndarray) -> Sketch:
        positive = values[values > 0]
        if not len(positive):
            return cls(np.zeros(0, np.int64), 0, len(values))
        index = np.ceil(np.log(positive) / _LOG_GAMMA).astype(np.int64)
        low = int(index.min())
        return cls(np.bincount(index - low).astype(np.int64), low, len(values) - len(positive))

    @property
    def count(self) -> int:
        return self.zeros + int(self.counts.sum())

    def merge(self, other: Sketch) -> Sketch:
        """The sketch of both sets of values."""
        if not len(other.counts) or not len(self.counts):
            big = self if len(self.counts) else other
            return Sketch(big.counts, big.offset, self.zeros + other.zeros)
        low = min(self.offset, other.offset)
        high = max(self.offset + len(self.counts), other.offset + len(other.counts))
        counts = np.zeros(high - low, np.int64)
        for s in (self, other):
            counts[s.offset - low : s.offset - low + len(s.counts)] += s.counts
        return Sketch(counts, low, self.zeros + other.zeros)

    def ranked(self, rank: np.ndarray) -> np.ndarray:
        """The approximate ``rank``-th smallest values (0-based ranks)."""
        ends = np.cumsum(self.counts) + self.zeros
        bucket = np.searchsorted(ends, rank, side="right") + self.offset
        value = 2 * GAMMA ** bucket.astype(float) / (GAMMA + 1)
        return np.asarray(np.where(rank < self.zeros, 0.0, value))

    def percentiles(self, q: Sequence[float]) -> np.ndarray:
        """Like ``numpy.percentile(values, q)`` (linear method), each within ``ALPHA``."""
        n = self.count
        position = np.asarray(q, float) / 100 * (n - 1)
        below = np.floor(position)
        low = self.ranked(below)
        high = self.ranked(np.minimum(below + 1, n - 1))
        return np.asarray(low + (position - below) * (high - low))

    def __repr__(self) -> str:
        return f"Sketch(count={self.count}, buckets={len(self.counts)})"


@dataclass(frozen=True, slots=True)
class Tally:
    """One source's measured requests, summed (see the module docstring)."""

    counts: np.ndarray  # int64 per Status: requests that arrived after the warm-up
    completions: int  # ok or late, completed inside the window, whenever they arrived
    latency_sum: float  # over completed measured requests
    latency_min: float
    latency_max: float
    sketch: Sketch
    phases: np.ndarray  # float64, per phase (SourceRecords.phases order), sums over the same
    split: np.ndarray  # float64, [outside, inside] x [completed, latency sum, not ok, finished]
    # per failure (time, component): whether a request sent while it lasted failed, and the
    # first completion of a request sent after it (inf: none yet), for the time to recover
    recoveries: dict[tuple[float, str], tuple[bool, float]]

    @property
    def completed(self) -> int:
        return int(self.counts[Status.OK] + self.counts[Status.LATE])

    @classmethod
    def empty(cls, stages: int) -> Tally:
        return cls(
            np.zeros(len(Status), np.int64), 0, 0.0, math.inf, -math.inf,
            Sketch.of(np.zeros(0)), np.zeros(3 * stages + 1), np.zeros((2, 4)), {},
        )  # fmt: skip

    @classmethod
    def of(
        cls, status: np.ndarray, stamps: np.ndarray, start: float, inside: np.ndarray,
        failures: Sequence[Failure] = (),
    ) -> Tally:  # fmt: skip
        """The tally of finished requests given as arrays (``inside``: arrived during a
        failure), counting those that arrived at or after ``start``; and what they say of
        the recovery from each of ``failures``."""
        arrival, completion = stamps[:, 0], stamps[:, -1]
        measured = arrival >= start
        done = status <= Status.LATE
        ok = measured & done
        latency = (completion - arrival)[ok]
        split = np.zeros((2, 4))
        for flag in (0, 1):
            sel = measured & (inside == bool(flag))
            split[flag] = (
                np.count_nonzero(sel & done),
                (completion - arrival)[sel & done].sum(),
                np.count_nonzero(sel & (status != Status.OK)),
                np.count_nonzero(sel),
            )
        return cls(
            counts=np.bincount(status[measured], minlength=len(Status)).astype(np.int64),
            completions=int(np.count_nonzero(done & (completion >= start))),
            latency_sum=float(latency.sum()),
            latency_min=float(latency.min()) if len(latency) else math.inf,
            latency_max=float(latency.max()) if len(latency) else -math.inf,
            sketch=Sketch.of(latency),
            phases=phase_sums(stamps[ok], (stamps.shape[1] - 2) // 3),
            split=split,
            recoveries={(f.time, f.component): _recovery(f, status, stamps) for f in failures},
        )

    def merge(self, other: Tally) -> Tally:
        """The tally of both sets of requests."""
        return Tally(
            self.counts + other.counts,
            self.completions + other.completions,
            self.latency_sum + other.latency_sum,
            min(self.latency_min, other.latency_min),
            max(self.latency_max, other.latency_max),
            self.sketch.merge(other.sketch),
            self.phases + other.phases,
            self.split + other.split,
            _merged(self.recoveries, other.recoveries),
        )

    def percentiles(self, q: Sequence[float]) -> np.ndarray:
        """Latency percentiles of the completed requests, clipped to the exact min and max."""
        return np.asarray(np.clip(self.sketch.percentiles(q), self.latency_min, self.latency_max))

    def __repr__(self) -> str:
        return f"Tally(counts={self.counts.tolist()}, completions={self.completions})"


class Stream:
    """A route's sink for finished requests that keeps their :class:`Tally`, not them."""

    def __init__(
        self,
        stages: int,
        start: float,
        timeline: Callable[[], Sequence[Change]] | None = None,
        size: int = CHUNK,
    ) -> None:
        """``timeline``: the component changes so far (None: nothing can fail); ``size``:
        the rows buffered before a fold."""
        self.size = size
        self.width = 3 * stages + 2
        self.start = start
        self.timeline = timeline
        self.tally = Tally.empty(stages)
        self._rows: list[Row] = []

    def append(self, row: Row) -> None:
        rows = self._rows
        rows.append(row)
        if len(rows) >= self.size:
            self.flush()

    def flush(self) -> None:
        """Fold the buffered rows into the tally."""
        if not self._rows:
            return
        _, status, stamps, _ = rows_to_arrays(self._rows, self.width)
        self._rows = []
        timeline = self.timeline() if self.timeline else ()
        inside = _during(stamps[:, 0], timeline)
        failures = self._open(failures_of(timeline), float(stamps[:, 0].min()))
        self.tally = self.tally.merge(Tally.of(status, stamps, self.start, inside, failures))

    def _open(self, failures: list[Failure], first_arrival: float) -> list[Failure]:
        """The failures these rows can still tell about: a later completion never comes
        first, and a request sent after the component came back cannot fail under it."""
        known = self.tally.recoveries
        return [
            f for f in failures
            if known.get((f.time, f.component), (False, math.inf))[1] == math.inf
            or f.back > first_arrival
        ]  # fmt: skip

    def __len__(self) -> int:
        return len(self._rows)

    def __repr__(self) -> str:
        return f"Stream(buffered={len(self._rows)}, {self.tally!r})"


def rows_to_arrays(
    rows: Sequence[Row], width: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Ids, status, the stamp matrix (NaN where a request never got) and attempts lost."""
    n = len(rows)
    stamps = np.full((n, width), np.nan)
    for row, (_, _, times, _) in zip(stamps, rows, strict=True):
        row[: len(times)] = times
    ids = np.fromiter((d[0] for d in rows), dtype=np.int64, count=n)
    status = np.fromiter((d[1] for d in rows), dtype=np.int8, count=n)
    lost = np.fromiter((d[3] for d in rows), dtype=np.int32, count=n)
    return ids, status, stamps, lost


def source_records(
    sink: object,
    width: int,
    pending: Sequence[tuple[int, float]],
    warmup: float,
    *,
    name: str,
    pipeline: str,
    priority: int,
    deadline: float | None,
    stages: tuple[str, ...],
    extra: Mapping[str, Mapping[int, object]] | None = None,
) -> SourceRecords:
    """One source's records at the horizon, from its sink (the rows kept, or a stream's
    tally) and the (id, arrival) of every request still in flight; ``extra``: per named
    column, request id -> value for the requests that have one (None elsewhere)."""
    tally = None
    rows: Sequence[Row] = ()
    if isinstance(sink, Stream):
        sink.flush()
        tally = sink.tally
    else:
        assert isinstance(sink, list), "a sink is a list of rows or a stream"
        rows = sink
    ids, status, stamps, lost = rows_to_arrays(rows, width)
    pending = sorted(pending)
    arrival = np.array([t for _, t in pending], dtype=np.float64)
    return SourceRecords(
        name=name,
        pipeline=pipeline,
        priority=priority,
        deadline=deadline,
        stages=stages,
        ids=ids,
        status=status,
        stamps=stamps,
        in_flight=len(pending),
        in_flight_measured=int(np.count_nonzero(arrival >= warmup)),
        lost=lost,
        pending=np.array([i for i, _ in pending], dtype=np.int64),
        pending_arrival=arrival,
        tally=tally,
        extra={k: _aligned(ids, v) for k, v in (extra or {}).items() if v},
    )


def _aligned(ids: np.ndarray, values: Mapping[int, object]) -> np.ndarray:
    """``values`` (request id -> value) as an object array along ``ids``, None where absent."""
    out = np.empty(len(ids), dtype=object)
    out[:] = [values.get(i) for i in ids.tolist()]
    return out


@dataclass(frozen=True, slots=True)
class Failure:
    """A component going down, and when it came back (inf: not yet)."""

    time: float
    component: str
    back: float


def failures_of(timeline: Sequence[Change]) -> list[Failure]:
    """Every failure in ``timeline``, with the first return of its component after it."""
    out: list[Failure] = []
    waiting: dict[str, list[int]] = {}
    backs: dict[int, float] = {}
    for c in timeline:
        if c.state == "down":
            waiting.setdefault(c.component, []).append(len(out))
            out.append(Failure(c.time, c.component, math.inf))
        else:
            still = []
            for i in waiting.get(c.component, []):
                if c.time > out[i].time:
                    backs[i] = c.time
                else:
                    still.append(i)
            waiting[c.component] = still
    return [Failure(f.time, f.component, backs.get(i, math.inf)) for i, f in enumerate(out)]


def _recovery(f: Failure, status: np.ndarray, stamps: np.ndarray) -> tuple[bool, float]:
    arrival = stamps[:, 0]
    after = arrival >= f.time
    hit = bool(np.any(after & (arrival < f.back) & (status == Status.FAILED)))
    good = after & (status <= Status.LATE)
    return hit, float(stamps[good, -1].min()) if good.any() else math.inf


def _merged(
    a: dict[tuple[float, str], tuple[bool, float]], b: dict[tuple[float, str], tuple[bool, float]]
) -> dict[tuple[float, str], tuple[bool, float]]:
    out = dict(a)
    for key, (hit, first) in b.items():
        was_hit, was_first = out.get(key, (False, math.inf))
        out[key] = (was_hit or hit, min(was_first, first))
    return out


def down_periods(
    timeline: Sequence[Change], names: set[str] | None = None
) -> list[tuple[float, float]]:
    """Intervals during which at least one component (of ``names``, or any) was down;
    one still going at the end of the timeline ends at infinity."""
    periods: list[tuple[float, float]] = []
    down: set[str] = set()
    began = 0.0
    for change in timeline:
        if names is not None and change.component not in names:
            continue
        if change.state == "down":
            if not down:
                began = change.time
            down.add(change.component)
        else:
            down.discard(change.component)
            if not down:
                periods.append((began, change.time))
    if down:
        periods.append((began, math.inf))
    return periods


def _during(arrival: np.ndarray, timeline: Sequence[Change]) -> np.ndarray:
    """Whether each arrival fell inside a period with some component down."""
    periods = down_periods(timeline)
    if not periods:
        return np.zeros(len(arrival), bool)
    starts = np.array([a for a, _ in periods])
    ends = np.array([b for _, b in periods])
    last = np.searchsorted(starts, arrival, side="right") - 1  # the period begun last
    return (last >= 0) & (arrival < ends[np.maximum(last, 0)])
