"""From records to figures: one replication's metrics, then their means and intervals.

:func:`metrics` reduces one :class:`sim.records.Replication` to a nested
mapping of plain numbers; :func:`summary` combines replications leaf by leaf
into cells ``{"mean": m, "ci95": [low, high]}``, each interval computed by the
method its kind of figure needs (:mod:`analysis.stats`): a :class:`Ratio` of
request counts, a :class:`Share` of time, or a non-negative amount. Given the
scenario, it adds each station's offered load and, when some station is
overloaded, withholds the latency figures; then the warnings
(:mod:`analysis.caveats`). docs/results.md describes every figure.

Only requests that arrived after the warm-up count. Definitions:

* throughput: requests completed (ok or late) inside the window, per second,
  whenever they arrived;
* latency: arrival at the source to the result back at the source, over
  completed requests;
* success ratio: requests ok over requests judged: the finished ones *and those
  still in flight at the horizon*, except, for a source with a deadline, those
  whose deadline had not yet passed at the horizon (they may still be on time);
* deadline miss: requests judged that were not ok (late, failed, dropped or
  overdue in flight), over the sources with a deadline (NaN, so null, when none
  has one);
* accuracy (sources of a graph that names a trained model, and all of them pooled):
  correct answers over answered requests and over finished ones (a failed or dropped
  request is no correct answer), also split by arrival inside or outside a failure period;
* per graph actor: firings, drops, fails and exits in the window, mean wait (first
  input's arrival to the start of service) and mean service of the firings started in it;
* energy: idle power × idle time + busy power × busy time per device, where a
  device with ``slots`` servers is busy in proportion to its busy slots;
  energy per inference is the devices' total over completed requests.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from analysis import caveats
from analysis.stats import Estimate, fraction, nonnegative, proportion
from sim.records import GraphRecords, LinkUsage, Replication, SourceRecords, Status, phase_names
from sim.spec import Scenario, SourceSpec
from sim.streaming import Failure, Sketch, Tally, down_periods, failures_of

PERCENTILES = (50, 90, 95, 99)
Tree = dict[str, Any]


class Ratio(float):
    """A proportion of request counts: the value, and the counts it comes from."""

    hits: int
    total: int

    def __new__(cls, hits: int, total: int) -> Ratio:
        value = super().__new__(cls, hits / total if total else math.nan)
        value.hits, value.total = hits, total
        return value


class Share(float):
    """A fraction of time, in [0, 1] (availability, utilisation)."""


def metrics(rep: Replication) -> Tree:
    """The figures of one replication, from its rows or, where they were not kept, their
    tallies (:mod:`sim.streaming`): the same keys either way."""
    window = rep.window
    counts = {st.name.lower(): sum(int(_counts(s, rep.start)[st]) for s in rep.sources)
              for st in Status}  # fmt: skip
    finished = sum(counts.values())
    in_flight = sum(s.in_flight_measured for s in rep.sources)
    completed = counts["ok"] + counts["late"]
    judged = finished + sum(_judged_in_flight(s, rep) for s in rep.sources)
    devices = {d.name: _device(d, window) for d in rep.devices}
    energies = [d["energy"] for d in devices.values()]  # NaN unless every device's is known
    throughput = sum(_completions(s, rep.start) for s in rep.sources) / window
    out: Tree = {
        "requests": {"arrived": finished + in_flight, **counts, "in_flight": in_flight},
        "throughput": throughput,
        "success_ratio": Ratio(counts["ok"], judged),
        "deadline_miss": _deadline_miss(rep.sources, rep),
        "latency": _latency(rep.sources, rep.start),
        "energy_per_inference": sum(energies) / completed if completed else math.nan,
        "devices": devices,
        "links": {link.name: {"bytes": link.bytes, "medium": _medium(link)} for link in rep.links},
        "media": _media(rep.links, window),
        "sources": {s.name: _source(s, rep) for s in rep.sources},
    }
    if rep.faults is not None:
        out["faults"] = faults(rep)
    if rep.graphs:
        out["graphs"] = {g.name: _graph(g) for g in rep.graphs}
    scored = [s.accuracy.counts for s in rep.sources if s.accuracy is not None]
    if scored:
        out["accuracy"] = _accuracy(scored)
    return out


def _accuracy(counts: Sequence[np.ndarray]) -> Tree:
    """Correct answers over answered and over finished requests, overall and by whether
    they arrived inside a failure period (:class:`sim.records.Outcomes`)."""
    split = np.sum(counts, axis=0)  # [outside, inside] x [answered, correct, finished]

    def cells(c: np.ndarray) -> Tree:
        return {"answered": Ratio(int(c[1]), int(c[0])), "all": Ratio(int(c[1]), int(c[2]))}

    return {**cells(split.sum(axis=0)), "inside": cells(split[1]), "outside": cells(split[0])}


def _graph(g: GraphRecords) -> Tree:
    """Per actor of a dataflow graph: firings, mean wait and service, drops, fails, exits."""
    return {
        "actors": {
            name: {k: _figure(k, v[i]) for k, v in g.figures.items()}
            for i, name in enumerate(g.actors)
        }
    }


def _figure(name: str, value: Any) -> float | int:
    return float(value) if name in ("wait", "service") else int(value)


def summary(reps: Sequence[Replication], scenario: Scenario | None = None) -> Tree:
    """Every figure's mean over ``reps`` with its 95 % interval, and the warnings.

    With ``scenario``, also each station's offered load (``load``); when a station
    is overloaded the latency cells hold null, their measured values under ``transient``.
    """
    tree: Tree = _combine([metrics(r) for r in reps])
    if scenario is not None:
        tree["load"] = load(scenario, tree["links"])
        if not tree["load"]["stable"]:
            for parent, key in _latency_cells(tree):
                parent[key] = {"mean": None, "ci95": None, "transient": parent[key]}
    tree["warnings"] = [w.as_dict() for w in caveats.warnings(tree)]
    return tree


def load(scenario: Scenario, links: Tree) -> Tree:
    """Each station's offered load in ``scenario``, given the links' figures (their media)."""
    from analysis.analytic import offered_load

    bounded = {n for n, d in scenario.devices.items() if d.queue_limit is not None}
    static = tuple(src for src in scenario.workload if not _placed_at_run_time(scenario, src))
    if len(static) < len(scenario.workload):  # their stages are not where their tasks go
        if not static and not scenario.graphs:
            return _load({}, links, bounded)
        scenario = scenario.model_copy(update={"workload": static})
    return _load(offered_load(scenario), links, bounded)


def _placed_at_run_time(s: Scenario, src: SourceSpec) -> bool:
    """Whether a pipeline source's tasks are placed hop by hop as they run (an MDI
    strategy, :mod:`sim.mdi`): its static stages say nothing about the load it offers."""
    pipeline = s.pipelines.get(src.pipeline)
    return pipeline is not None and pipeline.strategy is not None


def _load(offered: dict[str, float], links: Tree, bounded: set[str]) -> Tree:
    """Offered load per device and per medium (a shared one once), the bottleneck, stability.

    A device with a queue limit (``bounded``) stays stable whatever its load: it turns the
    excess away, and its latency has a steady state.
    """
    by_station: dict[str, float] = {}
    for name, rho in offered.items():
        station = links[name]["medium"] if name in links else name
        by_station[station] = max(rho, by_station.get(station, 0.0))
    bottleneck = max(by_station, key=by_station.__getitem__, default=None)
    stable = all(rho < 1 or station in bounded for station, rho in by_station.items())
    return {
        "offered": by_station,
        "bottleneck": bottleneck,
        "stable": stable,
        "bounded": sorted(bounded & set(by_station)),
    }


def _latency_cells(tree: Tree) -> Iterator[tuple[Tree, str]]:
    """Every latency cell: the headline percentiles, each source's, and those around failures."""
    for key in tree["latency"]:
        yield tree["latency"], key
    for src in tree["sources"].values():
        yield src, "latency_mean"
        yield src, "latency_p95"
        for phase in src["phases"]:
            yield src["phases"], phase
    if "faults" in tree:
        yield tree["faults"], "latency_inside"
        yield tree["faults"], "latency_outside"


