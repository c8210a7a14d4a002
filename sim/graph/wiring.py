"""Wiring a world's graphs before t = 0: each source's feed of devices, FIFOs and transfers.

For each source of a graph, :class:`Wiring` binds every actor to its device (the
source's own for ``$source``), gives each input edge its FIFO (one per actor, device
and producer, shared by the sources whose tokens meet there), finds the hops of every
edge, of the source's entries and of each result back (one :class:`sim.journey.Transfer`
per (from, to, size), with its fixed delay when it has one), draws service times with
the world's :class:`sim.graph.samplers.Samplers`, and sets up the trained model's
scorer. A feed whose graph is a chain takes the fast path (:mod:`sim.graph.chain`)
when nothing can fail.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sim.graph import chain
from sim.graph.accuracy import scorer
from sim.graph.chainlog import Logged
from sim.graph.expand import Actor, Graph
from sim.graph.log import Log
from sim.graph.samplers import Samplers
from sim.graph.tokens import Feed, Fifo
from sim.journey import Sink, Transfer
from sim.records import Records
from sim.routes import route
from sim.streaming import Stream, chunk

if TYPE_CHECKING:
    from sim.world import World

Edge = tuple[Actor, Fifo, Transfer, float | None]
"""A successor: the actor, its FIFO, the transfer to its device and its fixed delay."""


def timeline(world: World) -> Callable[[], list[Any]] | None:
    """The component changes so far, for streams to tell requests sent during failures;
    None when nothing can fail."""
    resilience = world.resilience
    if resilience is None:
        return None
    health = resilience.health
    return lambda: health.timeline


class Wiring:
    """What the feeds of one world's graphs share: FIFOs, transfers, samplers."""

    def __init__(
        self, world: World, logs: dict[str, Log], device_index: dict[str, int],
        records: Records, streams: int,
    ) -> None:  # fmt: skip
        """``streams``: how many sources share the row buffer (:func:`sim.streaming.chunk`)."""
        self.world = world
        self.logs = logs
        self.device_index = device_index
        self.records = records
        self.streams = streams
        self.fallible = world.resilience is not None
        self.samplers = Samplers(world.scenario, world.streams)
        self._shared: dict[tuple[str, str, str], Fifo] = {}
        self._transfers: dict[tuple[str, str, float], tuple[Transfer, float | None]] = {}

    def feeds(self, g: Graph, first: int) -> tuple[list[Feed], list[Logged]]:
        """The feeds of ``g``'s sources, numbered from ``first``, and the sinks of those
        that take the chain walk."""
        world, warmup, kept = self.world, self.world.scenario.warmup, self.records == "all"
        out, logged = [], []
        for k, spec in enumerate(g.sources, start=first):
            devices = {n: world.devices[a.device(spec.at)] for n, a in g.actors.items()}
            fifos = {
                (n, p): self._fifo(a, devices[n].name, p)
                for n, a in g.actors.items()
                for p in (a.inputs or ("",))
            }
            sink: Sink = []
            if not kept:
                sink = Stream(0, warmup, timeline(world), chunk(self.streams))
            feed = Feed(spec, k, g, devices, fifos, sink, self.logs[g.name].add)
            feed.score = scorer(world, g, spec.name, kept)
            for n, a in g.actors.items():
                here = devices[n].name
                feed.where[n] = self.device_index[here]
                feed.nexts[n] = [self._edge(g.actors[m], fifos[(m, n)], here, devices[m].name,
                                            a.bytes_to(m)) for m in g.successors[n]]  # fmt: skip
                feed.back[n] = self._transfer(here, spec.at, g.result_bytes)  # sink or exit
                feed.service[n] = self.samplers.service(a, here)
            feed.entries = [
                self._edge(a, fifos[(n, "")], spec.at, devices[n].name, g.input_bytes)
                for n, a in g.actors.items() if not a.inputs
            ]  # fmt: skip
            if not self.fallible and chain.is_chain(feed):
                feed.chain, sunk = chain.of_feed(world.env, feed, self.logs[g.name], warmup)
                logged.append(sunk)
            out.append(feed)
        return out, logged

    def _fifo(self, actor: Actor, device: str, producer: str) -> Fifo:
        key = (actor.key, device, producer)
        if key not in self._shared:
            self._shared[key] = Fifo(actor.fifo)
        return self._shared[key]

    def _edge(self, actor: Actor, fifo: Fifo, frm: str, to: str, size: float) -> Edge:
        return (actor, fifo, *self._transfer(frm, to, size))

    def _transfer(self, frm: str, to: str, size: float) -> tuple[Transfer, float | None]:
        key = (frm, to, size)
        if key not in self._transfers:
            world = self.world
            hops = tuple(world.hop(i, a) for i, a, _ in route(world.graph, frm, to))
            transfer = Transfer(hops, size)
            self._transfers[key] = (transfer, transfer.delay)
        return self._transfers[key]

    def __repr__(self) -> str:
        return f"Wiring(fifos={len(self._shared)}, transfers={len(self._transfers)})"
