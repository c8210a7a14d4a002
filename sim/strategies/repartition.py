"""``repartition``: the stage runs where a world-wide :class:`Repartitioner` maps it.

On a declared failure of the device a stage is mapped to, the stage moves, after the
scenario's ``reconfiguration`` delay, to the up device with the lowest predicted time
(any device of the scenario is a candidate); with ``switch_back`` it returns to its own
device once that is declared up. Stages of several sources that share a pipeline move
together. The analytic model takes the fastest up device of the state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.spec import Scenario, StageSpec
from sim.strategies.base import Cost, Placement, Runtime, Shared, Strategy

if TYPE_CHECKING:
    from sim.devices import Device
    from sim.records import Declaration


class Repartitioner:
    """Moves stages off devices declared down, and back when they return (``switch_back``)."""

    def __init__(self, shared: Shared) -> None:
        self.shared = shared
        self.stages: dict[str, tuple[Device, list[Device]]] = {}  # key -> (primary, [current])

    def track(self, key: str, primary: Device) -> list[Device]:
        """Start tracking a stage; the returned one-item list always holds its device."""
        if key not in self.stages:
            self.stages[key] = (primary, [primary])
        return self.stages[key][1]

    def declared(self, verdict: Declaration) -> None:
        delay = self.shared.spec.reconfiguration
        self.shared.env.timeout(delay).callbacks.append(lambda _: self._apply(verdict))

    def _apply(self, verdict: Declaration) -> None:
        shared = self.shared
        for key, (primary, current) in self.stages.items():
            if verdict.state == "down" and current[0].name == verdict.device:
                alive = [d for d in shared.devices.values() if d.up]
                if alive:
                    current[0] = min(alive, key=lambda d, k=key: shared.predict(k, d))  # type: ignore[misc]
                    shared.moves += 1
            elif (
                verdict.state == "up"
                and shared.spec.switch_back
                and verdict.device == primary.name
                and current[0] is not primary
            ):
                current[0] = primary
                shared.moves += 1

    def __repr__(self) -> str:
        return f"Repartitioner(stages={len(self.stages)}, moves={self.shared.moves})"


class RepartitionRuntime(Runtime):
    """Wherever the repartitioner maps the stage now."""

    __slots__ = ("mapped",)

    def __init__(self, plan: Placement, shared: Shared) -> None:
        super().__init__(plan, shared)
        if "repartition" not in shared.coordinators:
            coordinator = Repartitioner(shared)
            shared.coordinators["repartition"] = coordinator
            shared.listeners.append(coordinator.declared)
        self.mapped = shared.coordinators["repartition"].track(plan.key, plan.primary)

    def targets(self, here: Device, rid: int) -> list[Device]:
        return [self.mapped[0]]

    def __repr__(self) -> str:
        return f"RepartitionRuntime({self.plan.key!r}, on={self.mapped[0].name!r})"


class Repartition(Strategy):
    """Move the stage to the fastest surviving device."""

    kind = "repartition"
    runtime = RepartitionRuntime
    acts_on_declaration = True

    def candidates(self, s: Scenario, stage: StageSpec, source_at: str | None) -> list[str]:
        out = super().candidates(s, stage, source_at)
        return [*out, *(d for d in s.devices if d not in out)]

    def alternative(self, options: list[str], source_at: str, cost: Cost) -> str:
        return min(options, key=cost)

    def neglected(self, fallible: set[str]) -> list[str]:
        if fallible and self.spec.reconfiguration > 0:
            return ["fault_tolerance.reconfiguration"]
        return []