def _combine(trees: Sequence[Any]) -> Any:
    first = trees[0]
    if isinstance(first, dict):
        return {k: _combine([t[k] for t in trees]) for k in first}
    if isinstance(first, str | list):
        return first
    return _cell(_estimate(trees))


def _estimate(values: Sequence[Any]) -> Estimate:
    if isinstance(values[0], Ratio):
        return proportion([v.hits for v in values], [v.total for v in values])
    if isinstance(values[0], Share):
        return fraction([float(v) for v in values])
    return nonnegative([float(v) for v in values])


def _cell(est: Estimate) -> Tree:
    ci = None if math.isnan(est.low) else [est.low, est.high]
    return {"mean": None if math.isnan(est.mean) else est.mean, "ci95": ci}


def faults(rep: Replication) -> Tree:
    """Availability, detection, recovery and failure-period figures of one replication."""
    f = rep.faults
    assert f is not None
    start, end, window = rep.start, rep.end, rep.window
    components = [d.name for d in rep.devices] + [link.name for link in rep.links]
    periods = down_periods(f.timeline)
    inside = _inside_outside(rep, periods)
    delays = [d.delay for d in f.declarations if d.state == "down" and start <= d.time < end]
    failures = [c for c in failures_of(f.timeline) if start <= c.time < end]
    recover = [t for c in failures for t in _recoveries(rep, c)]
    return {
        # graph sources have no availability yet (only pipelines' placements are tracked)
        "availability": Share(
            float(np.mean(list(f.availability.values()))) if f.availability else math.nan
        ),
        "availability_by_source": {n: Share(a) for n, a in f.availability.items()},
        "components_up": {
            n: Share(1 - _overlap(down_periods(f.timeline, {n}), start, end) / window)
            for n in components
        },
        "failures": len(failures),
        "failovers": f.failovers,
        "repartitions": f.moves,
        "detection_delay": {
            "mean": float(np.mean(delays)) if delays else math.nan,
            "max": float(np.max(delays)) if delays else math.nan,
            "count": len(delays),
        },
        "time_to_recover": float(np.mean(recover)) if recover else math.nan,
        **inside,
    }


