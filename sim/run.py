"""Running a scenario: replications of the simulated world.

Replication r of a run with seed s draws every stream from (s, r, component
name), so replications are independent and a run is reproducible from its
seed alone. Warm-up deletion: requests arriving before ``warmup`` are
simulated but left out of the statistics, and device and link usage is
measured over ``[warmup, horizon)`` only.
"""

from __future__ import annotations

from collections.abc import Callable

from sim.records import Replication
from sim.spec import Scenario
from sim.world import simulate

RunProgress = Callable[[int, float], None]
"""Called with the replication index and the fraction of its simulated time done."""


def run(
    scenario: Scenario,
    *,
    seed: int | None = None,
    replications: int | None = None,
    progress: RunProgress | None = None,
) -> list[Replication]:
    """Simulate ``scenario`` (its seed and replication count unless overridden)."""
    seed = scenario.seed if seed is None else seed
    count = scenario.replications if replications is None else replications
    if count < 1:
        raise ValueError(f"replications must be at least 1 (got {count})")
    out = []
    for r in range(count):
        report = None if progress is None else _bind(progress, r)
        out.append(simulate(scenario, seed, r, report))
    return out


def _bind(progress: RunProgress, r: int) -> Callable[[float], None]:
    return lambda fraction: progress(r, fraction)
