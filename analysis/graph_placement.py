"""Placement of a dataflow graph's actors on devices, under each objective.

A **placement** gives every actor of a graph a place: ``$source`` (the device of the
source whose request it serves) or a device. Candidates are ``$source`` and every
device that can run layers, is reachable, and is no source's own device (another
camera is not a server); ``devices`` narrows them.

**Unloaded cost** (no queueing), per source: an actor finishes at its join over its
inputs (``all``: the latest, ``first``: the earliest, ``k_of_n``: the k-th) of each
input's finish plus the transfer of what that input sends it (a cut-set part sends each
successor its own tensors, :meth:`sim.graph.expand.Actor.bytes_to`), plus its own
seconds on its device; the request ends when every sink's result is back. Transfers
cost ``size × 8 / bandwidth`` plus propagation and mean jitter per hop of the
lowest-latency route. Exits are ignored (every actor fires). The source device's busy
seconds × its busy power give the **energy**, what leaves it the **bytes**; a graph's
figure is its sources' rate-weighted mean.

**Search.** :func:`search` is a branch and bound over actors in topological order: a
partial placement's bound takes every unplaced actor at its fastest candidate and its
transfers as free, which never exceeds the cost of a completion (every join is
monotone), so the ``keep`` best placements by unloaded latency, energy or bytes are
exact. **Latency and p95** are the analytic model's (:func:`analysis.analytic.analyze`
on the whole scenario with the placement applied): with at most ``EXACT`` placements
every one is evaluated (exact); beyond, the ``keep`` best by unloaded latency are
evaluated and the best of them chosen (the heuristic, its gap in docs/planning.md).
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import networkx as nx

from analysis.analytic import analyze
from analysis.analytic.graphs import span_cost
from analysis.placement import _route_cost
from sim.graph.expand import Actor, Graph, graphs, resolve
from sim.graph.spec import SOURCE, KOfN
from sim.loader import ScenarioError, revised
from sim.routes import topology
from sim.spec import Scenario, SourceSpec

OBJECTIVES = ("latency", "p95", "energy", "bytes")
EXACT = 256
"""Placements evaluated one by one by the analytic model; beyond, the heuristic."""
KEEP = 8


@dataclass(frozen=True, slots=True)
class Problem:
    """A graph's placement problem, costed per source: seconds of each actor on each
    candidate device, and the transfer cost between devices."""

    graph: Graph
    choices: tuple[tuple[str, ...], ...]  # per actor in topological order: its places
    sources: tuple[SourceSpec, ...]
    weights: tuple[float, ...]  # each source's share of the graph's requests
    seconds: dict[tuple[str, str], float]  # (actor, device) -> unloaded seconds
    hop: dict[tuple[str, str], tuple[float, float]]  # (a, b) -> (s per byte, fixed s)
    power: dict[str, float]  # device -> busy power (nan when unset)

    def device(self, place: str, src: SourceSpec) -> str:
        return src.at if place == SOURCE else place

    def transfer(self, a: str, b: str, size: float) -> float:
        """Unloaded seconds to move ``size`` bytes from ``a`` to ``b`` (no route: inf)."""
        if (a, b) not in self.hop:
            return math.inf
        per_byte, fixed = self.hop[(a, b)]
        return size * per_byte + fixed


@dataclass(slots=True)
class Placement:
    """Places of the actors (topological order) and their figures."""

    places: tuple[str, ...]
    names: tuple[str, ...]
    unloaded: float
    energy: float
    bytes_sent: float
    latency: float = math.nan
    p95: float = math.nan
    per_source: dict[str, dict[str, float]] = field(default_factory=dict)
    per_class: dict[int, dict[str, float]] = field(default_factory=dict)

    def score(self, objective: str) -> float:
        value = {
            "latency": self.latency,
            "p95": self.p95,
            "energy": self.energy,
            "bytes": self.bytes_sent,
        }[objective]
        return math.inf if math.isnan(value) else value

    @property
    def label(self) -> str:
        return ", ".join(f"{n}@{p}" for n, p in zip(self.names, self.places, strict=True))


def problem(s: Scenario, graph: str, devices: Sequence[str] | None = None) -> Problem:
    """The placement problem of ``graph`` (its actors from ``s.graphs``)."""
    spec = s.graphs[graph]
    if spec.actors is None:
        raise ValueError(f"graph {graph!r} chains a pipeline: plan it with --place")
    g = resolve(s, graph, spec)
    net = topology(list(s.devices), s.links)
    homes = {src.at for src in s.workload} | {src.at for h in graphs(s) for src in h.sources}
    pool = _pool(s, devices, homes)
    reach = [d for d in pool if all(nx.has_path(net, src.at, d) for src in g.sources)]
    places = (SOURCE, *reach)
    fixed = {a.on for a in g.actors.values() if a.on != SOURCE}
    ends = sorted({*reach, *fixed, *(src.at for src in g.sources)})
    seconds = {(n, d): _seconds(s, a, d) for n, a in g.actors.items() for d in ends}
    rates = [_rate(src) for src in g.sources]
    return Problem(
        graph=g,
        choices=tuple(places if _movable(a) else (a.on,) for a in g.actors.values()),
        sources=g.sources,
        weights=tuple(r / sum(rates) for r in rates),
        seconds=seconds,
        hop={
            (a, b): _route_cost(s, net, a, b) for a in ends for b in ends if nx.has_path(net, a, b)
        },
        power={d: _power(s, d) for d in ends},
    )


def cost(p: Problem, places: Sequence[str]) -> tuple[float, float, float]:
    """(unloaded latency, source-device energy, bytes leaving the source device), each the
    rate-weighted mean over the graph's sources."""
    total = [0.0, 0.0, 0.0]
    for src, w in zip(p.sources, p.weights, strict=True):
        figures = _one(p, places, src, complete=True)
        for i in range(3):
            total[i] += w * figures[i]
    return total[0], total[1], total[2]


