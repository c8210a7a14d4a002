"""``none``: the stage's own device, and a lost request stays lost."""

from __future__ import annotations

from sim.strategies.base import Runtime, Strategy


class NoneRuntime(Runtime):
    """Always the stage's device; never re-sends."""

    __slots__ = ()

    def resend_at(self, sent: float, attempts: int) -> float | None:
        return None


class NoStrategy(Strategy):
    """No fault tolerance: what a deployment without redundancy does."""

    kind = "none"
    runtime = NoneRuntime
    machinery = False
    resends = False
