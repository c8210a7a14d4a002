"""Building the simulated world from a resolved scenario, and running it.

:class:`World` turns specs into SimPy objects and wires them before t = 0: devices,
link media (hops found by :mod:`sim.routes`), service-time samplers from the cost
model or the stage's own distribution, the failure machinery when anything can fail,
and the graph engine (:class:`sim.graph.engine.Dataflow`), which runs every source:
a ``pipelines:`` source as a chain (:mod:`sim.graph.chain`), a graph's through its
actors. Every stochastic component gets its own named stream from
:class:`sim.streams.Streams`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Generator, Mapping
from typing import Any

import simpy

from sim.costs import stage_cost
from sim.devices import Device
from sim.graph.chain import Chain
from sim.graph.engine import Dataflow
from sim.graph.expand import Actor, chain
from sim.graph.samplers import Samplers
from sim.journey import RealService
from sim.links import Hop, Link, Medium
from sim.mdi.engine import Mdi
from sim.records import RECORDS, DeviceUsage, LinkUsage, Records, Replication
from sim.resilience import Resilience
from sim.resilience import needed as resilience_needed
from sim.routes import route, topology
from sim.spec import Scenario
from sim.streams import Streams

Progress = Callable[[float], None]
"""Called with the fraction of simulated time done."""


class World:
    """One replication's simulated system, ready to run."""

    def __init__(
        self,
        scenario: Scenario,
        streams: Streams,
        env: simpy.Environment | None = None,
        real: Mapping[tuple[str, int], RealService] | None = None,
        records: Records = "all",
    ) -> None:
        """``env`` and ``real`` are what hardware in the loop changes: a real-time
        environment, and the stages (pipeline, index) that real devices run.
        ``records``: keep every request's row (``all``) or only their statistics."""
        if records not in RECORDS:
            raise ValueError(f"records: unknown {records!r}; choose one of {', '.join(RECORDS)}")
        self.scenario = scenario
        self.streams = streams
        self.env = env or simpy.Environment()
        self.real = dict(real or {})
        self.devices = {n: Device(self.env, n, d) for n, d in scenario.devices.items()}
        self.links = self._links()
        self.graph = topology(list(scenario.devices), scenario.links)
        self._hops: dict[tuple[int, str], Hop] = {}
        self._samplers = Samplers(scenario, streams)  # the stages' (a graph's: Dataflow's)
        self._stages: dict[str, list[Actor]] = {}  # per pipeline, its stages as actors
        self._ids = itertools.count()
        self._snapshot: dict[str, float] = {}
        self.resilience = Resilience(self) if resilience_needed(scenario) else None
        self.dataflow = Dataflow(self, records)
        self.routes: list[Chain] = self.dataflow.pipelines.chains  # the pipelines' sources
        mdi = any(p.strategy is not None for p in scenario.pipelines.values())
        self.mdi = Mdi(self, records) if mdi else None  # pipelines placed hop by hop (sim.mdi)
        self.env.process(self._warmup())

    def route(self, source: str) -> Chain:
        """The chain of the ``pipelines:`` source called ``source``."""
        return next(r for r in self.routes if r.name == source)

    def run(self, progress: Progress | None = None, chunks: int = 100) -> Replication:
        """Simulate up to the horizon and return the records."""
        horizon = self.scenario.horizon
        if progress is None:
            self.env.run(until=horizon)
        else:
            for k in range(1, chunks + 1):
                self.env.run(until=horizon * k / chunks)
                progress(k / chunks)
        return self._records()

    # -- wiring ------------------------------------------------------------

    def _links(self) -> list[Link]:
        shared: dict[str, Medium] = {}
        links = []
        for spec in self.scenario.links:
            a, b = spec.ends
            name = f"{a}-{b}"
            if spec.shared is not None:
                medium = shared.setdefault(spec.shared, Medium(self.env, spec.shared))
                media = {a: medium, b: medium}
            else:
                media = {a: Medium(self.env, f"{a}->{b}"), b: Medium(self.env, f"{b}->{a}")}
            links.append(Link(name, spec, media))
        return links

    def hop(self, index: int, frm: str) -> Hop:
        """The hop over link ``index`` leaving ``frm``; one object per direction."""
        key = (index, frm)
        if key not in self._hops:
            link = self.links[index]
            stream = f"link:{link.name}:{frm}"
            jitter = link.spec.jitter
            sampler = jitter.sampler(self.streams.rng(f"{stream}:jitter")) if jitter else None
            loss = self.streams.rng(f"{stream}:loss")
            self._hops[key] = Hop(self.env, link, frm, sampler, loss)
        return self._hops[key]

    def path(self, src: str, dst: str) -> tuple[Hop, ...]:
        """The hops of the usual route from device ``src`` to device ``dst``."""
        return tuple(self.hop(i, a) for i, a, _ in route(self.graph, src, dst))

    def service_for(self, pipeline: str, k: int, device: str) -> Callable[[], float]:
        """The service-time sampler of stage ``k`` on ``device``: its own distribution,
        or the cost model × the device's noise (:class:`sim.graph.samplers.Samplers`, the
        rules of every actor). One per (stage, device), shared by sources."""
        actors = self._stages.get(pipeline)
        if actors is None:
            spec = self.scenario.pipelines[pipeline]
            actors = self._stages[pipeline] = chain(pipeline, spec, self.scenario.table)
        return self._samplers.service(actors[k], device)

    def service_mean(self, pipeline: str, k: int, device: str) -> float | None:
        """The mean service time of stage ``k`` on ``device``; None if it cannot run there."""
        stage = self.scenario.pipelines[pipeline].stages[k]
        if stage.service is not None:
            return stage.service.mean
        cost = stage_cost(self.scenario, pipeline, k, device)
        noise = self.scenario.devices[device].service_noise
        return None if cost is None else cost * (noise.mean if noise else 1.0)

    # -- processes ---------------------------------------------------------

    def submit(self, r: Chain) -> simpy.Process:
        """A request of the chain ``r`` arrives now; the process carries it."""
        return self.dataflow.pipelines.submit(r)

    def _warmup(self) -> Generator[simpy.Event, Any, None]:
        yield self.env.timeout(self.scenario.warmup)
        self._snapshot = self._usage(self.env.now)

    def _usage(self, t: float) -> dict[str, float]:
        out = {f"device:{n}": d.meter.area(t) for n, d in self.devices.items()}
        out |= {f"served:{n}": float(d.served) for n, d in self.devices.items()}
        for link in self.links:
            out[f"bytes:{link.name}"] = link.bytes
            for medium in link.media.values():
                out[f"medium:{medium.name}"] = medium.meter.area(t)
        return out

    # -- records -----------------------------------------------------------

    def _records(self) -> Replication:
        s = self.scenario
        end = s.horizon
        now, then = self._usage(end), self._snapshot

        def used(key: str) -> float:
            return now[key] - then.get(key, 0.0)

        devices = tuple(
            DeviceUsage(
                n,
                d.spec.slots,
                used(f"device:{n}"),
                int(used(f"served:{n}")),
                d.spec.power_idle,
                d.spec.power_busy,
            )
            for n, d in self.devices.items()
        )
        links = tuple(
            LinkUsage(
                link.name,
                used(f"bytes:{link.name}"),
                max(used(f"medium:{m.name}") for m in link.media.values()),
                link.spec.shared,
            )
            for link in self.links
        )
        flow = self.dataflow
        sources = flow.sources(s.warmup)
        graphs = flow.records()
        if self.mdi is not None:
            sources += self.mdi.sources(s.warmup)
        faults = None if self.resilience is None else self.resilience.records(s.warmup, end)
        return Replication(
            self.streams.replication, self.streams.seed, s.warmup, end, sources, devices, links,
            faults, tuple(sorted(self.real)), graphs,
        )  # fmt: skip

    def __repr__(self) -> str:
        return f"World({self.scenario.name!r}, t={self.env.now:g}, routes={self.routes})"


def simulate(
    scenario: Scenario,
    seed: int,
    replication: int = 0,
    progress: Progress | None = None,
    records: Records = "all",
) -> Replication:
    """Build and run one replication of ``scenario``, keeping ``records`` of its requests."""
    return World(scenario, Streams(seed, replication), records=records).run(progress)
