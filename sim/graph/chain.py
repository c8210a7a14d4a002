"""Chains: the graph engine's fast path for a chain of actors, and every ``pipelines:`` source.

A chain is a graph whose actors follow one another, each with one input from an
unbounded FIFO, no join and no exit: what every entry of ``pipelines:`` is. Its
requests need none of the general machinery of :mod:`sim.graph.engine` (FIFO places,
joins, forks), so each is carried by one generator, :func:`walk`: before each actor
the token crosses the hops from where it is to the actor's device (the source's input
before the first, the previous actor's output after), it is served there by the one
serve step (:func:`sim.journey.serve`), and the last actor's result crosses back to
the source. When anything can fail, or a strategy adds redundancy, the request walks
its chain under its actors' strategies instead (:func:`sim.graph.strategic.journey`).

A chain's event log is kept in compact form, as one row of stamps per request: the
arrival, then per actor the time its token reached the device's queue, started and
ended service, then the time the result was back (3K + 2 columns; see
:mod:`sim.records`). The rows of the log are those stamps, column by column
(:mod:`analysis.events` reads them back as events), so the walk appends a float
where the general engine appends a row.

A graph written as a chain (``actors:`` one after another, or ``pipeline: NAME``) takes
the same walk when nothing can fail and no trained model scores it (:func:`of_feed`):
its source's :class:`Logged` sink turns each finished row into the graph's records,
the [arrival, completion] row and the events of the log (arrive, start, end, send per
actor, receive; drop or fail where the request ended), those of one request together
when it ends.

Which requests are still in flight is kept apart from what they record: a chain
holds the live set of its requests' processes, entered on arrival and left when the
process ends, whatever the walk recorded or failed to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import simpy

from sim.graph.log import Event
from sim.journey import DROPPED, SERVED, Sink, Step, Transfer, carry, serve
from sim.records import SourceRecords, Status
from sim.spec import SourceSpec
from sim.streaming import source_records

if TYPE_CHECKING:
    from sim.graph.engine import Gen
    from sim.graph.expand import Actor
    from sim.graph.tokens import Feed
    from sim.world import World


def _rows() -> list[tuple[int, int, list[float], int]]:
    return []


@dataclass(slots=True)
class Chain:
    """One source's chain of actors, and what its requests have recorded so far."""

    name: str
    pipeline: str
    priority: int
    deadline: float | None
    steps: tuple[Step, ...]
    back: Transfer  # the result, from the last actor's device to the source
    warmup: float
    back_delay: float | None = None
    # (id, status, stamps, attempts lost on links) of every request that ended
    done: Sink = field(default_factory=lambda: _rows())
    # per named column, request id -> value (sim.records.SourceRecords.extra); None: not kept
    extra: dict[str, dict[int, object]] | None = field(default_factory=dict)
    # the process of every request still on its way -> (id, arrival time)
    live: dict[simpy.Process, tuple[int, float]] = field(default_factory=dict)
    leave: Callable[[simpy.Process], None] = field(init=False)
    # a chain graph's requests on their way -> their stamps so far (None: not asked)
    open: dict[int, list[float]] | None = None

    def __post_init__(self) -> None:
        self.back_delay = self.back.delay
        self.leave = self.live.__delitem__  # bound once: called as each process ends

    def enter(self, process: simpy.Process, rid: int, now: float) -> None:
        """Count ``process`` in flight until it ends, however it ends."""
        self.live[process] = (rid, now)
        process.callbacks.append(self.leave)

    def records(self) -> SourceRecords:
        """Its requests' rows (or tally) and those still in flight."""
        return source_records(
            self.done, 3 * len(self.steps) + 2, list(self.live.values()), self.warmup,
            name=self.name, pipeline=self.pipeline, priority=self.priority,
            deadline=self.deadline, stages=tuple(step.device.name for step in self.steps),
            extra=self.extra,
        )  # fmt: skip

    def __repr__(self) -> str:
        return f"Chain({self.name!r}, in_flight={len(self.live)}, done={len(self.done)})"


def build(world: World, source: SourceSpec) -> Chain:
    """The chain of ``source``'s pipeline: each stage an actor on its device."""
    s = world.scenario
    pipeline = s.pipelines[source.pipeline]
    model = s.table
    steps: list[Step] = []
    here, size = source.at, (model.input_bytes if model else 0.0)
    for k, stage in enumerate(pipeline.stages):
        span = stage.layer_range(model)
        service = world.service_for(source.pipeline, k, stage.on)
        real = world.real.get((source.pipeline, k))
        crosses = real is None and not (steps and steps[-1].real is not None)
        transfer = Transfer(world.path(here, stage.on) if crosses else (), size)
        steps.append(Step(transfer, transfer.delay, world.devices[stage.on], service, real))
        here = stage.on
        size = model.layers[span.stop - 1].output_bytes if model and span else 0.0
    back = () if steps[-1].real is not None else world.path(here, source.at)
    return Chain(
        name=source.name,
        pipeline=source.pipeline,
        priority=source.priority,
        deadline=source.deadline,
        steps=tuple(steps),
        back=Transfer(back, pipeline.result_bytes),
        warmup=s.warmup,
    )


