"""How much work a run is, estimated before it starts: the event-count limit.

A discrete-event run costs about the same per event, so the number of events it
will process says how long it will take. The estimate adds, per replication:

* each source's arrivals (rate × the time it runs, or its trace, capped by ``count``),
  times the events of one request: its arrival, per stage one service and one transfer
  to the stage's device (each replica or attempt again), and the result's transfer back;
  a lossy link multiplies transfers by the expected attempts, 1 / (1 − loss), at most
  ``max_retransmits`` + 1;
* each failure process's down and up events: horizon / (mean ttf + mean ttr) cycles;
* heartbeats, one per period per watched pair of devices, when anything can fail or a
  policy reacts to failures;

and multiplies by the replications. A run beyond :data:`LIMIT` events is refused
(``edgesim run --force`` runs it anyway): it would take longer than anyone waits for
by mistake: the engine gets through 1.5 to 7 × 10^5 estimated events a second on the
development machine (docs/scenario-format.md gives the measurement), so the limit is
a run of some 2 to 11 minutes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sim.resilience import needed
from sim.spec import FailureSpec, GilbertElliott, Periodic, Poisson, Scenario, SourceSpec
from sim.strategies import candidates

LIMIT = 1e8
"""The most events a run may be estimated to process without ``--force``."""


@dataclass(frozen=True, slots=True)
class Part:
    """One contribution to a run's events: where it comes from, and how many."""

    path: str
    events: float


def parts(s: Scenario) -> list[Part]:
    """The run's estimated events by origin, over all replications, largest first."""
    out = [Part(_source_path(i, src), _requests(s, src)) for i, src in enumerate(s.workload)]
    failing = [(f"devices.{n}.failure", d.failure) for n, d in s.devices.items()]
    failing += [(f"links[{i}].failure", link.failure) for i, link in enumerate(s.links)]
    out += [Part(where, _cycles(s.horizon, f)) for where, f in failing if f is not None]
    out += _heartbeats(s)
    scaled = [Part(p.path, p.events * s.replications) for p in out]
    return sorted(scaled, key=lambda p: -p.events)


def estimate(s: Scenario) -> float:
    """The run's estimated events, over all replications."""
    return sum(p.events for p in parts(s))


def excess(s: Scenario, limit: float = LIMIT) -> tuple[Part, float] | None:
    """The largest part and the total, when the total passes ``limit``; else None."""
    found = parts(s)
    total = sum(p.events for p in found)
    return (found[0], total) if total > limit else None


def _requests(s: Scenario, src: SourceSpec) -> float:
    arrivals = src.arrivals
    if isinstance(arrivals, Poisson | Periodic):
        start = arrivals.offset if isinstance(arrivals, Periodic) else 0.0
        count = arrivals.rate * max(s.horizon - start, 0.0)
    else:
        count = float(sum(1 for t in arrivals.sorted_times if t < s.horizon))
    if src.count is not None:
        count = min(count, float(src.count))
    return count * _per_request(s, src)


def _source_path(i: int, src: SourceSpec) -> str:
    rated = isinstance(src.arrivals, Poisson | Periodic)
    return f"workload[{i}].arrivals" + (".rate" if rated else "")


def _per_request(s: Scenario, src: SourceSpec) -> float:
    attempts = max((_attempts(link.loss, link.max_retransmits) for link in s.links), default=1.0)
    stages = s.pipelines[src.pipeline].stages
    per_stage = sum(1 + len(st.replicas) for st in stages)
    return 1 + per_stage * (1 + attempts) + attempts


def _attempts(loss: float | GilbertElliott, max_retransmits: int) -> float:
    p = loss.mean if isinstance(loss, GilbertElliott) else loss
    return min(1 / (1 - p) if p < 1 else math.inf, max_retransmits + 1.0)


def _cycles(horizon: float, failure: FailureSpec) -> float:
    if failure.ttr is None:
        return 1.0
    cycle = failure.ttf.mean + failure.ttr.mean
    return 2 * horizon / cycle if cycle > 0 else math.inf


def _heartbeats(s: Scenario) -> list[Part]:
    if not needed(s):
        return []
    out = []
    for pname, pipeline in s.pipelines.items():
        sources = [src.at for src in s.workload if src.pipeline == pname]
        watchers = set(sources)
        for k in range(len(pipeline.stages)):
            watched = {d for at in sources for d in candidates(s, pname, k, at)}
            pairs = sum(1 for w in watchers for d in watched if w != d)
            beats = pairs * s.horizon / s.policy(pname, k).heartbeat
            out.append(Part(_policy_path(s, pname, k), beats))
            watchers = watched
    return out


def _policy_path(s: Scenario, pname: str, k: int) -> str:
    """Where the heartbeat period of stage ``k`` is set."""
    pipeline = s.pipelines[pname]
    if pipeline.stages[k].fault_tolerance is not None:
        return f"pipelines.{pname}.stages[{k}].fault_tolerance.heartbeat"
    if pipeline.fault_tolerance is not None:
        return f"pipelines.{pname}.fault_tolerance.heartbeat"
    return "fault_tolerance.heartbeat"
