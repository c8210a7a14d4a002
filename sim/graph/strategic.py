"""Chains under fault-tolerance strategies: each actor asks its strategy where to go and
what to re-send.

Every ``pipelines:`` source is a chain (:mod:`sim.graph.chain`); when anything in the
world can fail, or a strategy adds redundancy, its requests take :func:`journey`
instead of the plain walk, and record the same row of stamps, with the devices that
served a request (``extra["devices"]``, rows kept) where they are not its actors' own:
a failover, a replica, a local fallback or a repartition served it elsewhere.

A graph that chains a pipeline (``pipeline: NAME``) carries the strategies of the
pipeline's stages (:mod:`sim.strategies`). When anything in the world can fail, or a
strategy adds redundancy, each request of such a graph walks its chain as the
failure-aware pipeline journey does: at each actor the stage's runtime object names
the device (or devices: copies, the first served wins) from the stage's
alternatives, per request (:meth:`sim.strategies.Runtime.targets`, the placement
seam); the token crosses the links that are up, is served by the one serve step
(:func:`sim.journey.serve`), and a lost attempt (a crash under it, a link down) is
re-sent when the runtime says, so a crash no longer simply fails the tokens it holds.
The result goes back to the source the same way (:func:`sim.resilient.deliver`).

The log records, per actor, the token's arrival at the device that served it, the start
and end of service and its send to the next actor, each when the actor's attempt is
decided (so the rows of one request are in order, those of several interleaved); an
actor whose every attempt was lost records a ``fail`` (or ``drop``, a full queue) and
ends the request. The same seed gives the same requests as the pipeline (a test).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import simpy

from sim.devices import Device
from sim.graph.log import Event
from sim.journey import DROPPED
from sim.records import Status
from sim.resilient import Resilient, deliver, stage
from sim.strategies import Runtime
from sim.streaming import Row

if TYPE_CHECKING:
    from sim.graph.chain import Chain
    from sim.graph.engine import Dataflow, Gen
    from sim.graph.tokens import Request


def journey(env: simpy.Environment, chain: Chain, rid: int, world: Resilient) -> Gen:
    """Carry request ``rid`` along ``chain`` under its actors' strategies; record its row."""
    arrival = env.now
    stamps = [arrival]
    here = world.source[chain.name]
    pinned = False
    stages = world.placements[chain.name]
    tally = [0]
    served: list[Device] = []
    for runtime in stages:
        outcome = yield from stage(env, world, chain.priority, runtime, here, pinned, tally, rid)
        if outcome is None or isinstance(outcome, str):
            status = Status.DROPPED if outcome == DROPPED else Status.FAILED
            _record(chain, (rid, status, stamps, tally[0]), served)
            return
        device, queued, started, ended = outcome
        stamps += [queued, started, ended]
        served.append(device)
        pinned = runtime.pinned(device, pinned)
        here = device
    source = world.source[chain.name]
    delivered = yield from deliver(env, world, stages[-1], here, source, chain.back.size, tally)
    if not delivered:
        _record(chain, (rid, Status.FAILED, stamps, tally[0]), served)
        return
    now = env.now
    stamps.append(now)
    late = chain.deadline is not None and now - arrival > chain.deadline
    _record(chain, (rid, Status.LATE if late else Status.OK, stamps, tally[0]), served)


def _record(chain: Chain, row: Row, served: list[Device]) -> None:
    """The request ended: its row, and the devices that served it where they are not its
    actors' own (kept only with the rows)."""
    chain.done.append(row)
    extra = chain.extra
    if extra is not None and any(
        d is not s.device for d, s in zip(served, chain.steps, strict=False)
    ):
        extra.setdefault("devices", {})[row[0]] = tuple(d.name for d in served)


def strategic(flow: Dataflow, req: Request, runtimes: tuple[Runtime, ...]) -> Gen:
    """Carry ``req`` along its chain, actor ``k`` under ``runtimes[k]``; record how it ended."""
    env, feed = flow.env, req.feed
    world = flow.resilient
    assert world is not None, "runtimes exist only where something can fail"
    note, rid, source = feed.note, req.rid, feed.index
    actors = list(feed.graph.actors.values())  # in topological order: the chain's
    here = origin = world.source[feed.spec.name]
    pinned, tally = False, [0]
    for k, (actor, runtime) in enumerate(zip(actors, runtimes, strict=True)):
        outcome = yield from stage(
            env, world, feed.spec.priority, runtime, here, pinned, tally, rid
        )
        if outcome is None or isinstance(outcome, str):
            dropped = outcome == DROPPED
            note((rid, source, actor.index, -1, Event.DROP if dropped else Event.FAIL, env.now))
            req.lost = tally[0]
            flow.end(req, Status.DROPPED if dropped else Status.FAILED, None)
            return
        device, queued, started, ended = outcome
        where = flow.device_index[device.name]
        note((rid, source, actor.index, where, Event.ARRIVE, queued))
        note((rid, source, actor.index, where, Event.START, started))
        note((rid, source, actor.index, where, Event.END, ended))
        if k < len(actors) - 1:
            note((rid, source, actor.index, where, Event.SEND, ended))
        pinned = runtime.pinned(device, pinned)
        here = device
    size = feed.graph.result_bytes
    delivered = yield from deliver(env, world, runtimes[-1], here, origin, size, tally)
    req.lost = tally[0]
    if not delivered:
        note((rid, source, actors[-1].index, -1, Event.FAIL, env.now))
        flow.end(req, Status.FAILED, None)
        return
    note((rid, source, -1, -1, Event.RECEIVE, env.now))
    deadline = feed.spec.deadline
    late = deadline is not None and env.now - req.arrival > deadline
    flow.end(req, Status.LATE if late else Status.OK, env.now)
