"""The MDI engine: tasks hopping from worker to worker, each worker deciding.

A request of a source whose pipeline has a ``strategy`` becomes a task at the
source's device, holding the model's input and its next partition (the first).
The worker holding it ranks itself and its neighbours that take tasks by the
pipeline's rule (:mod:`sim.mdi.rules`) and tries them best first: itself (the
task joins its queue, served by the task's rank on a ``priority`` device), or a
neighbour, asked by RTC/CTC where the rule hands shake (:mod:`sim.mdi.handshake`;
a no sends it to the next best), or sent straight to its queue where it does not.
The task's tensor crosses the one link to the neighbour, is served there (the
partition's cost × the device's noise), and the worker now holding it decides
again for the next partition: tasks move hop by hop over multi-hop topologies.
After the last partition the result crosses back to the source over the route.

What failures do: a task whose transfer runs out of retransmissions, or whose
device is down or crashes under it, is lost and its request fails, except under
a rule that re-sends (``ar-mdi``), where the sender re-offloads it elsewhere (as
when it has waited past the timeout at a neighbour's queue). Each request ends in
one row (id, status, [arrival, completion], attempts lost) of its source.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import simpy

from sim.failures import Component
from sim.journey import Sink, Transfer, carry
from sim.links import Hop
from sim.mdi.handshake import Grant, Handshake, Request
from sim.mdi.plan import Plan, plans
from sim.mdi.rules import Offer
from sim.mdi.state import SERVING, Exchange, Worker
from sim.records import Records, SourceRecords, Status
from sim.routes import route
from sim.spec import SourceSpec
from sim.streaming import Stream, chunk, source_records
from sim.workload import arrival_times

if TYPE_CHECKING:
    from sim.world import World

Gen = Generator[simpy.Event, Any, None]
AGAIN = "again"  # re-offload the task from where it is
Outcome = Status | str | None  # how a step lost the task, AGAIN, or None: served


@dataclass(slots=True)
class Feed:
    """One source of an MDI pipeline: its plan, weights, rank, and finished requests."""

    spec: SourceSpec
    plan: Plan
    gamma: float
    alpha: float
    rank: int
    sink: Sink
    live: dict[int, float] = field(default_factory=dict)  # request id -> arrival


@dataclass(slots=True)
class Task:
    """A request on its way: where it is and the partition it needs next."""

    rid: int
    feed: Feed
    born: float
    at: str
    k: int = 0
    lost: int = 0


class Mdi:
    """The MDI sources of one world: their workers, messages, processes and records."""

    def __init__(self, world: World, records: Records) -> None:
        self.world = world
        self.env = world.env
        s = world.scenario
        self.keep = records == "all"
        self.plans = plans(s, world.streams)
        self.workers = self._workers()
        first = next(iter(self.plans.values())).spec
        talk = self.workers if self._offloading() else {}
        self.exchange = Exchange(self.env, talk, first.state_period, first.state_bytes)
        self.handshake = Handshake(self.env, first.handshake_bytes)
        if world.resilience is not None:
            world.resilience.health.listeners.append(self._changed)
        self.decisions: list[tuple[int, int, str, str, float]] = []  # rid, k, from, to, when
        self.holds: list[tuple[str, float, float]] = []  # worker, slot taken, slot freed
        self._back: dict[tuple[str, str, float], Transfer] = {}
        self.feeds = self._feeds(records)
        for feed in self.feeds:
            rng = world.streams.rng(f"source:{feed.spec.name}:arrivals")
            self.env.process(self._source(feed, arrival_times(feed.spec, rng)))

    # -- wiring ------------------------------------------------------------

    def _workers(self) -> dict[str, Worker]:
        w = self.world
        names = dict.fromkeys(n for p in self.plans.values() for n in p.workers)
        workers = {n: Worker(n, w.devices[n]) for n in names}
        for i, link in enumerate(w.scenario.links):
            a, b = link.ends
            if a in workers and b in workers:
                workers[a].neighbours.setdefault(b, w.hop(i, a))
                workers[b].neighbours.setdefault(a, w.hop(i, b))
        return workers

    def _offloading(self) -> bool:
        """Whether any rule moves tasks (then workers send their state)."""
        return any(p.rule.offloads for p in self.plans.values())

    def _feeds(self, records: Records) -> list[Feed]:
        s = self.world.scenario
        mine = [src for src in s.workload if src.pipeline in self.plans]
        out = []
        for src in mine:
            plan = self.plans[src.pipeline]
            sink: Sink = []
            if records != "all":
                total = len(s.workload) + sum(len(g.sources) for g in s.graphs.values())
                sink = Stream(0, s.warmup, self._timeline(), chunk(total))
            gamma = plan.rule.gamma(plan.spec, src.name)
            out.append(Feed(src, plan, gamma, plan.spec.success(src.name), plan.rank(gamma), sink))
        return out

    def _timeline(self) -> Callable[[], list[Any]] | None:
        resilience = self.world.resilience
        if resilience is None:
            return None
        health = resilience.health
        return lambda: health.timeline

    def _changed(self, component: Component) -> None:
        if component.name in self.workers and not component.up:
            self.handshake.crashed(component.name)

    # -- processes ---------------------------------------------------------

    def _source(self, feed: Feed, times: Iterator[float]) -> Gen:
        env = self.env
        horizon = self.world.scenario.horizon
        for t in times:
            if t >= horizon:
                return
            if t > env.now:
                yield env.timeout(t - env.now)
            task = Task(next(self.world._ids), feed, t, feed.spec.at)
            feed.live[task.rid] = t
            env.process(self._request(task))

    def _request(self, task: Task) -> Gen:
        plan = task.feed.plan
        while task.k < len(plan.spans):
            outcome = yield from self._step(task)
            if outcome is not None:
                self._end(task, outcome if isinstance(outcome, Status) else Status.FAILED, None)
                return
        if not (yield from self._home(task)):
            self._end(task, Status.FAILED, None)
            return
        deadline = task.feed.spec.deadline
        late = deadline is not None and self.env.now - task.born > deadline
        self._end(task, Status.LATE if late else Status.OK, self.env.now)

    def _step(self, task: Task) -> Generator[simpy.Event, Any, Outcome]:
        """Run the task's next partition where the rule says: None, or how it was lost."""
        here = self.workers[task.at]
        rule = task.feed.plan.rule
        tried: set[str] = set()
        while True:
            for name, limit in self.ranked(task, here, tried):
                if name == here.name:
                    self._decided(task, here.name)
                    return (yield from self._serve(task, here, None, None))
                outcome = yield from self._offload(task, here, self.workers[name], limit)
                if outcome != AGAIN:
                    return outcome
                tried.add(name)
                if not rule.handshake:
                    break  # time has passed: rank again

    def ranked(self, task: Task, here: Worker, tried: set[str]) -> list[tuple[str, float]]:
        """The candidates for the task's next partition, best first, each with the most
        backlog at which it still beats keeping the task."""
        feed = task.feed
        rule, rank = feed.plan.rule, feed.rank
        names = [here.name]
        if rule.offloads:
            names += [n for n in here.neighbours if n not in tried]
        scored = []
        for n in names:
            hop = here.neighbours.get(n) if n != here.name else None
            offer = self._offer(task, n, hop, here.backlog(rank, None if hop is None else n))
            scored.append((rule.score(offer, feed.gamma, feed.alpha), hop is not None, n, offer))
        scored.sort(key=lambda x: x[:3])
        mine = next(x[0] for x in scored if x[2] == here.name)
        out = []
        for _, _, n, offer in scored:
            empty = rule.score(replace(offer, backlog=0.0), feed.gamma, feed.alpha)
            slope = rule.score(replace(offer, backlog=1.0), feed.gamma, feed.alpha) - empty
            out.append((n, (mine - empty) / slope))
        return out

    def _offer(self, task: Task, n: str, hop: Hop | None, backlog: float) -> Offer:
        plan = task.feed.plan
        comm = 0.0 if hop is None else hop.latency + plan.sizes[task.k] / hop.rate
        return Offer(n, comm, self.env.now - task.born, plan.costs[task.k][n], backlog)

    def _decided(self, task: Task, to: str) -> None:
        if self.keep:
            self.decisions.append((task.rid, task.k, task.at, to, self.env.now))

    def _offload(
        self, task: Task, here: Worker, to: Worker, limit: float
    ) -> Generator[simpy.Event, Any, Outcome]:
        rule, feed = task.feed.plan.rule, task.feed
        there, back = here.neighbours[to.name], to.neighbours[here.name]
        grant = None
        if rule.handshake:
            seconds = feed.plan.costs[task.k][to.name]
            request = Request(task.rid, feed.rank, seconds, limit)
            grant = yield from self.handshake.ask(there, back, to, request)
            if grant is None:
                return AGAIN
        self._decided(task, to.name)
        lost = yield from there.send(task.feed.plan.sizes[task.k])
        if lost is None:
            if grant is not None:
                self.handshake.release(grant)
            return AGAIN if rule.resends else Status.FAILED
        task.lost += lost
        if grant is not None and not self.handshake.valid(grant):
            grant.worker.work.pop(task.rid, None)
            return AGAIN if rule.resends else Status.FAILED
        timeout = task.feed.plan.spec.timeout if rule.resends else None
        outcome = yield from self._serve(task, to, grant, timeout)
        return AGAIN if rule.resends and outcome == Status.FAILED else outcome

    def _serve(
        self, task: Task, w: Worker, grant: Grant | None, timeout: float | None
    ) -> Generator[simpy.Event, Any, Outcome]:
        """Queue (unless a slot was granted) and serve the next partition on ``w``."""
        env, device, feed = self.env, w.device, task.feed
        if grant is None or not grant.slot:
            limit = device.queue_limit
            full = limit is not None and len(device.queue) >= limit
            if not device.up or full:
                w.work.pop(task.rid, None)  # a queue place cleared for it, if any
                return Status.DROPPED if device.up else Status.FAILED
        process = env.active_process
        assert process is not None
        device.occupants[process] = None
        w.work[task.rid] = (feed.rank, feed.plan.costs[task.k][w.name])
        try:
            if grant is None or not grant.slot:
                granted = device.acquire(feed.rank)
                if granted is not None:
                    yield granted if timeout is None else granted | env.timeout(timeout)
                    if not granted.triggered:
                        device.withdraw(granted)
                        return AGAIN
            taken = grant.at if grant is not None and grant.slot else env.now
            w.work[task.rid] = (SERVING, feed.plan.costs[task.k][w.name])
            device.meter.start()
            yield env.timeout(feed.plan.service(task.k, w.name) + device.slowdown)
            device.meter.stop()
            device.served += 1
            device.release()
        except simpy.Interrupt:
            return Status.FAILED  # the device failed; its crash reset slots and meter
        finally:
            device.occupants.pop(process, None)
            w.work.pop(task.rid, None)
        if self.keep:
            self.holds.append((w.name, taken, env.now))
        task.at = w.name
        task.k += 1
        return None

    def _home(self, task: Task) -> Generator[simpy.Event, Any, bool]:
        """Carry the result back to the source: whether it got there."""
        key = (task.at, task.feed.spec.at, task.feed.plan.result_bytes)
        if key not in self._back:
            hops = route(self.world.graph, key[0], key[1])
            self._back[key] = Transfer(tuple(self.world.hop(i, a) for i, a, _ in hops), key[2])
        lost = yield from carry(self._back[key])
        if lost is None:
            return False
        task.lost += lost
        return True

    def _end(self, task: Task, status: Status, completion: float | None) -> None:
        feed = task.feed
        stamps = [task.born] if completion is None else [task.born, completion]
        feed.sink.append((task.rid, int(status), stamps, task.lost))
        del feed.live[task.rid]

    # -- records -----------------------------------------------------------

    def sources(self, warmup: float) -> tuple[SourceRecords, ...]:
        """Each MDI source's requests, as a pipeline source's (no stages: [arrival, end])."""
        return tuple(_records(f, warmup) for f in self.feeds)

    def __repr__(self) -> str:
        return f"Mdi(workers={list(self.workers)}, {self.exchange}, {self.handshake})"


def _records(f: Feed, warmup: float) -> SourceRecords:
    return source_records(
        f.sink, 2, list(f.live.items()), warmup,
        name=f.spec.name, pipeline=f.spec.pipeline, priority=f.spec.priority,
        deadline=f.spec.deadline, stages=(),
    )  # fmt: skip