def _overlap(periods: Sequence[tuple[float, float]], start: float, end: float) -> float:
    return sum(max(0.0, min(b, end) - max(a, start)) for a, b in periods)


def _inside_outside(rep: Replication, periods: Sequence[tuple[float, float]]) -> Tree:
    """Latency and deadline misses of finished requests arriving during failures, and the rest.

    Deadline figures are NaN when no source has a deadline.
    """
    split = np.zeros((2, 4))  # [outside, inside] x [completed, latency sum, not ok, finished]
    timed = np.zeros((2, 4))  # the same, of the sources with a deadline
    for src in rep.sources:
        part = _split(src, rep.start, periods)
        split += part
        if src.deadline is not None:
            timed += part
    miss = {
        flag: Ratio(int(timed[int(flag), 2]), int(timed[int(flag), 3])) for flag in (True, False)
    }
    has_deadline = any(src.deadline is not None for src in rep.sources)
    excess = timed[1, 3] * max(0.0, miss[True] - (0.0 if math.isnan(miss[False]) else miss[False]))
    mean = {flag: split[int(flag), 1] / split[int(flag), 0] if split[int(flag), 0] else math.nan
            for flag in (True, False)}  # fmt: skip
    return {
        "latency_inside": float(mean[True]),
        "latency_outside": float(mean[False]),
        "deadline_miss_inside": miss[True] if has_deadline else math.nan,
        "deadline_miss_outside": miss[False] if has_deadline else math.nan,
        "misses_due_to_failures": (excess if timed[1, 3] else 0.0) if has_deadline else math.nan,
    }


def _split(src: SourceRecords, start: float, periods: Sequence[tuple[float, float]]) -> Any:
    """[outside, inside] x [completed, latency sum, not ok, finished] of measured requests."""
    if src.tally is not None:
        return src.tally.split
    arrival = src.arrival
    inside = np.zeros(len(arrival), bool)
    for a, b in periods:
        inside |= (arrival >= a) & (arrival < b)
    tally = Tally.of(src.status, src.stamps, start, inside)
    return tally.split


def _recoveries(rep: Replication, failure: Failure) -> list[float]:
    """Per affected source, from the failure to its first request, sent after it, that succeeds.

    A source is affected when one of its requests sent while the component was down failed.
    """
    key = (failure.time, failure.component)
    out = []
    for src in rep.sources:
        tally = src.tally or Tally.of(
            src.status, src.stamps, rep.start, np.zeros(len(src.ids), bool), [failure]
        )
        hit, first = tally.recoveries.get(key, (False, math.inf))
        if hit and first < math.inf:
            out.append(first - failure.time)
    return out


def _counts(src: SourceRecords, start: float) -> np.ndarray:
    """Requests that arrived after the warm-up and finished, per Status."""
    if src.tally is not None:
        return src.tally.counts
    return np.bincount(src.status[src.arrival >= start], minlength=len(Status))


def _completed_latency(src: SourceRecords, start: float) -> np.ndarray:
    ok = (src.arrival >= start) & (src.status <= Status.LATE)
    return src.latency[ok]


def _judged_in_flight(src: SourceRecords, rep: Replication) -> int:
    """Measured requests in flight at the horizon that count against success: all of
    them without a deadline; with one, those already past it (the rest may be on time)."""
    pending = src.pending_arrival[src.pending_arrival >= rep.start]
    if src.deadline is None:
        return len(pending)
    return int(np.count_nonzero(rep.end - pending > src.deadline))


