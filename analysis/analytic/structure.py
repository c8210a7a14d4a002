"""A graph's latency from its structure: series-parallel reduction of a network of laws.

The request's path is a two-terminal network: edges carry latency laws (a transfer, an
actor's wait and service) and each node joins its incoming edges as the actor it stands
for does (``all``, ``first``, ``k_of_n``). The network is reduced as a series-parallel
graph:

* **series**: a node with one edge in and one out is removed, the two laws convolved
  (with a ``k_of_n`` timeout added where one input is left and k > 1);
* **parallel**: edges between the same two nodes are joined by their head's rule: the
  maximum (``all``), the minimum (``first``), the k-th order statistic (``k_of_n``,
  once every input of the head comes from the same fork), all of independent branches.

For an ``all`` join of K identical branches that are each one M/M/1 station fed by the
same requests, the maximum of independent laws overstates the mean (the branches see
the same arrivals, so their waits are positively correlated): the law is scaled to
the two-server fork-join mean (12 − ρ)/8 · R, exact (Nelson & Tantawi 1988, after
Flatto & Hahn), and for K > 2 to Nelson–Tantawi's approximation
[H_K / H_2 + 4/11 (1 − H_K / H_2) ρ] (12 − ρ)/8 · R, R = 1 / (μ − λ).

A network that does not reduce to one edge is not series-parallel: what is left is
evaluated node by node, each node's time the join of its inputs taken as independent.
Each rule applied is noted, so every figure can name its method.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from graphlib import TopologicalSorter

import numpy as np

from analysis.analytic import laws as L

BINS = 16
"""Values of a fork's time a network that is not series-parallel is conditioned on."""
DEPTH = 2
"""Nested conditionings before the rest is evaluated node by node."""


@dataclass(frozen=True, slots=True)
class Rule:
    """How a node joins its inputs: ``all``, ``first``, or k of them (``timeout`` caps)."""

    kind: str
    k: int = 1
    timeout: float | None = None


@dataclass(slots=True, eq=False)
class Edge:
    tail: str
    head: str
    law: L.Law
    rho: float | None = None  # ρ of the one M/M/1 station the edge is, else None
    devices: frozenset[str] = frozenset()


