"""Cuts *and* placements for a chain of any length: where to split a pipeline's model and
which device runs each part.

Neurosurgeon's single cut between an endpoint and a server, generalised: a plan is a
sequence of segments of consecutive layers, each on a device, starting and ending at the
source's device. Its **unloaded cost** is additive over segments and hops: the layers'
seconds on their device (measured profile, or the roofline of :mod:`models.cost`, as the
simulation costs a stage) plus, at each change of device, the boundary tensor's transfer
over the lowest-latency route (serialisation ``size × 8 / bandwidth``, propagation and
mean jitter per hop), the source's input out and the result back. Dynamic programming
over (layers done, device of the last segment) finds the best plans exactly for that cost,
the ``keep`` best of them, in O(L² D² keep) for L cut points and D devices; segments
that do not fit a device's memory alone are never formed.

Queueing is not additive: a device's wait depends on everything placed on it, and on the
other sources. So for ``latency`` and ``p95`` the ``keep`` plans best by unloaded latency
are re-ranked by the analytic evaluator (:mod:`analysis.analytic`) on the whole scenario
with the plan applied, and the best of those is chosen: exact for an unloaded network, a
heuristic under load (a plan outside the unloaded top ``keep`` is never considered).
``energy`` (the source device's busy energy per inference) and ``bytes`` (what leaves it)
are additive and ranked by the dynamic programme itself, ties broken by unloaded latency.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from analysis.analytic import analyze
from analysis.planner import boundaries
from models.cost import Layer, memory_needed
from sim.loader import ScenarioError, revised
from sim.routes import route, topology
from sim.spec import PipelineSpec, Scenario, SourceSpec, StageSpec

OBJECTIVES = ("latency", "p95", "energy", "bytes")
KEEP = 8


@dataclass(frozen=True, slots=True)
class Segment:
    """Layers ``first``..``last`` (names) on ``device``, and their unloaded seconds there."""

    device: str
    first: str
    last: str
    seconds: float


@dataclass(slots=True)
class Plan:
    """A chain's placement and its figures: unloaded (additive) and, once evaluated, analytic."""

    segments: tuple[Segment, ...]
    unloaded: float
    endpoint_seconds: float
    endpoint_energy: float
    bytes_sent: float
    latency: float = math.nan
    p95: float = math.nan
    per_source: dict[str, dict[str, float]] = field(default_factory=dict)

    def score(self, objective: str) -> float:
        value = {
            "latency": self.latency,
            "p95": self.p95,
            "energy": self.endpoint_energy,
            "bytes": self.bytes_sent,
        }[objective]
        return math.inf if math.isnan(value) else value

    @property
    def label(self) -> str:
        return " | ".join(f"{g.device}: {g.first}–{g.last}" for g in self.segments)


@dataclass(frozen=True, slots=True)
class Problem:
    """What the dynamic programme needs, precomputed: per-device prefix sums of layer
    seconds, boundary tensor sizes, the cut points allowed, the transfer times."""

    names: tuple[str, ...]
    layers: tuple[Layer, ...]
    devices: tuple[str, ...]
    at: str
    cuts: tuple[int, ...]  # allowed boundaries: layers done before the cut (0 and L included)
    prefix: dict[str, np.ndarray]  # device -> cumulative seconds, length L + 1
    sizes: tuple[float, ...]  # bytes crossing boundary j (j = 0: the input; j = L: the result)
    fits: dict[str, float]  # device -> memory (inf when unset)
    power: dict[str, float]  # device -> busy power (nan when unset)
    hop: dict[tuple[str, str], tuple[float, float]]  # (a, b) -> (seconds per byte, fixed s)

    def compute(self, device: str, i: int, j: int) -> float:
        return float(self.prefix[device][j] - self.prefix[device][i])

    def transfer(self, a: str, b: str, size: float) -> float:
        per_byte, fixed = self.hop[(a, b)]
        return size * per_byte + fixed


