"""The graph engine: actors firing on their input FIFOs, joins, exits, and the event log.

A request enters at its source, which puts one token into the input FIFO of
every entry actor (an actor with no ``after``), waiting while one is full. An
actor fires when its join holds (one input; ``all``; the ``first``; ``k`` of
them, or at the ``timeout`` from the first with those that came): it takes a
slot of its device (a full device queue drops the token), frees the FIFO places
of the tokens it consumes, and is served (layer cost × the device's noise, or
its ``service`` draw). Then, still holding the slot, it reserves a place in the
FIFO of each successor, waiting while one is full (blocking after service), and
releases the slot; its output crosses the hops to each successor's device. An
actor with an ``exit`` probability may end the request there instead; a sink
(an actor nothing follows) sends its result back to the source, and the request
is complete when every sink's result, or an exit's, is back.

A token lost (a transfer out of retransmissions, a device down or failing under
it, a full device queue) is missing at its successors: a join that can no
longer fire loses its own token, and a lost sink ends the request, failed or
dropped. Tokens of a request already decided go on being served (the devices
do not know) and are dropped where they arrive.

Each request ends in one row (id, status, [arrival, completion], attempts lost)
of its source, kept or folded into a tally as for pipelines; every event goes
into the :class:`sim.graph.log.Log` when records are kept. A graph that names a
trained model has a :class:`sim.graph.accuracy.Scorer` per source, told where a
request arrives, fires with inputs missing, may take a model's exit and ends; a lost
token marks its actor in ``Request.gone``.
"""

from __future__ import annotations

import weakref
from collections.abc import Generator, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import simpy

from sim.graph import chain
from sim.graph.chainlog import Logged
from sim.graph.expand import Actor, graphs
from sim.graph.log import Event, Log
from sim.graph.pipelines import Pipelines
from sim.graph.spec import KOfN
from sim.graph.strategic import strategic
from sim.graph.tokens import Feed, Fifo, Join, Request, fires
from sim.graph.wiring import Wiring, timeline
from sim.journey import Transfer, carry
from sim.records import GraphRecords, Records, SourceRecords, Status
from sim.strategies import Runtime
from sim.streaming import source_records
from sim.workload import arrival_times

if TYPE_CHECKING:
    from sim.world import World

Gen = Generator[simpy.Event, Any, None]
Hand = tuple[Actor, Fifo, Transfer, float | None] | None
"""A token handed on: to an actor, the FIFO place reserved, the transfer to its device
and that transfer's fixed delay (None: carried hop by hop)."""


