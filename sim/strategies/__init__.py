"""Fault-tolerance strategies as objects: a registry by ``kind``, one module per strategy.

A stage's ``fault_tolerance.policy`` names its strategy; :func:`strategy` builds the
:class:`~sim.strategies.base.Strategy` of a stage from its spec, and everything that
depends on the policy (the loader's checks, the candidates of a stage, the runtime
objects of the failure-aware journey, the analytic model's choice of device) asks it.
A new strategy is one module with a :class:`~sim.strategies.base.Strategy` subclass
(and its :class:`~sim.strategies.base.Runtime`), listed in ``KINDS`` below and in the
spec's ``policy`` choices; see docs/strategies.md.
"""

from __future__ import annotations

from sim.spec import FaultToleranceSpec, Scenario
from sim.strategies.base import Placement, Runtime, Shared, Strategy
from sim.strategies.failover import Failover
from sim.strategies.local_fallback import LocalFallback
from sim.strategies.none import NoStrategy
from sim.strategies.repartition import Repartition
from sim.strategies.replicate import Replicate
from sim.strategies.retry import Retry

KINDS: tuple[type[Strategy], ...] = (
    NoStrategy,
    Retry,
    Failover,
    Replicate,
    LocalFallback,
    Repartition,
)
STRATEGIES: dict[str, type[Strategy]] = {cls.kind: cls for cls in KINDS}
"""Every strategy by its ``kind`` (the spec's ``policy``), in the documented order."""


def of(spec: FaultToleranceSpec) -> Strategy:
    """The strategy a fault-tolerance spec asks for."""
    try:
        cls = STRATEGIES[spec.policy]
    except KeyError:
        known = ", ".join(STRATEGIES)
        raise ValueError(f"policy: unknown {spec.policy!r}; choose one of {known}") from None
    return cls(spec)


def strategy(s: Scenario, pipeline: str, k: int) -> Strategy:
    """The strategy of stage ``k`` of ``pipeline``: its own, its pipeline's or the scenario's."""
    return of(s.policy(pipeline, k))


def candidates(s: Scenario, pipeline: str, k: int, source_at: str | None = None) -> list[str]:
    """The devices that may serve stage ``k`` of ``pipeline`` under its strategy."""
    stage = s.pipelines[pipeline].stages[k]
    return list(dict.fromkeys(strategy(s, pipeline, k).candidates(s, stage, source_at)))


__all__ = [
    "KINDS",
    "STRATEGIES",
    "Placement",
    "Runtime",
    "Shared",
    "Strategy",
    "candidates",
    "of",
    "strategy",
]
