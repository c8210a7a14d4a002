"""Systems that build a dataflow graph from a few parameters (``system: {kind: ...}``).

A graph gives its actors by hand (``actors:``), as a pipeline's chain (``pipeline:``),
or through a system: a small object of :data:`SYSTEMS`, found by the spec's ``kind``,
with its ``spec`` class, ``problems(scenario, graph, spec)`` (what keeps it from
building, located at ``graphs.NAME.system...``), ``actors(scenario, graph, spec)``
(the actors it builds, which every other check, the engine and the analytic model
then take as hand-written ones), ``scoring(spec)`` (the trained model or ensemble
that scores its requests, or None) and ``input_bytes(spec)`` (what a source sends
unless the graph says, or None). :func:`actor_specs` is the one entry point.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from sim.graph.systems import rocoin
from sim.graph.systems.rocoin import RocoinSpec

if TYPE_CHECKING:
    from sim.graph.spec import ActorSpec, GraphSpec
    from sim.problems import Problem
    from sim.spec import Scenario

SystemSpec = RocoinSpec
"""Every system's spec; a union discriminated by ``kind`` once there are several."""


class System(Protocol):
    """How one kind of system builds its graph."""

    @property
    def spec(self) -> type:
        """The class of its ``system:`` body."""
        ...

    def problems(self, s: Scenario, graph: str, spec: Any) -> list[Problem]: ...
    def actors(self, s: Scenario, graph: str, spec: Any) -> dict[str, ActorSpec]: ...
    def scoring(self, spec: Any) -> str | None: ...
    def input_bytes(self, spec: Any) -> float | None: ...


@dataclass(frozen=True, slots=True)
class _Rocoin:
    spec: type = RocoinSpec

    def problems(self, s: Scenario, graph: str, spec: Any) -> list[Problem]:
        return rocoin.problems(s, graph, spec)

    def actors(self, s: Scenario, graph: str, spec: Any) -> dict[str, ActorSpec]:
        return rocoin.actors(s, graph, spec)

    def scoring(self, spec: Any) -> str | None:
        return str(spec.ensemble_name())

    def input_bytes(self, spec: Any) -> float | None:
        return rocoin.input_bytes(spec)


SYSTEMS: dict[str, System] = {"rocoin": _Rocoin()}


def problems(s: Scenario, name: str, spec: GraphSpec) -> list[Problem]:
    """What keeps graph ``name``'s system from building its actors (none without one)."""
    if spec.system is None:
        return []
    return SYSTEMS[spec.system.kind].problems(s, name, spec.system)


def actor_specs(s: Scenario, name: str, spec: GraphSpec) -> dict[str, ActorSpec]:
    """The actors of graph ``name``: written by hand, or built by its system (checked)."""
    if spec.system is None:
        return dict(spec.actors or {})
    return SYSTEMS[spec.system.kind].actors(s, name, spec.system)


def scoring(spec: GraphSpec) -> str | None:
    """The model that scores a graph's requests: its ``accuracy``, or its system's."""
    if spec.accuracy is not None:
        return spec.accuracy.model
    return SYSTEMS[spec.system.kind].scoring(spec.system) if spec.system is not None else None


def input_bytes(spec: GraphSpec) -> float | None:
    """What a source of a system's graph sends unless the graph says (None: no system)."""
    return SYSTEMS[spec.system.kind].input_bytes(spec.system) if spec.system is not None else None
