"""The ``pipelines:`` sources of a world, each walking its pipeline as a chain.

Every ``workload:`` source names a pipeline; in the graph engine it is a chain graph's
source (:mod:`sim.graph.chain`), built here before the graphs' own sources (so events
at the same instant keep the order they have always had), with its arrival stream
``source:NAME:arrivals``. Its requests take the chain walk, or the failure-aware
journey (:func:`sim.graph.strategic.journey`) when anything can fail or a strategy
adds redundancy. Each chain keeps its requests' rows of stamps (records ``all``) or
their statistics (:class:`sim.streaming.Stream`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import simpy

from sim.graph import chain
from sim.graph.chain import Chain
from sim.graph.strategic import journey
from sim.records import Records, SourceRecords
from sim.streaming import Stream, chunk
from sim.workload import arrival_times

if TYPE_CHECKING:
    from sim.graph.engine import Gen
    from sim.world import World


class Pipelines:
    """The chains of a world's ``pipelines:`` sources: their processes and records."""

    def __init__(
        self, world: World, records: Records, streams: int,
        timeline: Callable[[], list[Any]] | None,
    ) -> None:  # fmt: skip
        """``streams``: how many sources share the row buffer (:func:`sim.streaming.chunk`);
        ``timeline``: the component changes so far, when anything can fail."""
        self.env = world.env
        self.horizon = world.scenario.horizon
        self.resilient = None if world.resilience is None else world.resilience.resilient
        self._ids = world._ids  # one id sequence per world: pipelines' and graphs' requests
        self.chains = [chain.build(world, src) for src in world.scenario.workload]
        if records != "all":
            for c in self.chains:
                c.done = Stream(len(c.steps), world.scenario.warmup, timeline, chunk(streams))
                c.extra = None
        placed = {n for n, p in world.scenario.pipelines.items() if p.strategy is not None}
        self._mdi = {c.name for src, c in zip(world.scenario.workload, self.chains, strict=True)
                     if src.pipeline in placed}  # fmt: skip
        for src, c in zip(world.scenario.workload, self.chains, strict=True):
            if c.name in self._mdi:
                continue  # the MDI engine's (sim.mdi); its chain is what failures see of it
            times = arrival_times(src, world.streams.rng(f"source:{src.name}:arrivals"))
            self.env.process(self._source(c, times))

    def _source(self, c: Chain, times: Iterator[float]) -> Gen:
        env = self.env
        for t in times:
            if t >= self.horizon:
                return
            if t > env.now:
                yield env.timeout(t - env.now)
            self.submit(c)

    def submit(self, c: Chain) -> simpy.Process:
        """A request of the chain ``c`` arrives now; the process carries it: the plain walk,
        or the failure-aware journey when anything can fail."""
        env = self.env
        rid = next(self._ids)
        if self.resilient is None:
            process = env.process(chain.walk(env, c, rid))
        else:
            process = env.process(journey(env, c, rid, self.resilient))
        c.enter(process, rid, env.now)
        return process

    def records(self) -> tuple[SourceRecords, ...]:
        """Each chain's requests (rows or tally) and those still in flight."""
        return tuple(c.records() for c in self.chains if c.name not in self._mdi)

    def __repr__(self) -> str:
        return f"Pipelines({self.chains})"
