"""``retry``: the stage's own device; a lost request is re-sent after ``timeout``.

Up to ``max_attempts`` attempts, the n-th re-send waiting ``backoff × 2^(n-1)`` more.
The analytic model has no method for the re-sent requests' latency and success when
the stage's device can fail: those figures say ``not modelled``.
"""

from __future__ import annotations

from sim.problems import Problem
from sim.spec import StageSpec
from sim.strategies.base import Strategy


class Retry(Strategy):
    """Re-send to the same device."""

    kind = "retry"

    def problems(self, where: str) -> list[Problem]:
        if self.spec.timeout is None:
            return [Problem(f"{where}: fault_tolerance.timeout", "policy 'retry' needs a timeout")]
        return []

    def unmodelled(self, stage: StageSpec, fallible: set[str]) -> str | None:
        return f"policy retry on failing {stage.on}" if stage.on in fallible else None