def _deadline_miss(sources: Sequence[SourceRecords], rep: Replication) -> float:
    """Requests judged that were not ok, over those judged, of the sources with a deadline."""
    timed = [s for s in sources if s.deadline is not None]
    if not timed:
        return math.nan
    counts = [_counts(s, rep.start) for s in timed]
    ok = sum(int(c[Status.OK]) for c in counts)
    judged = sum(
        int(c.sum()) + _judged_in_flight(s, rep) for s, c in zip(timed, counts, strict=True)
    )
    return Ratio(judged - ok, judged)


def _latency(sources: Sequence[SourceRecords], start: float) -> Tree:
    """Latency of the completed measured requests of ``sources``, pooled: exact from rows,
    from the merged sketches (within ``sim.streaming.ALPHA``) where rows were not kept."""
    if all(s.kept for s in sources):
        return _exact_latency(np.concatenate([_completed_latency(s, start) for s in sources]))
    tallies = [s.tally for s in sources if s.tally is not None]
    n = sum(t.completed for t in tallies)
    if not n:
        return _exact_latency(np.zeros(0))
    sketch = functools.reduce(Sketch.merge, [t.sketch for t in tallies])
    low = min(t.latency_min for t in tallies)
    high = max(t.latency_max for t in tallies)
    pct = np.clip(sketch.percentiles(PERCENTILES), low, high)
    return {
        "mean": sum(t.latency_sum for t in tallies) / n,
        **{f"p{p}": float(v) for p, v in zip(PERCENTILES, pct, strict=True)},
        "max": high,
    }


def _exact_latency(values: np.ndarray) -> Tree:
    if not len(values):
        nan = math.nan
        return {"mean": nan, **{f"p{p}": nan for p in PERCENTILES}, "max": nan}
    pct = np.percentile(values, PERCENTILES)
    return {
        "mean": float(values.mean()),
        **{f"p{p}": float(v) for p, v in zip(PERCENTILES, pct, strict=True)},
        "max": float(values.max()),
    }


def _device(d: Any, window: float) -> Tree:
    busy = d.busy / d.slots
    known = d.power_idle is not None and d.power_busy is not None
    busy_j = d.power_busy * busy if known else math.nan  # unknown without both power figures
    idle_j = d.power_idle * (window - busy) if known else math.nan
    return {
        "utilisation": Share(busy / window),
        "served": d.served,
        "energy_busy": busy_j,
        "energy_idle": idle_j,
        "energy": busy_j + idle_j,
    }


def _medium(link: LinkUsage) -> str:
    return link.shared if link.shared is not None else link.name


def _media(links: Sequence[LinkUsage], window: float) -> Tree:
    """One entry per medium: a shared channel once, with its links; a link of its own."""
    out: Tree = {}
    for link in links:
        medium = out.setdefault(_medium(link), {"links": [], "utilisation": Share(0.0)})
        medium["links"].append(link.name)
        medium["utilisation"] = Share(max(medium["utilisation"], link.busy / window))
    return out


def _completions(src: SourceRecords, start: float) -> int:
    if src.tally is not None:
        return src.tally.completions
    return int(np.count_nonzero((src.status <= Status.LATE) & (src.completion >= start)))


def _phases(src: SourceRecords, start: float) -> dict[str, float]:
    """Mean time per phase over the completed measured requests."""
    names = phase_names(len(src.stages))
    if src.tally is not None:
        n = src.tally.completed
        return {
            k: float(v) / n if n else math.nan for k, v in zip(names, src.tally.phases, strict=True)
        }
    ok = (src.arrival >= start) & (src.status <= Status.LATE)
    return {k: float(np.mean(v[ok])) if ok.any() else math.nan for k, v in src.phases().items()}


def _source(src: SourceRecords, rep: Replication) -> Tree:
    counts = _counts(src, rep.start)
    finished = int(counts.sum())
    judged = finished + _judged_in_flight(src, rep)
    latency = _latency([src], rep.start)
    return {
        "arrived": finished + src.in_flight_measured,
        "in_flight": src.in_flight_measured,
        "throughput": _completions(src, rep.start) / rep.window,
        "latency_mean": latency["mean"],
        "latency_p95": latency["p95"],
        "success_ratio": Ratio(int(counts[Status.OK]), judged),
        "deadline_miss": _deadline_miss([src], rep),
        "phases": _phases(src, rep.start),
        **({} if src.accuracy is None else {"accuracy": _accuracy([src.accuracy.counts])}),
    }