def costed(p: Problem, places: Sequence[str]) -> Placement:
    """The placement ``places`` (one per actor, in topological order) with its unloaded figures."""
    latency, energy, sent = cost(p, places)
    return Placement(tuple(places), tuple(p.graph.actors), latency, energy, sent)


def search(p: Problem, objective: str = "latency", keep: int = KEEP) -> list[Placement]:
    """The ``keep`` best placements by the unloaded figure of ``objective`` (latency for
    p95), exactly, by branch and bound."""
    key = 1 if objective == "energy" else 2 if objective == "bytes" else 0
    best: list[tuple[float, float, tuple[str, ...]]] = []  # max-heap by (-figure, -latency)

    def bound(places: tuple[str, ...]) -> float:
        total = 0.0
        for src, w in zip(p.sources, p.weights, strict=True):
            total += w * _one(p, places, src, complete=False)[key]
        return total

    def visit(places: tuple[str, ...]) -> None:
        if len(places) == len(p.choices):
            figures = cost(p, places)
            entry = (-_nan_last(figures[key]), -figures[0], places)
            if len(best) < keep:
                heapq.heappush(best, entry)
            elif entry[:2] > best[0][:2]:
                heapq.heapreplace(best, entry)
            return
        for place in p.choices[len(places)]:
            nxt = (*places, place)
            if len(best) == keep and _nan_last(bound(nxt)) > -best[0][0]:
                continue
            visit(nxt)

    visit(())
    chosen = sorted(best, key=lambda e: (-e[0], -e[1], e[2]))
    return [costed(p, e[2]) for e in chosen]


def brute(p: Problem, objective: str = "latency") -> list[Placement]:
    """Every placement, best first by the unloaded figure (for tests and small graphs)."""
    key = 1 if objective == "energy" else 2 if objective == "bytes" else 0
    every = [costed(p, places) for places in itertools.product(*p.choices)]
    figure = ("unloaded", "energy", "bytes_sent")[key]
    return sorted(every, key=lambda x: (_nan_last(getattr(x, figure)), x.unloaded, x.places))


def evaluate(s: Scenario, p: Problem, candidates: list[Placement]) -> list[Placement]:
    """Each placement applied, evaluated by the analytic model; those the scenario's checks
    refuse are left out (all refused: the first's reason)."""
    out, refused = [], []
    for c in candidates:
        try:
            variant = apply(s, p.graph.name, c)
        except ScenarioError as exc:
            refused.append(exc.problems[0].line(""))
            continue
        figures = analyze(variant)["sources"]
        c.per_source = {
            src.name: {
                "unloaded": _one(p, c.places, src, complete=True)[0],
                "latency": _value(figures[src.name]["latency_mean"]),
                "p95": _value(figures[src.name]["latency_p95"]),
                "energy": _one(p, c.places, src, complete=True)[1],
                "bytes": _one(p, c.places, src, complete=True)[2],
            }
            for src in p.sources
        }
        c.latency = sum(
            w * c.per_source[src.name]["latency"]
            for src, w in zip(p.sources, p.weights, strict=True)
        )
        c.p95 = max(c.per_source[src.name]["p95"] for src in p.sources)
        c.per_class = _classes(p, c)
        out.append(c)
    if candidates and not out:
        raise ValueError(f"no placement passes the scenario's checks; the first: {refused[0]}")
    return out


