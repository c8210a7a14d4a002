"""``replicate``: every request goes to the stage's device and all its ``replicas`` at once.

The first served copy wins; the others still run (and load their devices). In the
analytic model the flow visits the first up candidate and every other up candidate
carries a shadow flow: its load without its answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from sim.strategies.base import Runtime, Strategy

if TYPE_CHECKING:
    from sim.devices import Device


class ReplicateRuntime(Runtime):
    """All of the stage's devices, every request."""

    __slots__ = ()

    def targets(self, here: Device, rid: int) -> list[Device]:
        return [self.plan.primary, *self.plan.replicas]


class Replicate(Strategy):
    """Copies on every replica; the first answer wins."""

    kind = "replicate"
    runtime = ReplicateRuntime
    devices_key = "replicas"

    def shadows(self, target: str, options: Iterable[str]) -> list[str]:
        return [other for other in options if other != target]
