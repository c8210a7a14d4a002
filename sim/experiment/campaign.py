"""Running a sweep: every replication of every variant, on an executor, resumably.

:func:`sweep` is what ``edgesim sweep`` calls, and what a notebook calls::

    from sim.experiment import sweep
    result = sweep("scenarios/quickstart.yaml",
                   {"links.0.bandwidth": ["20Mbps", "48.7Mbps"]},
                   replications=3, executor="inprocess")
    result.table().to_pandas()       # run, variant, links.0.bandwidth, ..., metric, value
    result.summary().to_pandas()     # per variant and metric: mean, ci95_low, ci95_high, n

The plan (:mod:`sim.experiment.plan`) is built and every variant validated first; a
sweep whose estimated events (:mod:`sim.budget`) pass the limit is refused unless
``force``. Runs are :class:`~sim.experiment.runs.RunSpec` s, one per variant and
replication, all with the same seed: common random numbers across variants. With
``out``, each finished run's result is written there as it arrives and a rerun skips
what is done (:mod:`sim.experiment.store`); without, results stay in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sim.experiment.plan import Plan, SweepError, plan, read
from sim.experiment.runs import Records, RunResult, RunSpec, execute, lost
from sim.experiment.store import Store
from sim.spec import Scenario

__all__ = ["Plan", "SweepError", "SweepResults", "specs", "sweep", "within_budget"]

OnResult = Callable[[RunResult, int, int], None]
"""Called as each run finishes, with the result, the runs done so far and the total."""


@dataclass(frozen=True)
class SweepResults:
    """Every run of a sweep (those done before a resume included), in plan order."""

    plan: Plan
    results: tuple[RunResult, ...]
    out: Path | None = None
    skipped: int = 0  # runs found done in ``out`` and not run again

    @property
    def failed(self) -> list[RunResult]:
        return [r for r in self.results if not r.ok]

    def table(self) -> Any:
        """The long table as pyarrow: run, variant, each swept path, replication, seed,
        metric, value."""
        from sim.experiment.store import tables

        return tables(self.results)[0]

    def summary(self) -> Any:
        """Per variant and metric: the mean over replications and its 95 % interval."""
        from sim.experiment.store import tables

        return tables(self.results)[1]

    def runs(self) -> Any:
        """Per run: ok, the first line of its error, wall and CPU seconds."""
        from sim.experiment.store import tables

        return tables(self.results)[2]


def sweep(
    source: str | Path | Mapping[str, Any] | Scenario | Plan,
    over: Mapping[str, Any] | None = None,
    *,
    replications: int | None = None,
    seed: int | None = None,
    out: str | Path | None = None,
    executor: str = "dask",
    workers: int | None = None,
    scheduler: str | None = None,
    records: Records = "summary",
    fmt: str = "parquet",
    force: bool = False,
    on_result: OnResult | None = None,
) -> SweepResults:
    """Run a sweep: of a sweep file, or of a scenario (file, document) over ``over``
    (a ``sweep:`` section: path -> values). See the module docstring."""
    from sim.experiment.executors import executor as make_executor

    chosen = _plan(source, over, replications, seed)
    if not force:
        within_budget(chosen)
    store = None if out is None else Store(Path(out), _manifest(chosen, records, fmt), force)
    todo = specs(chosen, records, fmt, store)
    done = {} if store is None else {k: r for k, r in store.done().items() if r.ok}
    missing = [s for s in todo if s.key not in done]
    with make_executor(executor, workers, scheduler) as ex:
        for _, result in ex.map(execute, missing, [s.task for s in missing], fallback=lost):
            if store is not None:
                store.save(result)
            done[result.key] = result
            if on_result is not None:
                on_result(result, len(done), len(todo))
    results = tuple(done[s.key] for s in todo if s.key in done)
    if store is not None:
        store.write_tables(results, fmt)
    return SweepResults(chosen, results, None if store is None else store.root,
                        len(todo) - len(missing))  # fmt: skip


def specs(p: Plan, records: Records = "summary", fmt: str = "parquet",
          store: Store | None = None) -> list[RunSpec]:  # fmt: skip
    """One run per variant and replication, every variant with the plan's seed."""
    out = []
    for v in p.variants:
        for r in range(p.replications):
            spec = RunSpec(v.scenario, r, p.seed, v.id, v.params, records, None, fmt)
            if store is not None and records == "all":
                spec = replace(spec, out=store.records(spec.key))
            out.append(spec)
    return out


def within_budget(p: Plan) -> None:
    """Raise :class:`SweepError` when the sweep's estimated events pass the limit."""
    from sim.budget import LIMIT, parts

    per = [(v, parts(v.scenario)) for v in p.variants]
    scale = [p.replications / v.scenario.replications for v in p.variants]
    total = sum(sum(x.events for x in found) * k for (_, found), k in zip(per, scale,
                strict=True))  # fmt: skip
    if total <= LIMIT:
        return
    variant, found = max(per, key=lambda vf: sum(x.events for x in vf[1]))
    raise SweepError([
        f"{p.file}: the sweep would process about {total:.2g} events over {p.runs} runs, "
        f"over the limit of {LIMIT:.0e} (most from variant ({variant.label}), "
        f"{found[0].path}); shorten the horizon, sweep fewer values or replications, "
        "or pass --force"
    ])  # fmt: skip


def _plan(
    source: str | Path | Mapping[str, Any] | Scenario | Plan,
    over: Mapping[str, Any] | None,
    replications: int | None,
    seed: int | None,
) -> Plan:
    if isinstance(source, Plan):
        return source
    if isinstance(source, Scenario):
        source = source.model_dump(mode="json", by_alias=True, exclude_none=True)
    if isinstance(source, Mapping):
        return plan(dict(source), dict(over or {}), replications, seed)
    return read(source, (), replications, seed, over=over)


def _manifest(p: Plan, records: str, fmt: str) -> dict[str, Any]:
    return {
        "variants": {v.id: v.point for v in p.variants},
        "seed": p.seed,
        "replications": p.replications,
        "records": records,
        "format": fmt,
    }
