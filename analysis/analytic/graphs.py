"""The analytic model of dataflow graphs: their load on the stations, and their latency.

**Load.** A graph source with rate λ offers each actor λ × its reach (the probability
that a request fires it: :mod:`analysis.analytic.outcomes`) at the device it runs on,
and each edge λ × the probability that its producer hands its output on at the link
media of the route between the two devices (the source's input to the entry actors,
each sink's and each exit's result back to the source likewise). These flows join
the pipelines' at the same stations, so utilisations, waits, the offered load and
``load.stable`` count both. Along a chain (one producer with one successor and no
exit) the visits are one flow, so QNA carries the arrival variability from station
to station as for a pipeline; a flow that starts after a fork, a join or an exit
starts with the source's variability thinned by the exits before it (QNA splitting:
q c² + 1 − q).

**Latency.** In each service state, every actor's sojourn is its device's wait (0 with
probability 1 − P(wait), else exponential: exact for M/M/c) convolved with the law of
its service time; every transfer is its propagation plus the gamma law of its waits,
serialisation and jitter, mixed over its retransmissions. These laws are held on a grid
(:mod:`analysis.analytic.laws`) and combined by the graph's structure
(:mod:`analysis.analytic.structure`), once per outcome of the early exits; the
outcomes' laws are mixed by their probabilities. A graph source is served in a state
when its device, every device its actors run on and the routes between them are up.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import networkx as nx
import numpy as np

from analysis.analytic import laws as L
from analysis.analytic.network import Flow, GraphSojourn, Sojourn, StateResult, Station, Visit
from analysis.analytic.outcomes import Outcome, handed, outcomes, reach, returned
from analysis.analytic.stations import mean_wait
from analysis.analytic.structure import Edge, Net, Rule
from analysis.queueing import wait_variance
from sim.distributions import Exponential
from sim.graph.expand import Actor, Graph, graphs
from sim.graph.samplers import span_cost
from sim.graph.spec import KOfN
from sim.spec import SourceSpec

if TYPE_CHECKING:
    from analysis.analytic.analyzer import Analyzer

POINTS = 8192
"""Grid points of a graph source's latency laws."""
SPAN = 10.0
"""The grid reaches Σ over the parts of (mean + SPAN standard deviations)."""

Piece = tuple[str, ...]  # ("in", actor) | ("act", actor) | ("edge", u, v) | ("out", actor)


@dataclass(slots=True)
class Part:
    """One piece's law before it is put on the grid: moments and how to build it."""

    mean: float
    sd: float
    delivered: float = 1.0
    dropped: float = 0.0
    rho: float | None = None  # the one M/M/1 station it is (for Nelson–Tantawi)
    device: str = ""
    moved: Sojourn | None = None  # a transfer's law
    wait: tuple[float, float] = (0.0, 0.0)  # an actor's mean wait and probability of waiting


