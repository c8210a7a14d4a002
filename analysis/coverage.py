"""What the analytic model leaves out: features it has no method for, and ones it neglects.

A feature with no method here makes the figures it changes say ``not modelled: FEATURE``
instead of a number computed as if the feature were absent:

* a source ``count``, of a pipeline or a graph (arrivals stop part-way: no steady
  state) — every figure but availability;
* a pipeline's MDI ``strategy`` (tasks placed hop by hop at run time, docs/pa-mdi.md) —
  every figure but availability; ``edgesim plan --strategy`` has its own model;
* a ``slow`` injection (services longer for a while) — latency and utilisation;
* a graph join that fires while a device on one of its branches is down (``first``,
  or ``k_of_n`` with a timeout, as RoCoIn builds) — latency and success (the graph
  model counts the source unserved in that state; the accuracy mixture covers it);
* a graph built by a ``system`` (:mod:`sim.graph.systems`) with a device that can
  fail: its gathers answer without that device (a degraded answer, which the accuracy
  mixture scores), but the graph model counts the source unserved — success and
  throughput;
* what a stage's strategy names (:meth:`sim.strategies.base.Strategy.unmodelled`): the
  ``retry`` policy on a stage whose device can fail (re-sent requests succeed later,
  with the timeouts in their latency) — latency and success.

Queue limits the finite-queue methods do not cover are found per station by
:mod:`analysis.analytic` (priority, non-Poisson arrivals, several slots with
non-exponential service).

Neglected features, listed under ``neglected`` because their effect is a transient
short beside the failure cycle: partition reloads after a repair, and what each
strategy lists (:meth:`sim.strategies.base.Strategy.neglected`: the load on a ``cold``
switch-over and ``switch_back: false`` of ``failover``, the ``reconfiguration`` delay
of ``repartition``), the latency of requests re-sent after a failure, the phases of
periodic sources (``offset``, graph sources' included), for Gilbert–Elliott loss the
correlation between consecutive transfers, and what a graph's ``first`` or ``k_of_n``
join would still deliver while a device on one of its branches is down (the graph's
source is then counted unserved), and the blocking of a graph's bounded FIFOs
(``fifo``: the time a producer holds its slot while the next FIFO is full).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sim.graph.expand import graphs
from sim.graph.spec import KOfN
from sim.spec import GilbertElliott, Periodic, Scenario, SourceSpec
from sim.strategies import strategy


@dataclass(slots=True)
class Unmodelled:
    """The feature, if any, that keeps each group of figures from being computed."""

    latency: str | None = None
    success: str | None = None
    throughput: str | None = None
    neglected: list[str] = field(default_factory=list)


def unmodelled(s: Scenario) -> Unmodelled:
    out = Unmodelled()
    feeds = [src for g in graphs(s) for src in g.sources]  # graph sources
    counted = [src.name for src in [*s.workload, *feeds] if src.count is not None]
    if counted:
        reason = f"workload[{counted[0]}].count"
        out.latency = out.success = out.throughput = reason
    mdi = [
        f"pipelines.{n}.strategy {p.strategy.kind}" for n, p in s.pipelines.items() if p.strategy
    ]
    if mdi:  # tasks placed at run time by a decentralised rule: named before the rest
        out.latency = out.success = out.throughput = mdi[0]
    slow = [f.target for f in s.failures if f.mode == "slow"]
    if slow:
        out.latency = out.latency or f"failures mode slow on {slow[0]}"
        out.throughput = out.throughput or f"failures mode slow on {slow[0]}"
    fallible = {n for n, d in s.devices.items() if d.failure is not None}
    fallible |= {f.target for f in s.failures if f.outage}
    for name, p in s.pipelines.items():
        for k, stage in enumerate(p.stages):
            feature = strategy(s, name, k).unmodelled(stage, fallible)
            if feature is not None:
                out.latency = out.latency or feature
                out.success = out.success or feature
    for g in graphs(s):  # a system's graph is named as the system, not its built actors
        system = s.graphs[g.name].system
        if system is not None and fallible & {a.on for a in g.actors.values()}:
            reason = f"graphs.{g.name}.system: {system.kind} answers with a device down"
            out.success = out.success or reason
            out.throughput = out.throughput or reason
    redundant = _redundant(s, fallible)
    if redundant is not None:
        out.latency = out.latency or redundant
        out.success = out.success or redundant
    out.neglected = _neglected(s, fallible, feeds)
    return out


def _redundant(s: Scenario, fallible: set[str]) -> str | None:
    """A graph join that still fires while a device on one of its branches is down
    (``first``, or ``k_of_n`` with a timeout: RoCoIn's groups and aggregator): the graph
    model counts its source unserved in such a state, so its success and latency are
    not modelled (its accuracy is: :mod:`analysis.analytic.accuracy` walks the joins)."""
    for g in graphs(s):
        for name, actor in g.actors.items():
            timed = isinstance(actor.join, KOfN) and actor.join.timeout is not None
            redundant = len(actor.inputs) > 1 and (actor.join == "first" or timed)
            if redundant and any(g.actors[p].on in fallible for p in actor.inputs):
                return f"graphs.{g.name}.actors.{name}.join over a device that fails"
    return None


def _neglected(s: Scenario, fallible: set[str], feeds: list[SourceSpec]) -> list[str]:
    chosen = [strategy(s, n, k) for n, p in s.pipelines.items() for k in range(len(p.stages))]
    found = []
    if fallible:
        found.append("partition reload after a repair (load_time)")
    found += dict.fromkeys(note for c in chosen for note in c.neglected(fallible))
    if fallible and any(c.resends and c.spec.timeout is not None for c in chosen):
        found.append("latency of requests re-sent after fault_tolerance.timeout")
    periodic = [src for src in [*s.workload, *feeds] if isinstance(src.arrivals, Periodic)]
    if len(periodic) > 1:
        found.append("phases of periodic sources (arrivals.offset)")
    if any(isinstance(link.loss, GilbertElliott) for link in s.links):
        found.append("gilbert_elliott loss: correlation between consecutive transfers")
    if feeds and fallible:
        found.append("graph sources while a device they use is down: not served")
    if any(a.fifo is not None for g in graphs(s) for a in g.actors.values()):
        found.append("bounded graph FIFOs (fifo): blocking after service")
    return found