@dataclass(slots=True)
class Net:
    """Edges between nodes, each node's rule; ``start`` and ``end`` the two terminals."""

    edges: list[Edge]
    rules: dict[str, Rule]
    start: str = "S"
    end: str = "T"
    notes: set[str] = field(default_factory=set)

    def law(self, depth: int = 0) -> L.Law:
        """The law of the time from ``start`` to ``end``."""
        self.edges = useful(self.edges, self.end)
        while self._parallel() or self._series():
            pass
        if len(self.edges) == 1:
            return self.edges[0].law
        fork = self._fork()
        if fork is not None and depth < DEPTH:
            return self._conditioned(fork, depth)
        self.notes.add("not series-parallel: node by node, inputs independent")
        return self._node_by_node()

    def _fork(self) -> str | None:
        """The first node after ``start`` (in topological order) with several edges out."""
        outs: dict[str, int] = defaultdict(int)
        for e in self.edges:
            outs[e.tail] += 1
        for node in self._order():
            if node != self.start and outs[node] > 1:
                return node
        return None

    def _order(self) -> list[str]:
        graph: dict[str, set[str]] = defaultdict(set)
        for e in self.edges:
            graph[e.head].add(e.tail)
        return list(TopologicalSorter(graph).static_order())

    def _conditioned(self, fork: str, depth: int) -> L.Law:
        """Conditioned on the time of ``fork`` (BINS values of equal probability): given it,
        ``fork`` is a fixed time, one copy per edge out, and the rest reduces again."""
        self.notes.add(f"not series-parallel: conditioned on {fork}'s time ({BINS} points)")
        before = self._ancestors(fork)
        head = Net([e for e in self.edges if e.head in before | {fork}], dict(self.rules),
                   self.start, fork)  # fmt: skip
        at = head.law(depth + 1)
        self.notes |= head.notes
        rest = [e for e in self.edges if e.head != fork]
        weights, laws = [], []
        for weight, time in _bins(at):
            point = L.point(time, at.h, len(at.pmf))
            edges = [Edge(e.tail, e.head, e.law, e.rho, e.devices) for e in rest if e.tail != fork]
            for i, e in enumerate(x for x in rest if x.tail == fork):
                edges.append(Edge(self.start, f"{fork}#{i}", point))
                edges.append(Edge(f"{fork}#{i}", e.head, e.law, e.rho, e.devices))
            rules = self.rules | {f"{fork}#{i}": Rule("all") for i in range(len(edges))}
            net = Net(edges, rules, self.start, self.end)
            laws.append(net.law(depth + 1))
            weights.append(weight)
            self.notes |= net.notes
        return L.mix(weights, laws)

    def _ancestors(self, node: str) -> set[str]:
        found: set[str] = set()
        todo = [node]
        while todo:
            n = todo.pop()
            for e in self.edges:
                if e.head == n and e.tail not in found:
                    found.add(e.tail)
                    todo.append(e.tail)
        return found

    def _series(self) -> bool:
        ins, outs = defaultdict(list), defaultdict(list)
        for e in self.edges:
            ins[e.head].append(e)
            outs[e.tail].append(e)
        for node in ins:
            if node in (self.start, self.end) or len(ins[node]) != 1 or len(outs[node]) != 1:
                continue
            a, b = ins[node][0], outs[node][0]
            law = L.convolve(_lone(self.rules[node], a.law), b.law)
            rho = a.rho if _zero(b.law) else b.rho if _zero(a.law) else None
            self.edges = [e for e in self.edges if e is not a and e is not b]
            self.edges.append(Edge(a.tail, b.head, law, rho, a.devices | b.devices))
            return True
        return False

    def _parallel(self) -> bool:
        groups: dict[tuple[str, str], list[Edge]] = defaultdict(list)
        for e in self.edges:
            groups[(e.tail, e.head)].append(e)
        for (tail, head), group in groups.items():
            rule = self.rules[head]
            whole = all(e.tail == tail for e in self.edges if e.head == head)
            if len(group) < 2 or (rule.kind == "k_of_n" and not whole):
                continue
            self._note_shared(group)
            law = self._join(rule, group)
            self.edges = [e for e in self.edges if e not in group]
            devices = frozenset().union(*(e.devices for e in group))
            self.edges.append(Edge(tail, head, law, None, devices))
            if whole:
                self.rules[head] = Rule("all")
            return True
        return False

    def _join(self, rule: Rule, group: list[Edge]) -> L.Law:
        parts = [e.law for e in group]
        if rule.kind == "first":
            self.notes.add("first: minimum of independent branches")
            return L.minimum(parts)
        if rule.kind == "k_of_n":
            cap = f", capped at the {rule.timeout:g} s timeout" if rule.timeout else ""
            self.notes.add(f"k_of_n: {rule.k}-th order statistic of independent branches{cap}")
            return L.order(parts, rule.k, rule.timeout)
        law = L.maximum(parts)
        rho = group[0].rho
        same = all(e.rho == rho and _close(e.law, group[0].law) for e in group)
        if rho is None or not same:
            self.notes.add("all: maximum of independent branches")
            return law
        k = len(group)
        h2, hk = 1.5, sum(1 / i for i in range(1, k + 1))
        target = (hk / h2 + 4 / 11 * (1 - hk / h2) * rho) * (12 - rho) / 8 * group[0].law.mean
        name = "exact two-branch M/M/1 fork-join mean" if k == 2 else "Nelson–Tantawi mean"
        self.notes.add(f"all: {name}, shape of the independent maximum")
        return law.scaled(target / law.mean)

    def _note_shared(self, group: list[Edge]) -> None:
        for i, a in enumerate(group):
            for b in group[i + 1 :]:
                for device in sorted(a.devices & b.devices):
                    self.notes.add(f"branches share {device}: taken as independent")

    def _node_by_node(self) -> L.Law:
        preds: dict[str, list[Edge]] = defaultdict(list)
        for e in self.edges:
            preds[e.head].append(e)
        order = TopologicalSorter({n: [e.tail for e in es] for n, es in preds.items()})
        at: dict[str, L.Law] = {}
        for node in order.static_order():
            if node not in preds:
                at[node] = L.point(0.0, self.edges[0].law.h, len(self.edges[0].law.pmf))
                continue
            arrivals = [L.convolve(at[e.tail], e.law) for e in preds[node]]
            rule = self.rules[node]
            if len(arrivals) == 1:
                at[node] = _lone(rule, arrivals[0])
            elif rule.kind == "first":
                at[node] = L.minimum(arrivals)
            elif rule.kind == "k_of_n":
                at[node] = L.order(arrivals, rule.k, rule.timeout)
            else:
                at[node] = L.maximum(arrivals)
        return at[self.end]


def useful(edges: list[Edge], end: str) -> list[Edge]:
    """The edges on some path to ``end`` (a token going nowhere else adds nothing)."""
    keep = {end}
    grew = True
    while grew:
        grew = False
        for e in edges:
            if e.head in keep and e.tail not in keep:
                keep.add(e.tail)
                grew = True
    return [e for e in edges if e.head in keep]


def _bins(law: L.Law) -> list[tuple[float, float]]:
    """(probability, mean) of BINS slices of equal probability of ``law``."""
    cum = np.cumsum(law.pmf)
    cuts = np.searchsorted(cum, np.linspace(0, cum[-1], BINS + 1)[1:-1])
    out = []
    for chunk in np.split(np.arange(len(law.pmf)), np.unique(cuts)):
        mass = float(law.pmf[chunk].sum())
        if mass > 0:
            out.append((mass, law.shift + law.h * float(np.dot(chunk, law.pmf[chunk])) / mass))
    return out


def _lone(rule: Rule, law: L.Law) -> L.Law:
    """A node with one input left: a k_of_n with k > 1 then fires at its timeout."""
    if rule.kind == "k_of_n" and rule.k > 1 and rule.timeout is not None:
        return L.Law(law.shift + rule.timeout, law.pmf, law.h)
    return law


def _zero(law: L.Law) -> bool:
    return law.shift == 0 and law.pmf[0] >= 1 - 1e-12


def _close(a: L.Law, b: L.Law) -> bool:
    return abs(a.shift - b.shift) <= 1e-12 and bool(abs(a.pmf - b.pmf).sum() <= 1e-9)