class Dataflow:
    """The graph sources of one scenario, for the analytic model."""

    def __init__(self, a: Analyzer) -> None:
        self.a = a
        self.graphs = graphs(a.s)
        self.outcomes = {g.name: outcomes(g) for g in self.graphs}
        self._done: dict[Hashable, GraphSojourn] = {}  # latency laws by signature

    @property
    def sources(self) -> list[tuple[Graph, SourceSpec]]:
        return [(g, src) for g in self.graphs for src in g.sources]

    def served(self, g: Graph, src: SourceSpec, down: frozenset[str], up: nx.Graph) -> bool:
        """Whether the source's device, its actors' devices and routes between them are up."""
        if src.at in down or src.at not in up:
            return False
        reach_ = nx.node_connected_component(up, src.at)
        return all(a.device(src.at) in reach_ for a in g.actors.values())

    # -- load -----------------------------------------------------------------

    def flows(self, down: frozenset[str], up: nx.Graph) -> list[Flow]:
        """The load of every graph source served in the state, as flows (not counted)."""
        out: list[Flow] = []
        for g, src in self.sources:
            if self.served(g, src, down, up):
                out += self._load(g, src, up)
        return out

    def _load(self, g: Graph, src: SourceSpec, up: nx.Graph) -> list[Flow]:
        rate, scv, _ = self.a.arrivals(src)
        found = self.outcomes[g.name]
        out: list[Flow] = []

        def flow(share: float) -> Flow:
            f = Flow(src.name, rate * share, share * scv + 1 - share, counted=False)
            out.append(f)
            return f

        chains: dict[str, Flow] = {}  # actor -> the flow its chain's visits go on
        for n, actor in g.actors.items():
            here = actor.device(src.at)
            if (q := reach(found, n)) > 0:
                f = self._chain(g, n, chains) or flow(q)
                chains[n] = f
                if len(actor.inputs) == 1:
                    self._send(f, up, g, src, (actor.inputs[0], n))
                elif not actor.inputs:
                    self.a._transfer(f, up, src.at, here, g.input_bytes)
                mean, second = self.service(actor, here)
                f.visits.append(Visit(here, mean, second, src.priority))
            for i in actor.inputs if len(actor.inputs) > 1 else ():
                if (p := handed(found, i)) > 0:
                    self._send(flow(p), up, g, src, (i, n))
            if (r := returned(found, g, n)) > 0:
                ends = n in chains and math.isclose(r, q) and not g.successors[n]
                self.a._transfer(chains[n] if ends else flow(r), up, here, src.at, g.result_bytes)
        return out

    @staticmethod
    def _chain(g: Graph, name: str, chains: dict[str, Flow]) -> Flow | None:
        """The flow of the chain ``name`` continues: its one producer's, when that has no
        other successor and no exit (the rate is the same, and QNA carries the
        variability from visit to visit); None where a new flow starts."""
        inputs = g.actors[name].inputs
        if len(inputs) != 1 or len(g.successors[inputs[0]]) != 1 or g.actors[inputs[0]].exit:
            return None
        return chains.get(inputs[0])

    def _send(self, f: Flow, up: nx.Graph, g: Graph, src: SourceSpec, edge: Piece) -> None:
        u, v = g.actors[edge[0]], g.actors[edge[1]]
        self.a._transfer(f, up, u.device(src.at), v.device(src.at), u.bytes_to(v.name))

    def service(self, actor: Actor, device: str) -> tuple[float, float]:
        """Mean and second moment of ``actor``'s service time on ``device``."""
        if actor.service is not None:
            return actor.service.mean, actor.service.variance + actor.service.mean**2
        cost = span_cost(self.a.s, actor.span, device)
        noise = self.a.s.devices[device].service_noise
        m, v = (noise.mean, noise.variance) if noise else (1.0, 0.0)
        return cost * m, cost**2 * (v + m**2)

    def state(
        self, result: StateResult, stations: dict[str, Station], down: frozenset[str], up: nx.Graph
    ) -> None:
        """Each graph source's latency law, throughput and unmodelled features in a state."""
        for g, src in self.sources:
            result.throughput[src.name] = 0.0
            if not self.served(g, src, down, up):
                continue
            used = [stations[a.device(src.at)] for n, a in g.actors.items()
                    if reach(self.outcomes[g.name], n) > 0]  # fmt: skip
            missing = next((st.missing for st in used if st.missing), None)
            if missing is not None:
                result.missing[src.name] = missing
            soj = self.latency(g, src, stations, up)
            result.graphs[src.name] = soj
            worst = max((st.rho for st in used if st.queue is None), default=0.0)
            cap = min(1.0, 1 / worst) if worst > 0 else 1.0
            result.throughput[src.name] = self.a.arrivals(src)[0] * soj.delivered * cap

    # -- latency --------------------------------------------------------------

    def latency(
        self, g: Graph, src: SourceSpec, stations: dict[str, Station], up: nx.Graph
    ) -> GraphSojourn:
        """The latency law of the source's delivered requests in one state (a source alike
        another in every part's numbers and in which parts share devices reuses its law)."""
        parts = self._parts(g, src, stations, up)
        key = self._signature(g, src, parts)
        if key not in self._done:
            self._done[key] = self._latency(g, parts)
        return self._done[key]

    def _signature(self, g: Graph, src: SourceSpec, parts: dict[Piece, Part]) -> Hashable:
        roles: dict[str, int] = {}
        devices = [p.device for p in parts.values() if p.device]
        out: list[Hashable] = [g.name]
        for piece, p in parts.items():
            noise = self.a.s.devices[p.device].service_noise if p.device else None
            m = p.moved
            law = m and (m.mean, m.var, m.shift, m.extra.tobytes(), m.weight.tobytes())
            # a device of one part only is named by its role (its sources alike can share
            # a law); one that several parts share is named, as the method names it
            role: Hashable = roles.setdefault(p.device, len(roles)) if p.device else -1
            if devices.count(p.device) > 1:
                role = p.device
            out.append((piece, p.mean, p.sd, p.delivered, p.dropped, p.rho, role, repr(noise), law))
        return tuple(out)

    def _latency(self, g: Graph, parts: dict[Piece, Part]) -> GraphSojourn:
        found = self.outcomes[g.name]
        weight = {p: _used(found, g, p) for p in parts}
        delivered = math.prod(parts[p].delivered ** weight[p] for p in parts)
        dropped = 1 - math.prod((1 - parts[p].dropped) ** weight[p] for p in parts)
        if not all(math.isfinite(p.mean) for p in parts.values()):
            return GraphSojourn(None, delivered, dropped, 1 - delivered - dropped, "saturated")
        timeouts = sum(a.join.timeout or 0 for a in g.actors.values() if isinstance(a.join, KOfN))
        span = sum(p.mean + SPAN * p.sd for p in parts.values()) + timeouts
        h = max(span, 1e-9) / POINTS
        made = {p: self._law(g, p, parts[p], h) for p in parts}
        notes: set[str] = set()
        mixed = [(o.probability, self._outcome(g, o, made, parts, notes)) for o in found]
        kept = [(w, law) for w, law in mixed if law is not None]
        law = L.mix([w for w, _ in kept], [x for _, x in kept])
        if len(found) > 1:
            notes.add(f"exits: mixture of {len(found)} outcomes")
        method = "; ".join(["grid laws", *sorted(notes)])
        return GraphSojourn(law, delivered, dropped, max(0.0, 1 - delivered - dropped), method)

    def _parts(
        self, g: Graph, src: SourceSpec, stations: dict[str, Station], up: nx.Graph
    ) -> dict[Piece, Part]:
        found = self.outcomes[g.name]
        out: dict[Piece, Part] = {}
        for n, actor in g.actors.items():
            here = actor.device(src.at)
            if (q := reach(found, n)) <= 0:
                continue
            if not actor.inputs:
                out[("in", n)] = self._moved(src.at, here, g.input_bytes, stations, up)
            out[("act", n)] = self._acted(actor, src, stations, self.a.arrivals(src)[0] * q)
            for m in g.successors[n] if handed(found, n) > 0 else ():
                there = g.actors[m].device(src.at)
                out[("edge", n, m)] = self._moved(here, there, actor.bytes_to(m), stations, up)
            if returned(found, g, n) > 0:
                out[("out", n)] = self._moved(here, src.at, g.result_bytes, stations, up)
        return out

    def _moved(
        self, frm: str, to: str, size: float, stations: dict[str, Station], up: nx.Graph
    ) -> Part:
        f = Flow("", 0.0, 1.0)
        self.a._transfer(f, up, frm, to, size)
        soj = self.a._sojourn(f, stations)
        spread = float(np.max(soj.extra)) if len(soj.extra) else 0.0
        return Part(soj.total, math.sqrt(soj.var) + spread, soj.delivered, soj.dropped, moved=soj)

    def _acted(
        self, actor: Actor, src: SourceSpec, stations: dict[str, Station], rate: float
    ) -> Part:
        """An actor's wait and service; ``rate``: the source's requests that fire it."""
        here = actor.device(src.at)
        st = stations[here]
        mean, second = self.service(actor, here)
        wait, p_wait, dropped = self._wait(st, Visit(here, mean, second, src.priority))
        var = second - mean**2 + wait_variance(wait, p_wait)
        rho = None
        plain = st.queue is None and st.servers == 1 and not st.priority
        lone = abs(st.rate - rate) <= 1e-9 * rate and abs(st.ca2 - 1) <= 1e-9
        if plain and lone and isinstance(actor.service, Exponential) and abs(st.cs2 - 1) <= 1e-9:
            rho = st.rho
        return Part(wait + mean, math.sqrt(max(var, 0.0)), 1.0, dropped, rho, here,
                    wait=(wait, p_wait))  # fmt: skip

    @staticmethod
    def _wait(st: Station, v: Visit) -> tuple[float, float, float]:
        """Mean wait, probability of waiting and fraction dropped at a station."""
        if st.queue is not None:
            return st.queue.wait, st.queue.p_wait, st.queue.blocking
        if st.rho >= 1 and st.mean > 0:
            return math.inf, 1.0, 0.0
        wait, p_wait = mean_wait(st, v)
        return wait, p_wait, 0.0

    def _law(self, g: Graph, piece: Piece, part: Part, h: float) -> L.Law:
        if part.moved is not None:
            soj = part.moved
            made = [L.gamma(soj.mean, soj.var, h, POINTS, soj.shift + x) for x in soj.extra]
            return L.mix(list(soj.weight), made)
        actor = g.actors[piece[1]]
        here = part.device
        wait, p_wait = part.wait
        if actor.service is not None:
            serve = L.service(actor.service, 1.0, h, POINTS)
        else:
            cost = span_cost(self.a.s, actor.span, here)
            noise = self.a.s.devices[here].service_noise
            serve = L.service(noise, cost, h, POINTS) if noise else L.point(cost, h, POINTS)
        return L.convolve(L.wait(p_wait, wait, h, POINTS), serve)

    def _outcome(
        self,
        g: Graph,
        o: Outcome,
        made: dict[Piece, L.Law],
        parts: dict[Piece, Part],
        notes: set[str],
    ) -> L.Law | None:
        """The latency law of one outcome of the exits; None if it never completes."""
        edges: list[Edge] = []

        def add(tail: str, head: str, piece: Piece) -> None:
            part = parts[piece]
            devices = frozenset([part.device]) if part.device else frozenset()
            edges.append(Edge(tail, head, made[piece], part.rho, devices))

        rules = {"S": Rule("all"), "T": Rule("first" if o.exits else "all"), "N": Rule("all")}
        for n in o.fires:
            actor = g.actors[n]
            rules[f"{n}:in"] = _rule(actor)
            rules[f"{n}:out"] = Rule("all")
            if not actor.inputs:
                add("S", f"{n}:in", ("in", n))
            add(f"{n}:in", f"{n}:out", ("act", n))
            for m in g.successors[n] if n in o.delivers else ():
                if m in o.fires:
                    add(f"{n}:out", f"{m}:in", ("edge", n, m))
            if n in o.exits:
                add(f"{n}:out", "T", ("out", n))
        complete = o.completes(g)
        if complete:
            for n in g.sinks:
                add(f"{n}:out", "N" if o.exits else "T", ("out", n))
        if o.exits and complete:
            edges.append(Edge("N", "T", L.point(0.0, edges[0].law.h, POINTS)))
        if not o.exits and not complete:
            return None
        net = Net(edges, rules)
        law = net.law()
        notes |= net.notes
        return law


def _rule(actor: Actor) -> Rule:
    join = actor.join
    if isinstance(join, KOfN):
        return Rule("k_of_n", join.k, join.timeout)
    return Rule(join)


def _used(found: list[Outcome], g: Graph, piece: Piece) -> float:
    """Probability that a request uses ``piece`` (for its losses)."""
    kind, name = piece[0], piece[1]
    if kind in ("in", "act"):
        return reach(found, name)
    if kind == "edge":
        return handed(found, name)
    return returned(found, g, name)