def problem(s: Scenario, source: SourceSpec, devices: Sequence[str] | None = None) -> Problem:
    """The placement problem of ``source``'s pipeline over ``devices`` (default: every device
    that can run layers and is reachable from the source)."""
    table = s.table
    if table is None:
        raise ValueError("placement needs a model to cut")
    graph = topology(list(s.devices), s.links)
    pool = list(devices) if devices is not None else [d for d in s.devices if _costed(s, d)]
    for d in pool:
        if d not in s.devices:
            raise ValueError(f"--devices: unknown device {d!r} (known: {', '.join(s.devices)})")
        if not _costed(s, d):
            raise ValueError(f"--devices: {d!r} cannot run layers (no gflops or profile)")
    pool = [d for d in pool if nx.has_path(graph, source.at, d)]
    layers = table.cost_layers()
    prefix = {}
    for d in pool:
        seconds = _layer_seconds(s, d)
        prefix[d] = np.concatenate([[0.0], np.cumsum(seconds)])
    result = s.pipelines[source.pipeline].result_bytes
    sizes = (table.input_bytes, *(x.output_bytes for x in layers[:-1]), result)
    ends = sorted({*pool, source.at})
    hop = {(a, b): _route_cost(s, graph, a, b) for a in ends for b in ends}
    cuts = tuple(sorted({0, len(layers), *(i + 1 for _, i in boundaries(s)[1:-1])}))
    return Problem(
        tuple(x.name for x in layers), tuple(layers), tuple(pool), source.at, cuts, prefix, sizes,
        {d: s.devices[d].memory or math.inf for d in pool},
        {d: _power(s, d) for d in pool},
        hop,
    )  # fmt: skip


def search(p: Problem, objective: str = "latency", keep: int = KEEP) -> list[Plan]:
    """The ``keep`` best plans by the additive cost of ``objective`` (latency for p95)."""
    weights = _memory_by_segment(p, p.layers) if any(map(math.isfinite, p.fits.values())) else None
    # best[(j, d)]: up to `keep` partial plans, (key, segments) with layers [0, j) done, the
    # last segment on d; start: nothing done, "on" the source's device without compute.
    start = ((0.0, 0.0, 0.0, 0.0), ())
    best: dict[tuple[int, str], list[tuple[tuple[float, ...], tuple[tuple[str, int, int], ...]]]]
    best = {(0, p.at): [start]}
    for j in p.cuts[1:]:
        for d in p.devices:
            found = []
            for i in p.cuts:
                if i >= j:
                    break
                if weights is not None and weights[(i, j)] > p.fits[d]:
                    continue
                for (k, prev), partials in best.items():
                    if k != i or (prev == d and i > 0):
                        continue
                    for key, segs in partials:
                        found.append((_extend(p, key, prev, d, i, j), (*segs, (d, i, j))))
            if found:
                best[(j, d)] = heapq.nsmallest(keep, found, key=lambda x: _rank(x[0], objective))
    finals = []
    for (j, d), partials in best.items():
        if j != len(p.names):
            continue
        for key, segs in partials:
            back = p.transfer(d, p.at, p.sizes[-1])
            total = (key[0] + back, key[1], key[2], key[3])
            finals.append((total, segs))
    chosen = heapq.nsmallest(keep, finals, key=lambda x: _rank(x[0], objective))
    return [_plan(p, key, segs) for key, segs in chosen]


def evaluate(s: Scenario, source: SourceSpec, plans: list[Plan]) -> list[Plan]:
    """Each plan applied to ``source``'s pipeline, evaluated by the analytic model; plans the
    scenario's checks refuse (memory shared with other stages, say) are left out."""
    out, refused = [], []
    for plan in plans:
        try:
            variant = apply(s, source.pipeline, plan)
        except ScenarioError as exc:
            refused.append(exc.problems[0].line(""))
            continue
        figures = analyze(variant)["sources"]
        own = figures[source.name]
        plan.latency = _value(own["latency_mean"])
        plan.p95 = _value(own["latency_p95"])
        plan.per_source = {
            name: {"latency": _value(f["latency_mean"]), "p95": _value(f["latency_p95"])}
            for name, f in figures.items()
        }
        out.append(plan)
    if plans and not out:
        raise ValueError(f"no placement passes the scenario's checks; the best: {refused[0]}")
    return out


