"""Graph actors under fault-tolerance strategies: a chained pipeline's stages, each asking
its strategy where to go and what to re-send.

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

from sim.graph.log import Event
from sim.journey import DROPPED
from sim.records import Status
from sim.resilient import deliver, stage
from sim.strategies import Runtime

if TYPE_CHECKING:
    from sim.graph.engine import Dataflow, Gen
    from sim.graph.tokens import Request


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
