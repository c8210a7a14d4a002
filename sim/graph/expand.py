"""From specs to resolved graphs: actors in topological order, sources one per device.

An actor's ``layers`` or cut-set ``part`` becomes the range of the model's layers it
runs; a part's ``sends`` (filled in by the loader) the bytes it hands each successor.
A graph's ``for_each`` source becomes one source per device listed, ``$source``
in its name replaced by the device's. A graph that names a pipeline becomes the
chain of its stages: actor ``stage{k}`` on the stage's device, after
``stage{k-1}``, with the stage's layers and service distribution, and its random
streams named as a ``pipelines:`` source's chain names them (``stage:PIPELINE.k:service``), so
that a chain graph and its pipeline draw the same numbers.

The graph is assumed checked (:mod:`sim.graph.checks`): acyclic, every name known.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from graphlib import TopologicalSorter

from sim.distributions import Distribution
from sim.graph import systems
from sim.graph.spec import SOURCE, ActorSpec, GraphSourceSpec, GraphSpec, Join, ModelExit
from sim.graph.systems import built
from sim.spec import ModelSpec, PipelineSpec, Scenario, SourceSpec

RESULT_BYTES = 1000.0
"""What a sink sends back to its source unless the graph says otherwise."""


@dataclass(frozen=True, slots=True)
class Actor:
    """One resolved actor."""

    name: str
    key: str  # names its random streams: stage:{key}:service, stage:{key}:exit
    on: str  # a device, or SOURCE
    inputs: tuple[str, ...]  # its producers; empty: the source
    span: range  # the model's layers it runs (empty: none)
    service: Distribution | None
    output_bytes: float
    weight_bytes: float
    fifo: int | None
    join: Join
    exit: float | None
    sends: tuple[tuple[str, float], ...] = ()  # bytes to the successors named; others: output
    index: int = -1  # its place in the graph's topological order (the log's actor column)

    def bytes_to(self, successor: str) -> float:
        """What it sends to ``successor``: a cut-set part sends each part its own tensors."""
        return dict(self.sends).get(successor, self.output_bytes)

    def device(self, at: str) -> str:
        """The device it runs on for a request from a source at ``at``."""
        return at if self.on == SOURCE else self.on

    @property
    def need(self) -> int:
        """Inputs it fires with (all of them, one, or k)."""
        if self.join == "all":
            return len(self.inputs)
        return 1 if self.join == "first" else self.join.k


@dataclass(frozen=True, slots=True)
class Graph:
    """A resolved graph: actors in topological order, their successors, its sources."""

    name: str
    actors: dict[str, Actor]
    successors: dict[str, tuple[str, ...]]
    sources: tuple[SourceSpec, ...]
    input_bytes: float
    result_bytes: float
    sinks: tuple[str, ...]  # actors nothing follows: each sends its result back to the source


def graphs(s: Scenario) -> list[Graph]:
    """Every graph of a checked scenario, resolved."""
    return [resolve(s, name, spec) for name, spec in s.graphs.items()]


def resolve(s: Scenario, name: str, spec: GraphSpec) -> Graph:
    """The graph ``name`` of ``s``."""
    spec = built(s, name, spec)
    model = s.table
    if spec.pipeline is not None:
        pipeline = s.pipelines[spec.pipeline]
        actors = chain(spec.pipeline, pipeline, model)
        result = pipeline.result_bytes
    else:
        specs = systems.actor_specs(s, name, spec)  # by hand, or built by its system
        actors = [_actor(name, a, n, model) for n, a in specs.items()]
        result = RESULT_BYTES
    order = TopologicalSorter({a.name: a.inputs for a in actors}).static_order()
    by_name = {a.name: a for a in actors}
    ordered = {n: replace(by_name[n], index=i) for i, n in enumerate(order)}
    successors = {n: tuple(m for m, a in ordered.items() if n in a.inputs) for n in ordered}
    given = spec.input_bytes if spec.input_bytes is not None else systems.input_bytes(spec)
    return Graph(
        name=name,
        actors=ordered,
        successors=successors,
        sources=tuple(src for g in spec.sources for src in feeds(name, g)),
        input_bytes=given if given is not None else (model.input_bytes if model else 0.0),
        result_bytes=spec.result_bytes if spec.result_bytes is not None else result,
        sinks=tuple(n for n, nxt in successors.items() if not nxt),
    )


def chain(pname: str, pipeline: PipelineSpec, model: ModelSpec | None) -> list[Actor]:
    """A pipeline's stages as a chain of actors."""
    out = []
    for k, stage in enumerate(pipeline.stages):
        span = stage.layer_range(model)
        out.append(
            Actor(
                name=f"stage{k}",
                key=f"{pname}.{k}",
                on=stage.on,
                inputs=(f"stage{k - 1}",) if k else (),
                span=span,
                service=stage.service,
                output_bytes=_output(model, span, None),
                weight_bytes=_weights(model, span, None),
                fifo=None,
                join="all",
                exit=None,
            )
        )
    return out


def _actor(graph: str, spec: ActorSpec, name: str, model: ModelSpec | None) -> Actor:
    span = range(0)
    layers = spec.layers or spec.part
    if model is not None and layers is not None:
        index = {layer.name: i for i, layer in enumerate(model.layers)}
        span = range(index[layers[0]], index[layers[1]] + 1)
    return Actor(
        name=name,
        key=f"{graph}.{name}",
        on=spec.on,
        inputs=spec.after,
        span=span,
        service=spec.service,
        output_bytes=_output(model, span, spec.output_bytes),
        weight_bytes=_weights(model, span, spec.weight_bytes),
        fifo=spec.fifo,
        join=spec.join,
        exit=None if isinstance(spec.exit, ModelExit) else spec.exit,  # sim.graph.accuracy's
        sends=tuple((spec.sends or {}).items()),
    )


def _output(model: ModelSpec | None, span: range, given: float | None) -> float:
    if given is not None:
        return given
    return model.layers[span.stop - 1].output_bytes if model is not None and span else 0.0


def _weights(model: ModelSpec | None, span: range, given: float | None) -> float:
    if given is not None:
        return given
    return sum(model.layers[i].weight_bytes for i in span) if model is not None else 0.0


def feeds(graph: str, spec: GraphSourceSpec) -> list[SourceSpec]:
    """The sources ``spec`` stands for, as workload sources of the graph."""
    places = [spec.at] if spec.at is not None else list(spec.for_each or ())
    return [
        SourceSpec(
            name=spec.name.replace(SOURCE, at),
            at=at,
            pipeline=graph,
            arrivals=spec.arrivals,
            priority=spec.priority,
            deadline=spec.deadline,
            count=spec.count,
        )
        for at in places
        if at is not None
    ]
