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
(:func:`sim.graph.chainlog.log_of` and :mod:`analysis.events` read them back as
events), so the walk appends a float
where the general engine appends a row.

A graph written as a chain (``actors:`` one after another, or ``pipeline: NAME``) takes
the same walk when nothing can fail and no trained model scores it (:func:`of_feed`):
its source's sink (:class:`sim.graph.chainlog.Logged`) turns the finished rows into
the graph's records, the [arrival, completion] row of each and, in blocks, the events
of the log the general engine would have written.

Which requests are still in flight is kept apart from what they record: a chain
holds the live set of its requests' processes, entered on arrival and left when the
process ends, whatever the walk recorded or failed to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import simpy

from sim.graph.chainlog import Logged
from sim.journey import DROPPED, SERVED, Sink, Step, Transfer, carry, serve
from sim.records import SourceRecords, Status
from sim.spec import SourceSpec
from sim.streaming import source_records

if TYPE_CHECKING:
    from sim.graph.engine import Gen
    from sim.graph.log import Log
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


def of_feed(env: simpy.Environment, feed: Feed, log: Log, warmup: float) -> tuple[Chain, Logged]:
    """The chain a chain graph's source walks (:func:`is_chain`), and its sink, which
    records into ``feed`` and ``log`` (:mod:`sim.graph.chainlog`)."""
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
    logged = Logged(env, feed, actors, log, c.open)
    c.done = logged
    return c, logged


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