def place(
    s: Scenario,
    pipeline: str | None = None,
    devices: Sequence[str] | None = None,
    objective: str = "latency",
    keep: int = KEEP,
) -> list[Plan]:
    """The candidate plans for ``pipeline`` (default: the first), best first by ``objective``."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective {objective!r} (known: {', '.join(OBJECTIVES)})")
    name = pipeline or next(iter(s.pipelines))
    source = next((src for src in s.workload if src.pipeline == name), None)
    if source is None:
        raise ValueError(f"pipeline {name!r} has no source to plan for")
    plans = evaluate(s, source, search(problem(s, source, devices), objective, keep))
    return sorted(
        plans, key=lambda x: (not math.isfinite(x.latency), x.score(objective), x.unloaded)
    )


def apply(s: Scenario, pipeline: str, plan: Plan) -> Scenario:
    """``s`` with ``pipeline``'s stages replaced by ``plan``'s segments. A segment on a device
    that ran a stage before keeps that stage's fault tolerance (standby, replicas, policy);
    the plan places the primary copies only."""
    old = s.pipelines[pipeline]
    before = {st.on: st for st in reversed(old.stages)}
    stages = tuple(_stage(g, before.get(g.device)) for g in plan.segments)
    pipelines: dict[str, PipelineSpec] = dict(s.pipelines)
    pipelines[pipeline] = old.model_copy(update={"stages": stages})
    return revised(s, f"{s.name} (placed: {plan.label})", pipelines=pipelines)


# -- the pieces ----------------------------------------------------------------


def _stage(g: Segment, like: StageSpec | None) -> StageSpec:
    if like is None:
        return StageSpec(layers=(g.first, g.last), on=g.device)
    return like.model_copy(update={"layers": (g.first, g.last), "service": None})


def _extend(
    p: Problem, key: tuple[float, ...], prev: str, d: str, i: int, j: int
) -> tuple[float, ...]:
    """The partial plan's (latency, energy, bytes, endpoint seconds) with [i, j) on ``d``."""
    seconds = p.compute(d, i, j)
    latency = key[0] + p.transfer(prev, d, p.sizes[i]) + seconds
    sent = p.sizes[i] if prev == p.at and d != p.at else 0.0
    local = seconds if d == p.at else 0.0
    energy = local * p.power[d] if local else 0.0
    return (latency, key[1] + energy, key[2] + sent, key[3] + local)


def _rank(key: tuple[float, ...], objective: str) -> tuple[float, float]:
    if objective == "energy":
        return (key[1] if not math.isnan(key[1]) else math.inf, key[0])
    if objective == "bytes":
        return (key[2], key[0])
    return (key[0], 0.0)


def _plan(p: Problem, key: tuple[float, ...], segs: tuple[tuple[str, int, int], ...]) -> Plan:
    segments = tuple(Segment(d, p.names[i], p.names[j - 1], p.compute(d, i, j)) for d, i, j in segs)
    local = key[3]
    power = p.power.get(p.at, math.nan)
    energy = local * power if local else (0.0 if not math.isnan(power) else math.nan)
    return Plan(segments, key[0], local, energy, key[2])


def _memory_by_segment(p: Problem, layers: Sequence[Layer]) -> dict[tuple[int, int], float]:
    """Bytes each segment between allowed cuts needs on its device (weights + activations)."""
    return {(i, j): memory_needed(layers[i:j], p.sizes[i]) for i in p.cuts for j in p.cuts if i < j}


def _layer_seconds(s: Scenario, device: str) -> list[float]:
    """Seconds of each layer on ``device``, as :func:`sim.costs.stage_cost` sums them."""
    table = s.table
    assert table is not None
    spec = s.devices[device]
    names = [x.name for x in table.layers]
    if spec.profile is not None:
        return [spec.measured([n]) or 0.0 for n in names]
    compute = spec.compute()
    assert compute is not None
    layers = table.cost_layers()
    before = [table.input_bytes, *(x.output_bytes for x in layers[:-1])]
    return [compute.layer_time(x, b) for x, b in zip(layers, before, strict=True)]


def _power(s: Scenario, device: str) -> float:
    power = s.devices[device].power_busy
    return math.nan if power is None else power


def _costed(s: Scenario, device: str) -> bool:
    spec = s.devices[device]
    return spec.profile is not None or spec.compute() is not None


def _route_cost(s: Scenario, graph: nx.Graph, a: str, b: str) -> tuple[float, float]:
    """(seconds per byte, fixed seconds) of the unloaded transfer from ``a`` to ``b``."""
    per_byte, fixed = 0.0, 0.0
    for index, _, _ in route(graph, a, b):
        link = s.links[index]
        per_byte += 8.0 / link.bandwidth
        fixed += link.latency + (link.jitter.mean if link.jitter else 0.0)
    return per_byte, fixed


def _order(plan: Plan, objective: str) -> tuple[bool, float, float]:
    """Stable plans first (a finite analytic latency), then by the objective."""
    return (not math.isfinite(plan.latency), plan.score(objective), plan.unloaded)


def _value(fig: dict[str, float | None]) -> float:
    value = fig["value"]
    return math.nan if value is None else value
