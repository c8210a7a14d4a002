"""Placement of a dataflow graph's actors on devices, under each objective.

The unloaded cost of a placement is :mod:`analysis.graph_costs`'s. **Search.**
:func:`search` is a branch and bound over actors in topological order: a partial
placement's bound never exceeds the cost of a completion (every join is monotone), so the
``keep`` best placements by unloaded latency, energy or bytes are exact. **Latency and
p95** are the analytic model's (:func:`analysis.analytic.analyze` on the whole scenario
with the placement applied): with at most ``EXACT`` placements every one is evaluated
(exact); beyond, :func:`heuristic`: the ``keep`` best by unloaded latency are evaluated,
then the best of them improved by moving one actor at a time while the objective improves
(an unstable placement, one that saturates a station, by lowering its busiest station's
offered load); its gap against the exact search in docs/planning.md.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from analysis.analytic import analyze, offered_load
from analysis.graph_costs import Problem, cost, figures, problem
from sim.loader import ScenarioError, revised
from sim.spec import Scenario

OBJECTIVES = ("latency", "p95", "energy", "bytes")
EXACT = 256
"""Placements evaluated one by one by the analytic model; beyond, the heuristic."""
KEEP = 8


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
    load: float = math.nan  # an unstable placement's busiest station's offered load
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
            total += w * figures(p, places, src, complete=False)[key]
        return total

    def visit(places: tuple[str, ...]) -> None:
        if len(places) == len(p.choices):
            total = cost(p, places)
            entry = (-_nan_last(total[key]), -total[0], places)
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
        analytic = analyze(variant)["sources"]
        if not all(math.isfinite(_value(analytic[src.name]["latency_mean"])) for src in p.sources):
            c.load = max(offered_load(variant).values())
        c.per_source = {}
        for src in p.sources:
            unloaded, energy, sent = figures(p, c.places, src, complete=True)
            c.per_source[src.name] = {
                "unloaded": unloaded,
                "latency": _value(analytic[src.name]["latency_mean"]),
                "p95": _value(analytic[src.name]["latency_p95"]),
                "energy": energy,
                "bytes": sent,
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
    if objective not in ("latency", "p95"):
        return sorted(evaluate(s, p, search(p, objective, keep)), key=_order(objective))
    if math.prod(len(c) for c in p.choices) > EXACT:
        return heuristic(s, p, objective, keep)[:keep]
    every = [costed(p, places) for places in itertools.product(*p.choices)]
    return sorted(evaluate(s, p, every), key=_order(objective))[:keep]


def heuristic(s: Scenario, p: Problem, objective: str, keep: int = KEEP) -> list[Placement]:
    """The ``keep`` best by unloaded latency, evaluated; then, from the best of them, one
    actor moved at a time to another place while that improves ``objective`` (first
    improvement, until no move does). Everything evaluated, best first."""
    rank = _order(objective)
    done = sorted(evaluate(s, p, search(p, objective, keep)), key=rank)
    seen = {c.places for c in done}
    current, moved = done[0], True
    while moved:
        moved = False
        for k, choices in enumerate(p.choices):
            for place in choices:
                places = (*current.places[:k], place, *current.places[k + 1 :])
                if places in seen:
                    continue
                seen.add(places)
                try:
                    (tried,) = evaluate(s, p, [costed(p, places)])
                except ValueError:  # refused by the scenario's checks
                    continue
                done.append(tried)
                if rank(tried) < rank(current):
                    current, moved = tried, True
    return sorted(done, key=rank)


def problem_size(
    s: Scenario, graph: str, devices: Sequence[str] | None, objective: str, keep: int = KEEP
) -> str:
    """Which search :func:`place` uses for ``graph``, in words."""
    count = math.prod(len(c) for c in problem(s, graph, devices).choices)
    if objective not in ("latency", "p95"):
        return f"exact: branch and bound over {count} placements"
    if count <= EXACT:
        return f"exact: all {count} placements evaluated"
    return (
        f"heuristic: the {keep} best of {count} by unloaded latency, then one actor moved at "
        "a time while the analytic figure improves"
    )


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


def _order(objective: str) -> Callable[[Placement], tuple[bool, float, float]]:
    """Stable placements first (a finite analytic latency) by ``objective``, then unstable
    ones by their busiest station's offered load (so moves go towards stability)."""

    def key(c: Placement) -> tuple[bool, float, float]:
        stable = math.isfinite(c.latency)
        return (not stable, c.score(objective) if stable else _nan_last(c.load), c.unloaded)

    return key


def _nan_last(x: float) -> float:
    return math.inf if math.isnan(x) else x


def _value(fig: dict[str, float | None]) -> float:
    value = fig["value"]
    return math.nan if value is None else value


__all__ = ["problem"]
