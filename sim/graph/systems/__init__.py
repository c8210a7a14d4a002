"""Systems that build a dataflow graph from a few parameters: ``system: {kind: ..., ...}``.

A graph names a system instead of writing its ``actors``; the system builds them
(:func:`built`), and from there the graph is checked, resolved, run, analysed and
scored as a hand-written one. A system is a small object in :data:`SYSTEMS`, by kind:

* ``spec``: its pydantic class, a member of :data:`SystemSpec` (tagged by ``kind``);
* ``problems(scenario, graph, spec)``: what is wrong with its parameters, before any
  actor is built (paths under ``graphs.NAME.system``);
* ``actors(scenario, graph, spec)``: the actors it builds, by name;
* ``damage(graph, spec)``: for the accuracy scorer (:mod:`sim.graph.accuracy`), which
  damage of the trained model a set of missing actors (a bit mask of their indices)
  leaves;
* ``plan(scenario, graph, spec)``: the lines ``edgesim plan --strategy KIND`` prints.

Systems: ``robustdice`` (:mod:`sim.graph.systems.robustdice`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from sim.graph.systems.robustdice import ROBUSTDICE, RobustDiceSpec

if TYPE_CHECKING:
    from models.accuracy import Damage
    from sim.graph.expand import Graph
    from sim.graph.spec import ActorSpec, GraphSpec
    from sim.problems import Problem
    from sim.spec import Scenario

SystemSpec = RobustDiceSpec
"""Any system's parameters (with more systems: their union, tagged by ``kind``)."""


class System(Protocol):
    """What a system kind provides (see the module docstring)."""

    @property
    def spec(self) -> type[Any]: ...

    def problems(self, s: Scenario, graph: str, spec: Any) -> list[Problem]: ...

    def actors(self, s: Scenario, graph: str, spec: Any) -> dict[str, ActorSpec]: ...

    def damage(self, g: Graph, spec: Any) -> Callable[[int], Damage]: ...

    def plan(self, s: Scenario, graph: str, spec: Any) -> list[str]: ...


SYSTEMS: dict[str, System] = {"robustdice": ROBUSTDICE}
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
