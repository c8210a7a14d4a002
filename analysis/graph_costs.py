"""The unloaded cost of placing a dataflow graph's actors on devices (no queueing).

A **placement** gives every actor of a graph a place: ``$source`` (the device of the
source whose request it serves) or a device. Candidates are ``$source`` and every
device that can run layers, is reachable, and is no source's own device (another
camera is not a server); ``devices`` narrows them.

Per source, an actor finishes at its join over its inputs (``all``: the latest,
``first``: the earliest, ``k_of_n``: the k-th) of each input's finish plus the transfer
of what that input sends it (a cut-set part sends each successor its own tensors,
:meth:`sim.graph.expand.Actor.bytes_to`), plus its own seconds on its device; the
request ends when every sink's result is back. Transfers cost ``size × 8 / bandwidth``
plus propagation and mean jitter per hop of the lowest-latency route. Exits are ignored
(every actor fires). The source device's busy seconds × its busy power give the
**energy**, what leaves it the **bytes**; a graph's figure is its sources' rate-weighted
mean. With a partial placement, :func:`figures` gives a lower bound over its completions
(unplaced actors at their fastest candidate, their transfers free), for the search's
branch and bound.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import networkx as nx

from analysis.placement import _route_cost
from sim.graph.expand import Actor, Graph, graphs, resolve
from sim.graph.samplers import span_cost
from sim.graph.spec import SOURCE, KOfN
from sim.routes import topology
from sim.spec import Scenario, SourceSpec


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
        one = figures(p, places, src, complete=True)
        for i in range(3):
            total[i] += w * one[i]
    return total[0], total[1], total[2]


def figures(
    p: Problem, places: Sequence[str], src: SourceSpec, complete: bool
) -> tuple[float, float, float]:
    """One source's (latency, energy, bytes) for ``places`` (the first actors' places, in
    topological order); with ``complete`` false, a lower bound over its completions."""
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