class Dataflow:
    """Every source of one world: the ``pipelines:`` sources' chains (:mod:`sim.graph.pipelines`)
    and the graphs' sources, their processes, FIFOs and records."""

    def __init__(self, world: World, records: Records) -> None:
        self.world = weakref.proxy(world)  # the world holds it: no cycle keeps the world alive
        self.env = world.env
        self.device_index = {n: i for i, n in enumerate(world.devices)}
        self.graphs = graphs(world.scenario)
        start = world.scenario.warmup
        self.logs = {g.name: Log(records == "all", len(g.actors), start) for g in self.graphs}
        self.fallible = world.resilience is not None
        self.resilient = None if world.resilience is None else world.resilience.resilient
        self._ids = world._ids  # one id sequence per world: pipelines' and graphs' requests
        total = sum(len(g.sources) for g in self.graphs) + len(world.scenario.workload)
        self.pipelines = Pipelines(world, records, total, timeline(world))  # started first
        wiring = Wiring(world, self.logs, self.device_index, records, total)
        self.samplers = wiring.samplers
        self.feeds: list[Feed] = []
        self._logged: list[Logged] = []  # the sinks of the chain graphs' sources
        for g in self.graphs:
            feeds, logged = wiring.feeds(g, len(self.feeds))
            self.feeds += feeds
            self._logged += logged
        for feed in self.feeds:
            rng = world.streams.rng(f"source:{feed.spec.name}:arrivals")
            self.env.process(self._source(feed, arrival_times(feed.spec, rng)))

    # -- processes ---------------------------------------------------------

    def _source(self, feed: Feed, times: Iterator[float]) -> Gen:
        env = self.env
        horizon = self.world.scenario.horizon
        sinks = len(feed.graph.sinks)
        note, source = feed.note, feed.index
        compact = self.logs[feed.graph.name].compact
        for t in times:
            if t >= horizon:
                return
            if t > env.now:
                yield env.timeout(t - env.now)
            if feed.chain is not None:  # the fast path: one walk, its log written in blocks
                rid = next(self._ids)
                feed.live[rid] = t
                env.process(chain.walk(env, feed.chain, rid))
                continue
            req = Request(next(self._ids), feed, t, sinks)
            feed.live[req.rid] = t
            if feed.score is not None:
                feed.score.arrive(req)
            note((req.rid, source, -1, -1, Event.ARRIVE, t))
            compact()
            runtimes = self._runtimes(feed)
            env.process(self._enter(req) if runtimes is None else strategic(self, req, runtimes))

    def _runtimes(self, feed: Feed) -> tuple[Runtime, ...] | None:
        """The strategies' runtime objects of a chained pipeline's actors, when anything
        can fail (:mod:`sim.graph.strategic`); None: the plain walk."""
        if self.resilient is None:
            return None
        return self.resilient.placements.get(feed.spec.name)

    def _enter(self, req: Request) -> Gen:
        """Put the request's input into each entry FIFO, waiting while one is full."""
        env, entries = self.env, req.feed.entries
        for _, fifo, _, _ in entries:
            granted = fifo.reserve(env)
            if granted is not None:
                yield granted  # held at the source: a full entry FIFO blocks its producer
        for hand in entries[1:]:
            env.process(self._walk(req, hand))
        yield from self._walk(req, entries[0])

    def _walk(self, req: Request, hand: Hand) -> Gen:
        """Carry a token along: into an actor's FIFO, through its firing, on to the next
        actor, for as long as one token goes on (forks start walks of their own)."""
        env = self.env
        while hand is not None:
            actor, fifo, transfer, delay = hand
            if delay is not None:  # the fast path: a fixed delay, nothing can be lost
                if delay:
                    yield env.timeout(delay)
            elif not (yield from self._carried(req, transfer)):
                fifo.free()
                self._note(req, actor.index, req.feed.where[actor.name], Event.FAIL)
                self._lose(req, actor, Status.FAILED)
                return
            held = self._arrive(req, actor, fifo)
            if held is None:
                return
            hand = yield from self._fire(req, actor, held)

    def _resume(self, req: Request, actor: Actor, held: list[Fifo]) -> Gen:
        """Fire ``actor`` with the tokens ``held``, then walk on."""
        hand = yield from self._fire(req, actor, held)
        yield from self._walk(req, hand)

    def _note(self, req: Request, actor: int, device: int, event: Event) -> None:
        req.feed.note((req.rid, req.feed.index, actor, device, event, self.env.now))

    def _carried(self, req: Request, transfer: Transfer) -> Generator[simpy.Event, Any, bool]:
        """Carry ``transfer`` for ``req`` hop by hop, counting the attempts lost on the
        way: whether it got there."""
        lost = yield from carry(transfer)
        if lost is None:
            return False
        req.lost += lost
        return True

    def _cross(
        self, req: Request, crossing: tuple[Transfer, float | None]
    ) -> Generator[simpy.Event, Any, bool]:
        """A fixed delay, or :meth:`_carried`: whether it got there."""
        transfer, delay = crossing
        if delay is None:
            return (yield from self._carried(req, transfer))
        if delay:
            yield self.env.timeout(delay)
        return True

    def _arrive(self, req: Request, actor: Actor, fifo: Fifo) -> list[Fifo] | None:
        """The token is in ``actor``'s FIFO: the tokens to fire with now, or None."""
        me, feed = actor.index, req.feed
        feed.note((req.rid, feed.index, me, feed.where[actor.name], Event.ARRIVE, self.env.now))
        if len(actor.inputs) <= 1:
            if req.done:
                fifo.free()
                self._note(req, me, -1, Event.DROP)
                return None
            return [fifo]
        join = req.joins.setdefault(actor.name, Join())
        if join.fired or req.done:
            fifo.free()
            self._note(req, me, -1, Event.DROP)
            return None
        join.held.append(fifo)
        ready = fires(actor, join)
        if ready:
            join.fired = True
            return join.held
        if ready is None and isinstance(actor.join, KOfN) and actor.join.timeout:
            if len(join.held) == 1:
                self.env.process(self._timer(req, actor, join, actor.join.timeout))
        elif ready is not None:
            self._lose(req, actor, Status.FAILED)
        return None

    def _timer(self, req: Request, actor: Actor, join: Join, timeout: float) -> Gen:
        yield self.env.timeout(timeout)
        if not join.fired and not req.done:
            join.fired = True
            yield from self._resume(req, actor, join.held)

    def _fire(
        self, req: Request, actor: Actor, held: list[Fifo]
    ) -> Generator[simpy.Event, Any, Hand]:
        """Serve ``actor`` for ``req`` on its device, then hand its output on: the first
        successor's token to walk on with (the others' walks are started here), or None."""
        env, feed = self.env, req.feed
        device = feed.devices[actor.name]
        me, where = actor.index, feed.where[actor.name]
        note, rid, source = feed.note, req.rid, feed.index  # the log's add, bound: hot path
        limit = device.queue_limit
        if feed.score is not None and len(held) < len(actor.inputs):
            feed.score.absent(req, actor, held)
        if not device.up or (limit is not None and len(device.queue) >= limit):
            for f in held:
                f.free()
            self._note(req, me, where, Event.DROP if device.up else Event.FAIL)
            self._lose(req, actor, Status.DROPPED if device.up else Status.FAILED)
            return None
        nexts = feed.nexts[actor.name]
        process = env.active_process if self.fallible else None
        if process is not None:
            device.occupants[process] = None
        waits: list[tuple[Fifo, simpy.Event]] = []
        exited = False
        try:
            granted = device.acquire(feed.spec.priority)
            if granted is not None:
                yield granted
            for f in held:
                f.free()
            held = []
            note((rid, source, me, where, Event.START, env.now))
            device.meter.start()
            yield env.timeout(feed.service[actor.name]() + device.slowdown)
            device.meter.stop()
            device.served += 1
            note((rid, source, me, where, Event.END, env.now))
            leave = actor.exit is not None and self.samplers.exit(actor)() < actor.exit
            if leave or (feed.score is not None and feed.score.leaves(req, actor)):
                self._note(req, me, where, Event.EXIT)
                device.release()
                nexts, exited = [], True
            elif not nexts:
                device.release()
            else:
                for _, f, _, _ in nexts:
                    granted = f.reserve(env)
                    if granted is not None:
                        waits.append((f, granted))
                        yield granted  # blocked after service: the slot stays taken
                waits = []
                note((rid, source, me, where, Event.SEND, env.now))
                device.release()
        except simpy.Interrupt:
            for f in held:
                f.free()
            for f, granted in waits:
                f.withdraw(granted)
            self._note(req, me, where, Event.FAIL)
            self._lose(req, actor, Status.FAILED)
            return None
        finally:
            if process is not None:
                device.occupants.pop(process, None)
        if not nexts:
            yield from self._result(req, actor, exited)
            return None
        for hand in nexts[1:]:
            env.process(self._walk(req, hand))
        return nexts[0]

    def _result(self, req: Request, actor: Actor, exited: bool) -> Gen:
        """Carry the result of a sink, or of an exit taken, back to the source."""
        feed = req.feed
        if not (yield from self._cross(req, feed.back[actor.name])):
            self._note(req, actor.index, -1, Event.FAIL)
            self._lose(req, actor, Status.FAILED)
            return
        if req.done:
            return
        if not exited:
            req.sinks -= 1
            if req.sinks:
                return
        self._note(req, -1, -1, Event.RECEIVE)
        deadline = feed.spec.deadline
        late = deadline is not None and self.env.now - req.arrival > deadline
        self.end(req, Status.LATE if late else Status.OK, self.env.now)

    def _lose(self, req: Request, actor: Actor, status: Status) -> None:
        """``actor``'s token of ``req`` is lost: tell its successors, or end the request."""
        if req.done:
            return
        req.gone |= 1 << actor.index
        g = req.feed.graph
        if not g.successors[actor.name]:
            self.end(req, status, None)
            return
        for name in g.successors[actor.name]:
            nxt = g.actors[name]
            join = req.joins.setdefault(name, Join())
            join.missing += 1
            if join.fired:
                continue
            ready = fires(nxt, join)
            if ready:
                join.fired = True
                self.env.process(self._resume(req, nxt, join.held))
            elif ready is not None:
                self._lose(req, nxt, status)

    def end(self, req: Request, status: Status, completion: float | None) -> None:
        """``req`` is decided: its row, and the tokens its joins still hold dropped."""
        req.done = True
        feed = req.feed
        stamps = [req.arrival] if completion is None else [req.arrival, completion]
        feed.sink.append((req.rid, int(status), stamps, req.lost))
        if feed.score is not None:
            feed.score.end(req, status)
        del feed.live[req.rid]
        for name, join in req.joins.items():
            if not join.fired:
                for f in join.held:
                    f.free()
                    self._note(req, feed.graph.actors[name].index, -1, Event.DROP)
                join.held.clear()

    # -- records -----------------------------------------------------------

    def sources(self, warmup: float) -> tuple[SourceRecords, ...]:
        """Each chain's requests, then each graph source's (no stages: [arrival, end])."""
        return self.pipelines.records() + tuple(_records(feed, warmup) for feed in self.feeds)

    def records(self) -> tuple[GraphRecords, ...]:
        """Each graph's names and, with records kept, its share of the event log."""
        for logged in self._logged:
            logged.flush()
        out = []
        for g in self.graphs:
            log = self.logs[g.name]
            out.append(
                GraphRecords(
                    g.name, tuple(g.actors), tuple(self.device_index),
                    tuple(f.spec.name for f in self.feeds),
                    log.events(), log.figures(),
                )
            )  # fmt: skip
        return tuple(out)

    def __repr__(self) -> str:
        return f"Dataflow({list(self.logs.values())})"


def _records(feed: Feed, warmup: float) -> SourceRecords:
    out = source_records(
        feed.sink, 2, list(feed.live.items()), warmup,
        name=feed.spec.name, pipeline=feed.graph.name, priority=feed.spec.priority,
        deadline=feed.spec.deadline, stages=(),
    )  # fmt: skip
    return out if feed.score is None else replace(out, accuracy=feed.score.outcomes())