def place(
    s: Scenario,
    graph: str,
    devices: Sequence[str] | None = None,
    objective: str = "latency",
    keep: int = KEEP,
) -> list[Placement]:
    """Candidate placements of ``graph``, best first by ``objective``: exact by enumeration
    with at most ``EXACT`` placements, else the heuristic (module docstring)."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective {objective!r} (known: {', '.join(OBJECTIVES)})")
    if graph not in s.graphs:
        raise ValueError(f"--graph: unknown graph {graph!r} (known: {', '.join(s.graphs)})")
    p = problem(s, graph, devices)
    count = math.prod(len(c) for c in p.choices)
    analytic = objective in ("latency", "p95")
    if analytic and count <= EXACT:
        candidates = [costed(p, places) for places in itertools.product(*p.choices)]
    else:
        candidates = search(p, objective, keep)
    done = evaluate(s, p, candidates)
    done.sort(key=lambda x: (not math.isfinite(x.latency), x.score(objective), x.unloaded))
    return done[:keep] if analytic else done


def problem_size(
    s: Scenario, graph: str, devices: Sequence[str] | None, objective: str, keep: int = KEEP
) -> str:
    """Which search :func:`place` uses for ``graph``, in words."""
    count = math.prod(len(c) for c in problem(s, graph, devices).choices)
    if objective not in ("latency", "p95"):
        return f"exact: branch and bound over {count} placements"
    if count <= EXACT:
        return f"exact: all {count} placements evaluated"
    return f"heuristic: the {keep} best of {count} by unloaded latency evaluated"


def apply(s: Scenario, graph: str, c: Placement) -> Scenario:
    """``s`` with ``graph``'s actors placed as ``c`` says."""
    spec = s.graphs[graph]
    assert spec.actors is not None
    where = dict(zip(c.names, c.places, strict=True))
    actors = {n: a.model_copy(update={"on": where[n]}) for n, a in spec.actors.items()}
    graphs = dict(s.graphs)
    graphs[graph] = spec.model_copy(update={"actors": actors})
    return revised(s, f"{s.name} (placed: {c.label})", graphs=graphs)


# -- the pieces ----------------------------------------------------------------


def _one(
    p: Problem, places: Sequence[str], src: SourceSpec, complete: bool
) -> tuple[float, float, float]:
    """One source's (latency, energy, bytes) for ``places``; with ``complete`` false, a lower
    bound over every completion of a partial placement."""
    g = p.graph
    finish: dict[str, float] = {}
    energy = sent = 0.0
    for k, (name, actor) in enumerate(g.actors.items()):
        here = p.device(places[k], src) if k < len(places) else None
        arrivals = []
        for q in actor.inputs or ("",):
            if q:
                kq = _index(g, q)
                there = p.device(places[kq], src) if kq < len(places) else None
                size, ready = g.actors[q].bytes_to(name), finish[q]
            else:
                there, size, ready = src.at, g.input_bytes, 0.0
            move = 0.0
            if there is not None and here is not None:
                move = p.transfer(there, here, size)
                sent += size if there == src.at and here != src.at else 0.0
            arrivals.append(ready + move)
        work = (
            p.seconds[(name, here)]
            if here is not None
            else min(p.seconds[(name, p.device(c, src))] for c in p.choices[k])
        )
        finish[name] = _join(actor, arrivals) + work
        if here == src.at:
            energy += work * p.power[src.at]
    ends = []
    for n in g.sinks:
        k = _index(g, n)
        back = (
            p.transfer(p.device(places[k], src), src.at, g.result_bytes) if k < len(places) else 0.0
        )
        ends.append(finish[n] + back)
    return max(ends), energy, sent


def _join(actor: Actor, arrivals: list[float]) -> float:
    ordered = sorted(arrivals)
    if actor.join == "first":
        return ordered[0]
    if isinstance(actor.join, KOfN):
        return ordered[actor.join.k - 1]
    return ordered[-1]


def _index(g: Graph, name: str) -> int:
    return g.actors[name].index


def _classes(p: Problem, c: Placement) -> dict[int, dict[str, float]]:
    """Per priority class of the graph's sources: rate-weighted latency, largest p95."""
    out: dict[int, dict[str, float]] = {}
    for prio in sorted({src.priority for src in p.sources}):
        members = [
            (src, w) for src, w in zip(p.sources, p.weights, strict=True) if src.priority == prio
        ]
        share = sum(w for _, w in members)
        out[prio] = {
            "latency": sum(w * c.per_source[src.name]["latency"] for src, w in members) / share,
            "p95": max(c.per_source[src.name]["p95"] for src, _ in members),
        }
    return out


def _pool(s: Scenario, devices: Sequence[str] | None, homes: set[str]) -> list[str]:
    if devices is None:
        return [d for d in s.devices if _costed(s, d) and d not in homes]
    for d in devices:
        if d not in s.devices:
            raise ValueError(f"--devices: unknown device {d!r} (known: {', '.join(s.devices)})")
        if not _costed(s, d):
            raise ValueError(f"--devices: {d!r} cannot run layers (no gflops or profile)")
    return list(devices)


def _movable(actor: Actor) -> bool:
    """Actors that do work can move; routers and joins without work stay where they are."""
    return bool(actor.span) or actor.service is not None


def _seconds(s: Scenario, actor: Actor, device: str) -> float:
    if actor.service is not None:
        return actor.service.mean
    if not actor.span:
        return 0.0
    if not _costed(s, device):
        return math.inf
    return span_cost(s, actor.span, device)


def _costed(s: Scenario, device: str) -> bool:
    spec = s.devices[device]
    return spec.profile is not None or spec.compute() is not None


def _power(s: Scenario, device: str) -> float:
    power = s.devices[device].power_busy
    return math.nan if power is None else power


def _rate(src: SourceSpec) -> float:
    rate = getattr(src.arrivals, "rate", None)
    return float(rate) if rate else 1.0


def _nan_last(x: float) -> float:
    return math.inf if math.isnan(x) else x


def _value(fig: dict[str, float | None]) -> float:
    value = fig["value"]
    return math.nan if value is None else value
