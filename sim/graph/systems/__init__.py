"""Systems that build a dataflow graph from a few parameters (``system: {kind: ...}``).

A graph gives its actors by hand (``actors:``), as a pipeline's chain (``pipeline:``),
or through a system: a small object of :data:`SYSTEMS`, found by the spec's ``kind``.
The system builds the actors (:func:`built`, :func:`actor_specs`), and from there the
graph is checked, resolved, run, analysed and scored as a hand-written one. A system
provides:

* ``spec``: its pydantic class, a member of :data:`SystemSpec` (tagged by ``kind``);
* ``problems(scenario, graph, spec)``: what keeps it from building, located at
  ``graphs.NAME.system...``;
* ``actors(scenario, graph, spec)``: the actors it builds, by name;
* ``scoring(spec)``: the trained model or ensemble that scores its requests, or None;
* ``input_bytes(spec)``: what a source sends unless the graph says, or None;
* ``damage(graph, spec)``: for the accuracy scorer (:mod:`sim.graph.accuracy`), the
  damage of the trained model that a set of missing actors (a bit mask of their
  indices) leaves; None when the built actors' ``loses`` say it;
* ``plan(scenario, graph, spec)``: the lines ``edgesim plan --strategy KIND`` prints, or
  None when the kind has a planner of its own.

Systems: ``rocoin`` (:mod:`sim.graph.systems.rocoin`), ``robustdice``
(:mod:`sim.graph.systems.robustdice`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Protocol

from pydantic import Field

from sim.graph.systems import rocoin
from sim.graph.systems.robustdice import ROBUSTDICE, RobustDiceSpec
from sim.graph.systems.rocoin import RocoinSpec

if TYPE_CHECKING:
    from models.accuracy import Damage
    from sim.graph.expand import Graph
    from sim.graph.spec import ActorSpec, GraphSpec
    from sim.problems import Problem
    from sim.spec import Scenario

SystemSpec = Annotated[RocoinSpec | RobustDiceSpec, Field(discriminator="kind")]
"""Every system's parameters, tagged by ``kind``."""


class System(Protocol):
    """What a system kind provides (see the module docstring)."""

    @property
    def spec(self) -> type[Any]: ...

    def problems(self, s: Scenario, graph: str, spec: Any) -> list[Problem]: ...

    def actors(self, s: Scenario, graph: str, spec: Any) -> dict[str, ActorSpec]: ...

    def scoring(self, spec: Any) -> str | None: ...

    def input_bytes(self, spec: Any) -> float | None: ...

    def damage(self, g: Graph, spec: Any) -> Callable[[int], Damage] | None: ...

    def plan(self, s: Scenario, graph: str, spec: Any) -> list[str] | None: ...


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

    def damage(self, g: Graph, spec: Any) -> None:
        return None  # its built groups lose `student:K` (sim.graph.accuracy_checks)

    def plan(self, s: Scenario, graph: str, spec: Any) -> None:
        return None  # edgesim plan --strategy rocoin has its optimiser (analysis.rocoin)


SYSTEMS: dict[str, System] = {"rocoin": _Rocoin(), "robustdice": ROBUSTDICE}
"""The systems by kind."""


def system(spec: GraphSpec) -> System | None:
    """The system a graph names, or None for a hand-written graph."""
    return None if spec.system is None else SYSTEMS[spec.system.kind]


def built(s: Scenario, graph: str, spec: GraphSpec) -> GraphSpec:
    """``spec`` with the actors its system builds (``spec`` itself without a system)."""
    found = system(spec)
    if found is None or spec.actors is not None:
        return spec
    return spec.model_copy(update={"actors": found.actors(s, graph, spec.system)})


def problems(s: Scenario, name: str, spec: GraphSpec) -> list[Problem]:
    """What keeps graph ``name``'s system from building its actors (none without one)."""
    found = system(spec)
    return [] if found is None else found.problems(s, name, spec.system)


def actor_specs(s: Scenario, name: str, spec: GraphSpec) -> dict[str, ActorSpec]:
    """The actors of graph ``name``: written by hand, or built by its system (checked)."""
    found = system(spec)
    if found is None or spec.actors is not None:
        return dict(spec.actors or {})
    return found.actors(s, name, spec.system)


def scoring(spec: GraphSpec) -> str | None:
    """The model that scores a graph's requests: its ``accuracy``, or its system's."""
    if spec.accuracy is not None:
        return spec.accuracy.model
    found = system(spec)
    return None if found is None else found.scoring(spec.system)


def input_bytes(spec: GraphSpec) -> float | None:
    """What a source of a system's graph sends unless the graph says (None: no system)."""
    found = system(spec)
    return None if found is None else found.input_bytes(spec.system)
