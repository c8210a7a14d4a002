"""edgesim from Python: load a scenario, run it, and get its results as tables.

The same calls as ``edgesim run``, without files unless asked for::

    from sim.experiment import load, run
    s = load({"name": "demo", ...})            # or a path; validated like a file
    result = run(s, replications=8, workers=2)
    result.summary                             # the nested figures of summary.json
    result.metrics().to_pandas()               # replication, metric, value
    result.requests().to_pandas()              # one row per request

Errors are the loader's :class:`sim.loader.ScenarioError`, naming every problem.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.experiment.runs import Records, metrics
from sim.records import Replication
from sim.spec import Scenario


def load(
    source: str | Path | Mapping[str, Any] | Scenario, catalogs: Iterable[str | Path] = ()
) -> Scenario:
    """A validated scenario from a file path, a parsed document, or a scenario as is."""
    from sim import loader

    if isinstance(source, Scenario):
        return source
    if isinstance(source, Mapping):
        return loader.from_dict(dict(source), catalogs=catalogs)
    return loader.load(source, catalogs)


@dataclass(frozen=True)
class Results:
    """A run's replications and what ``edgesim run`` makes of them."""

    scenario: Scenario
    replications: Sequence[Replication]

    @property
    def summary(self) -> dict[str, Any]:
        from analysis.summary import summary

        return summary(self.replications, self.scenario)

    def metrics(self) -> Any:
        """A pyarrow table: replication, metric, value (one row per figure)."""
        import pyarrow as pa

        rows = [
            (r.index, k, v) for r in self.replications for k, v in metrics(r, self.scenario).items()
        ]
        reps, names, values = zip(*rows, strict=True) if rows else ((), (), ())
        return pa.table({"replication": reps, "metric": names, "value": values})

    def requests(self) -> Any:
        """A pyarrow table with one row per finished request (see docs/results.md)."""
        from analysis.tables import requests_table

        return requests_table(self.replications)


def run(
    scenario: Scenario | str | Path | Mapping[str, Any],
    *,
    seed: int | None = None,
    replications: int | None = None,
    workers: int = 1,
    records: Records = "all",
) -> Results:
    """Simulate ``scenario`` like ``edgesim run`` (results identical for any ``workers``)."""
    from sim.loader import revised
    from sim.run import run as simulate

    s = load(scenario)
    update: dict[str, Any] = {}
    if seed is not None:
        update["seed"] = seed
    if replications is not None:
        update["replications"] = replications
    if update:
        s = revised(s, s.name, **update)
    reps = simulate(s, workers=workers, records=records)
    return Results(s, reps)
