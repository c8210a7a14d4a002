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
* energy: idle power × idle time + busy power × busy time per device, where a
  device with ``slots`` servers is busy in proportion to its busy slots;
  energy per inference is the devices' total over completed requests.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from analysis import caveats
from analysis.stats import Estimate, fraction, nonnegative, proportion
from sim.records import Change, LinkUsage, Replication, SourceRecords, Status
from sim.spec import Scenario

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
    """The figures of one replication."""
    window = rep.window
    done = [_measured(src, rep.start) for src in rep.sources]
    status = np.concatenate([s.status[m] for s, m in done])
    latency = np.concatenate([_completed_latency(s, m) for s, m in done])
    counts = {st.name.lower(): int(np.count_nonzero(status == st)) for st in Status}
    in_flight = sum(s.in_flight_measured for s in rep.sources)
    completed = counts["ok"] + counts["late"]
    judged = len(status) + sum(_judged_in_flight(s, rep) for s in rep.sources)
    devices = {d.name: _device(d, window) for d in rep.devices}
    energies = [d["energy"] for d in devices.values()]  # NaN unless every device's is known
    throughput = sum(_completions(s, rep.start) for s in rep.sources) / window
    out: Tree = {
        "requests": {"arrived": len(status) + in_flight, **counts, "in_flight": in_flight},
        "throughput": throughput,
        "success_ratio": Ratio(counts["ok"], judged),
        "deadline_miss": _deadline_miss([s for s, _ in done], rep),
        "latency": _latency(latency),
        "energy_per_inference": sum(energies) / completed if completed else math.nan,
        "devices": devices,
        "links": {link.name: {"bytes": link.bytes, "medium": _medium(link)} for link in rep.links},
        "media": _media(rep.links, window),
        "sources": {s.name: _source(s, m, rep) for s, m in done},
    }
    if rep.faults is not None:
        out["faults"] = faults(rep)
    return out


def summary(reps: Sequence[Replication], scenario: Scenario | None = None) -> Tree:
    """Every figure's mean over ``reps`` with its 95 % interval, and the warnings.

    With ``scenario``, also each station's offered load (``load``); when a station
    is overloaded the latency cells hold null, their measured values under ``transient``.
    """
    tree: Tree = _combine([metrics(r) for r in reps])
    if scenario is not None:
        from analysis.analytic import offered_load

        bounded = {n for n, d in scenario.devices.items() if d.queue_limit is not None}
        tree["load"] = _load(offered_load(scenario), tree["links"], bounded)
        if not tree["load"]["stable"]:
            for parent, key in _latency_cells(tree):
                parent[key] = {"mean": None, "ci95": None, "transient": parent[key]}
    tree["warnings"] = [w.as_dict() for w in caveats.warnings(tree)]
    return tree


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


def down_periods(
    timeline: Sequence[Change], names: set[str] | None = None
) -> list[tuple[float, float]]:
    """Intervals during which at least one component (of ``names``, or any) was down."""
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


def faults(rep: Replication) -> Tree:
    """Availability, detection, recovery and failure-period figures of one replication."""
    f = rep.faults
    assert f is not None
    start, end, window = rep.start, rep.end, rep.window
    components = [d.name for d in rep.devices] + [link.name for link in rep.links]
    periods = down_periods(f.timeline)
    inside = _inside_outside(rep, periods)
    delays = [d.delay for d in f.declarations if d.state == "down" and start <= d.time < end]
    failures = [c for c in f.timeline if c.state == "down" and start <= c.time < end]
    recover = [t for c in failures for t in _recoveries(rep, c, f.timeline)]
    return {
        "availability": Share(np.mean(list(f.availability.values()))),
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
    starts = np.array([a for a, _ in periods])
    ends = np.array([b for _, b in periods])
    lat = {True: [], False: []}  # type: dict[bool, list[np.ndarray]]
    miss = {True: [0, 0], False: [0, 0]}
    for src in rep.sources:
        m = src.arrival >= rep.start
        arrival, status, latency = src.arrival[m], src.status[m], src.latency[m]
        during = (
            ((arrival[:, None] >= starts) & (arrival[:, None] < ends)).any(axis=1)
            if len(starts)
            else np.zeros(len(arrival), bool)
        )
        for flag in (True, False):
            sel = during == flag
            completed = sel & (status <= Status.LATE)
            lat[flag].append(latency[completed])
            if src.deadline is not None:
                miss[flag][0] += int(np.count_nonzero(status[sel] != Status.OK))
                miss[flag][1] += int(np.count_nonzero(sel))
    rate = {k: Ratio(*v) for k, v in miss.items()}
    timed = any(src.deadline is not None for src in rep.sources)
    excess = miss[True][1] * max(
        0.0, rate[True] - (0.0 if math.isnan(rate[False]) else rate[False])
    )
    mean = {
        k: float(np.concatenate(v).mean()) if sum(map(len, v)) else math.nan for k, v in lat.items()
    }
    return {
        "latency_inside": mean[True],
        "latency_outside": mean[False],
        "deadline_miss_inside": rate[True] if timed else math.nan,
        "deadline_miss_outside": rate[False] if timed else math.nan,
        "misses_due_to_failures": (excess if miss[True][1] else 0.0) if timed else math.nan,
    }


def _recoveries(rep: Replication, failure: Change, timeline: Sequence[Change]) -> list[float]:
    """Per affected source, from the failure to its first request, sent after it, that succeeds.

    A source is affected when one of its requests sent while the component was down failed.
    """
    back = next(
        (
            c.time
            for c in timeline
            if c.component == failure.component and c.state == "up" and c.time > failure.time
        ),
        math.inf,
    )
    out = []
    for src in rep.sources:
        after = src.arrival >= failure.time
        hit = after & (src.arrival < back) & (src.status == Status.FAILED)
        if not hit.any():
            continue
        good = after & (src.status <= Status.LATE)
        if good.any():
            out.append(float(src.completion[good].min()) - failure.time)
    return out


def _measured(src: SourceRecords, start: float) -> tuple[SourceRecords, np.ndarray]:
    return src, src.arrival >= start


def _completed_latency(src: SourceRecords, mask: np.ndarray) -> np.ndarray:
    ok = mask & (src.status <= Status.LATE)
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
    measured = [s.status[s.arrival >= rep.start] for s in timed]
    ok = sum(int(np.count_nonzero(st == Status.OK)) for st in measured)
    judged = sum(len(st) + _judged_in_flight(s, rep) for s, st in zip(timed, measured, strict=True))
    return Ratio(judged - ok, judged)


def _latency(values: np.ndarray) -> Tree:
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
    return int(np.count_nonzero((src.status <= Status.LATE) & (src.completion >= start)))


def _source(src: SourceRecords, mask: np.ndarray, rep: Replication) -> Tree:
    status = src.status[mask]
    latency = _completed_latency(src, mask)
    ok = mask & (src.status <= Status.LATE)
    phases = {
        name: float(np.mean(v[ok])) if ok.any() else math.nan for name, v in src.phases().items()
    }
    judged = len(status) + _judged_in_flight(src, rep)
    return {
        "arrived": len(status) + src.in_flight_measured,
        "in_flight": src.in_flight_measured,
        "throughput": _completions(src, rep.start) / rep.window,
        "latency_mean": float(latency.mean()) if len(latency) else math.nan,
        "latency_p95": float(np.percentile(latency, 95)) if len(latency) else math.nan,
        "success_ratio": Ratio(int(np.count_nonzero(status == Status.OK)), judged),
        "deadline_miss": _deadline_miss([src], rep),
        "phases": phases,
    }
