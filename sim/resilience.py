"""Wiring failures, detection and policies into a world.

:class:`Resilience` is built by :class:`sim.world.World` when anything in the
scenario can fail or a strategy other than ``none`` is in force. It starts the
failure processes and injections, creates a heartbeat detector for every
(sender, receiver) pair a strategy may use, starts each stage's strategy
runtime object (:mod:`sim.strategies`) for every source,
routes transfers around down links, and keeps the service availability of
every source: the fraction of time at which a request *could* be served,
meaning the source device is up and every stage has an up candidate device
(under its strategy) reachable from the source over up links.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

import networkx as nx
import simpy

from sim.detection import Detector
from sim.devices import Device
from sim.failures import Component, Health, crash_recover, injection
from sim.graph.expand import feeds
from sim.links import Hop, Link
from sim.records import Declaration, Faults
from sim.resilient import Resilient
from sim.routes import route
from sim.servable import servable
from sim.spec import Scenario, SourceSpec
from sim.strategies import Placement, Runtime, Shared, candidates, strategy
from sim.strategies.base import Believes

if TYPE_CHECKING:
    from sim.world import World

DEFAULT_LOAD_BANDWIDTH = 50e6
"""Bytes/s a restarted device reads partitions at, without ``load_bandwidth`` (SD-card class)."""


def needed(s: Scenario) -> bool:
    """Whether the scenario needs the resilient machinery at all."""
    return (
        bool(s.failures)
        or any(d.failure for d in s.devices.values())
        or any(link.failure for link in s.links)
        or any(
            strategy(s, p, k).machinery
            for p, pipe in s.pipelines.items()
            for k in range(len(pipe.stages))
        )
    )


class Resilience:
    """The failure-aware parts of one world."""

    def __init__(self, world: World) -> None:
        self.world = world
        env = world.env
        self.env = env
        self.health = Health(env)
        self.declarations: list[Declaration] = []
        self.detectors: dict[tuple[str, str], Detector] = {}
        self._paths: dict[tuple[frozenset[str], str, str], tuple[Hop, ...] | None] = {}
        self._down_links: frozenset[str] = frozenset()  # kept by _changed, read per transfer
        self._start_failures()
        self._set_load_times()
        s = world.scenario
        self.shared = Shared(env, world.devices, self._predict, s.fault_tolerance)
        believes = believer(self.detectors)
        chains = [(src, src.pipeline) for src in s.workload] + chained(s)
        placements = {src.name: self._placements(src, p, believes) for src, p in chains}
        self.resilient = Resilient(
            self._path, placements, {src.name: world.devices[src.at] for src, _ in chains}
        )
        self.available: dict[str, list[tuple[float, bool]]] = {
            src.name: [(0.0, True)] for src in s.workload
        }
        self.health.listeners.append(self._changed)

    # -- failures ------------------------------------------------------------

    def _start_failures(self) -> None:
        world, env, streams = self.world, self.env, self.world.streams
        components: dict[str, Component] = dict(world.devices)
        for link in world.links:
            components[link.name] = link
            components["-".join(link.spec.ends[::-1])] = link
        own: list[Component] = [*world.devices.values(), *world.links]
        for component in own:
            name = component.name
            failure = component.spec.failure
            if failure is None:
                continue
            ttf = failure.ttf.sampler(streams.rng(f"failure:{name}:ttf"))
            ttr = failure.ttr.sampler(streams.rng(f"failure:{name}:ttr")) if failure.ttr else None
            env.process(crash_recover(env, self.health, component, ttf, ttr))
        for spec in world.scenario.failures:
            target = components[spec.target]
            if isinstance(target, Link):
                target.fallible = True
            env.process(injection(env, self.health, target, spec))

    def _set_load_times(self) -> None:
        """A device reloads every partition it hosts (primary, hot standby, replica) on restart.

        Stages of several pipelines that run the same layers share one partition.
        """
        s = self.world.scenario
        hosted: dict[str, dict[str, float]] = {name: {} for name in s.devices}
        for pname, pipeline in s.pipelines.items():
            for k, stage in enumerate(pipeline.stages):
                for name in strategy(s, pname, k).hosts(stage):
                    hosted[name][self.partition(pname, k)] = self.load_time(pname, k, name)
        for name, partitions in hosted.items():
            self.world.devices[name].load_time = sum(partitions.values())

    def partition(self, pipeline: str, k: int) -> str:
        """The name of stage ``k``'s partition: its layer range, or the stage itself."""
        s = self.world.scenario
        stage = s.pipelines[pipeline].stages[k]
        if s.table is None or stage.service is not None:
            return f"{pipeline}.{k}"
        span = stage.layer_range(s.table)
        return f"layers {span.start}-{span.stop - 1}"

    def load_time(self, pipeline: str, k: int, device: str) -> float:
        s = self.world.scenario
        stage = s.pipelines[pipeline].stages[k]
        if stage.load_time is not None:
            return stage.load_time
        if s.table is None:
            return 0.0
        span = stage.layer_range(s.table)
        layers = s.table.cost_layers()[span.start : span.stop]
        rate = s.devices[device].load_bandwidth or DEFAULT_LOAD_BANDWIDTH
        return sum(layer.weight_bytes for layer in layers) / rate

    # -- placements and detection ------------------------------------------

    def _placements(self, source: Any, pname: str, believes: Believes) -> tuple[Runtime, ...]:
        """The runtime objects of the stages of pipeline ``pname`` for ``source`` (a
        workload source, or a source of a graph that chains the pipeline)."""
        world, s = self.world, self.world.scenario
        pipeline = s.pipelines[pname]
        out = []
        senders = [source.at]
        for k, (size, stage) in enumerate(zip(sizes(s, pname), pipeline.stages, strict=True)):
            chosen = strategy(s, pname, k)
            names = candidates(s, pname, k, source.at)
            plan = Placement(
                key=f"{pname}.{k}",
                partition=self.partition(pname, k),
                spec=chosen.spec,
                primary=world.devices[stage.on],
                standby=tuple(world.devices[d] for d in stage.standby),
                replicas=tuple(world.devices[d] for d in stage.replicas),
                source=world.devices[source.at],
                size=size,
                load_time=self.load_time(pname, k, stage.on),
                believes=believes,
                env=self.env,
                alternatives=tuple(world.devices[d] for d in names),
            )
            plan.services = {d: world.service_for(pname, k, d) for d in names}
            if (pname, k) in world.real:
                plan.real = {stage.on: world.real[(pname, k)]}
            out.append(chosen.start(plan, self.shared))
            for sender in senders:
                for name in names:
                    self._watch(name, sender, chosen.spec.heartbeat, chosen.spec.misses)
            senders = names
        return tuple(out)

    def _watch(self, device: str, observer: str, heartbeat: float, misses: int) -> None:
        if device == observer or (device, observer) in self.detectors:
            return
        rng = self.world.streams.rng(f"heartbeat:{device}:{observer}")
        watched = self.world.devices[device]

        usual = route(self.world.graph, device, observer)
        path = [device, *(self.world.links[i].name for i, _, _ in usual)]
        nominal = sum(self.world.scenario.links[i].latency for i, _, _ in usual)

        def beat() -> tuple[bool | simpy.Event, float]:
            """A device answers heartbeats once it is up and has reloaded its partitions.

            The latency is the beat's own, or the usual route's for a beat that never
            comes: the observer notices a missing beat when it would have arrived.
            """
            if watched.probe is not None:  # a real device: a real heartbeat, answered or not
                return watched.probe(), nominal
            hops = self._path(device, observer)
            if not watched.up or watched.loading or hops is None:
                return False, nominal
            return True, sum(h.latency for h in hops)

        def since(verdict: str, last_beat: float) -> float:
            """When the failure now declared began (the first on the beat's path after the
            last beat that arrived), or when the repair now declared happened."""
            changes = [c for c in self.health.timeline if c.component in path]
            if verdict == "down":
                return min((c.time for c in changes if c.state == "down" and c.time >= last_beat),
                           default=last_beat)  # fmt: skip
            return max((c.time for c in changes if c.state == "up"), default=0.0)

        self.detectors[(device, observer)] = Detector(
            self.env, watched, observer, beat, heartbeat, misses,
            float(rng.uniform(0, heartbeat)), since, self._declared,
        )  # fmt: skip

    def _declared(self, verdict: Declaration) -> None:
        self.declarations.append(verdict)
        self.shared.declared(verdict)

    def _predict(self, key: str, device: Device) -> float:
        pipeline, k = key.rsplit(".", 1)
        service = self.world.service_mean(pipeline, int(k), device.name)
        return float("inf") if service is None else service

    # -- routing over what is up -------------------------------------------

    def _path(self, a: str, b: str) -> tuple[Hop, ...] | None:
        world = self.world
        down = self._down_links
        key = (down, a, b)
        if key not in self._paths:
            graph = world.graph
            if down:
                graph = nx.restricted_view(
                    graph, [], [tuple(link.spec.ends) for link in world.links if not link.up]
                )
            try:
                hops = tuple(world.hop(i, frm) for i, frm, _ in route(graph, a, b))
            except nx.NetworkXNoPath:
                hops = None
            self._paths[key] = hops
        return self._paths[key]

    # -- availability --------------------------------------------------------

    def _changed(self, component: Component) -> None:
        now = self.env.now
        self._down_links = frozenset(link.name for link in self.world.links if not link.up)
        for source in self.world.scenario.workload:
            state = self._servable(source)
            history = self.available[source.name]
            if history[-1][1] != state:
                history.append((now, state))

    def _servable(self, source: Any) -> bool:
        world = self.world
        down_devices = [n for n, d in world.devices.items() if not d.up]
        down_links = [link.name for link in world.links if not link.up]
        return servable(world.scenario, source, down_devices, down_links)

    def records(self, start: float, end: float) -> Faults:
        """What failures did, for the replication's records."""
        return Faults(
            timeline=tuple(self.health.timeline),
            declarations=tuple(self.declarations),
            availability={n: self.availability(n, start, end) for n in self.available},
            failovers=self.shared.failovers,
            moves=self.shared.moves,
        )

    def availability(self, source: str, start: float, end: float) -> float:
        """Fraction of ``[start, end)`` at which ``source`` could be served."""
        history = self.available[source] + [(end, True)]
        total = 0.0
        for (t0, up), (t1, _) in itertools.pairwise(history):
            lo, hi = max(t0, start), min(t1, end)
            if up and hi > lo:
                total += hi - lo
        return total / (end - start)


def sizes(s: Scenario, pipeline: str) -> list[float]:
    """The bytes carried to each stage of ``pipeline``: the model's input, then each
    stage's output (zero without a model)."""
    model = s.table
    out, size = [], (model.input_bytes if model else 0.0)
    for stage in s.pipelines[pipeline].stages:
        out.append(size)
        span = stage.layer_range(model)
        size = model.layers[span.stop - 1].output_bytes if model and span else 0.0
    return out


def chained(s: Scenario) -> list[tuple[SourceSpec, str]]:
    """Each source of a graph that chains a pipeline, with the pipeline's name."""
    return [
        (src, spec.pipeline)
        for name, spec in s.graphs.items()
        if spec.pipeline is not None
        for g in spec.sources
        for src in feeds(name, g)
    ]


def believer(detectors: dict[tuple[str, str], Detector]) -> Believes:
    """A sender believes a device up unless its detector of that device says otherwise."""

    def believes(observer: str, device: Device) -> bool:
        if observer == device.name:
            return device.up
        detector = detectors.get((device.name, observer))
        return True if detector is None else detector.believed_up

    return believes
