"""``local_fallback``: the stage's device, or, once it is believed down, the source itself.

Once a request is served on its source instead of the stage's device, it stays there
for every later stage (Edge-PRUNE's endpoint-only mode).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sim.spec import Scenario, StageSpec
from sim.strategies.base import Cost, Runtime, Strategy

if TYPE_CHECKING:
    from sim.devices import Device


class LocalFallbackRuntime(Runtime):
    """The stage's device while believed up, else the source."""

    __slots__ = ()

    def targets(self, here: Device, rid: int) -> list[Device]:
        plan = self.plan
        if not plan.believes(here.name, plan.primary):
            return [plan.source]
        return [plan.primary]

    def pinned(self, device: Device, pinned: bool) -> bool:
        if device is self.plan.source:
            return device is not self.plan.primary
        return pinned


class LocalFallback(Strategy):
    """Fall back to the endpoint."""

    kind = "local_fallback"
    runtime = LocalFallbackRuntime
    acts_on_declaration = True

    def candidates(self, s: Scenario, stage: StageSpec, source_at: str | None) -> list[str]:
        out = super().candidates(s, stage, source_at)
        return out if source_at is None else [*out, source_at]

    def rated(self, stage: StageSpec, sources: Sequence[str]) -> list[str]:
        return [*super().rated(stage, sources), *sources]

    def alternative(self, options: list[str], source_at: str, cost: Cost) -> str:
        return source_at

    def pins(self, stage: StageSpec, target: str, source_at: str) -> bool:
        return target == source_at and stage.on != source_at