def is_chain(feed: Feed) -> bool:
    """Whether ``feed``'s graph is a chain: one entry, each actor one input from an
    unbounded FIFO and at most one successor, no exit, no trained model scoring it."""
    g = feed.graph
    return (
        feed.score is None
        and len(feed.entries) == 1
        and all(
            len(a.inputs) <= 1 and a.fifo is None and a.exit is None
            and len(g.successors[n]) <= 1
            for n, a in g.actors.items()
        )
    )  # fmt: skip


def of_feed(env: simpy.Environment, feed: Feed, warmup: float) -> tuple[Chain, Logged]:
    """The chain a chain graph's source walks (:func:`is_chain`), and its sink, which
    records into ``feed``."""
    actors = list(feed.graph.actors.values())  # in topological order: the chain's
    steps = []
    for k, actor in enumerate(actors):
        name = actor.name
        _, _, transfer, delay = feed.entries[0] if k == 0 else feed.nexts[actors[k - 1].name][0]
        steps.append(Step(transfer, delay, feed.devices[name], feed.service[name]))
    spec = feed.spec
    back = feed.back[actors[-1].name][0]
    c = Chain(spec.name, feed.graph.name, spec.priority, spec.deadline, tuple(steps), back,
              warmup)  # fmt: skip
    c.open = {}
    logged = Logged(env, feed, actors, c.open)
    c.done = logged
    return c, logged


class Logged:
    """A chain graph source's sink: each finished row becomes the graph's records."""

    __slots__ = ("actors", "env", "feed", "open", "where")

    def __init__(
        self, env: simpy.Environment, feed: Feed, actors: list[Actor], open: dict[int, list[float]]
    ) -> None:
        self.env = env
        self.feed = feed
        self.actors = tuple(a.index for a in actors)  # each actor's index in the log
        self.where = tuple(feed.where[a.name] for a in actors)  # its device's
        self.open = open  # the stamps of the requests on their way

    def _served(self, rid: int, stamps: list[float]) -> int:
        """Log the arrive, start, end and send of each actor ``stamps`` has reached (the
        last may lack its end or start): how many actors served the request."""
        note, source, actors, where = self.feed.note, self.feed.index, self.actors, self.where
        last = len(actors) - 1
        events = (Event.ARRIVE, Event.START, Event.END)
        for i, t in enumerate(stamps[1 : 3 * len(actors) + 1]):
            k, e = divmod(i, 3)
            note((rid, source, actors[k], where[k], events[e], t))
            if e == 2 and k < last:
                note((rid, source, actors[k], where[k], Event.SEND, t))
        return (len(stamps) - 1) // 3

    def flush(self) -> None:
        """Log what the requests still on their way have done so far."""
        for rid, stamps in self.open.items():
            self._served(rid, stamps)
        self.open.clear()

    def append(self, row: tuple[int, int, list[float], int], /) -> None:
        rid, status, stamps, lost = row
        feed = self.feed
        del self.open[rid]
        note, source, actors, where = feed.note, feed.index, self.actors, self.where
        last = len(actors) - 1
        reached = self._served(rid, stamps[: -1 if status == Status.DROPPED else None])
        now = self.env.now
        if status == Status.DROPPED:
            k = reached
            note((rid, source, actors[k], where[k], Event.ARRIVE, stamps[-1]))
            note((rid, source, actors[k], where[k], Event.DROP, stamps[-1]))
            stamps = stamps[:1]
        elif status == Status.FAILED:
            on_way = reached <= last  # lost on the way to an actor, else on the way back
            k = reached if on_way else last
            note((rid, source, actors[k], where[k] if on_way else -1, Event.FAIL, now))
            stamps = stamps[:1]
        else:
            note((rid, source, -1, -1, Event.RECEIVE, now))
            stamps = [stamps[0], stamps[-1]]
        feed.sink.append((rid, status, stamps, lost))
        del feed.live[rid]

    def __len__(self) -> int:
        return len(self.feed.sink)


def walk(env: simpy.Environment, chain: Chain, rid: int) -> Gen:
    """Carry request ``rid``, arriving now, along ``chain``'s actors; record how it ended."""
    arrival = env.now
    stamps = [arrival]
    if chain.open is not None:
        chain.open[rid] = stamps
    done = chain.done
    priority = chain.priority
    lost = 0
    for step in chain.steps:
        if step.delay is not None:
            if step.delay:
                yield env.timeout(step.delay)
        else:
            n = yield from carry(step.transfer)
            if n is None:
                done.append((rid, Status.FAILED, stamps, lost))
                return
            lost += n
        outcome = yield from serve(
            env, step.device, priority, step.service, stamps, step.real, 0.0, None, False
        )
        if outcome is not SERVED:
            status = Status.DROPPED if outcome is DROPPED else Status.FAILED
            done.append((rid, status, stamps, lost))  # a drop's stamps end at its arrival
            return
    back = chain.back_delay
    if back is not None:
        if back:
            yield env.timeout(back)
    else:
        n = yield from carry(chain.back)
        if n is None:
            done.append((rid, Status.FAILED, stamps, lost))
            return
        lost += n
    now = env.now
    stamps.append(now)
    late = chain.deadline is not None and now - arrival > chain.deadline
    done.append((rid, Status.LATE if late else Status.OK, stamps, lost))
