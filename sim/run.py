"""Running a scenario: replications of the simulated world, serially or in parallel.

Replication r of a run with seed s draws every stream from (s, r, component
name), so replications are independent and a run is reproducible from its
seed alone, however many processes share the work: a run with ``workers=4``
gives the records of a serial run, replication for replication. Warm-up deletion:
requests arriving before ``warmup`` are simulated but left out of the statistics,
and device and link usage is measured over ``[warmup, horizon)`` only.
"""

from __future__ import annotations

from collections.abc import Callable

from sim.experiment.executors import executor
from sim.experiment.runs import Records, RunSpec, replicate
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
    workers: int = 1,
    records: Records = "all",
) -> list[Replication]:
    """Simulate ``scenario`` (its seed and replication count unless overridden), on
    ``workers`` local processes; the records come back in replication order."""
    seed = scenario.seed if seed is None else seed
    count = scenario.replications if replications is None else replications
    if count < 1:
        raise ValueError(f"replications must be at least 1 (got {count})")
    if workers < 1:
        raise ValueError(f"workers must be at least 1 (got {workers})")
    if workers == 1 or count == 1:
        out = []
        for r in range(count):
            report = None if progress is None else _bind(progress, r)
            out.append(simulate(scenario, seed, r, report, records=records))
        return out
    specs = [RunSpec(scenario, r, seed, records=records) for r in range(count)]
    reps: dict[int, Replication] = {}
    with executor("processes", min(workers, count)) as pool:
        for i, rep in pool.map(replicate, specs):
            reps[i] = rep
            if progress is not None:
                progress(i, 1.0)
    return [reps[r] for r in range(count)]


def _bind(progress: RunProgress, r: int) -> Callable[[float], None]:
    return lambda fraction: progress(r, fraction)
