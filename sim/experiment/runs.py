"""One run of an experiment: a picklable spec, and a pure function that executes it.

A :class:`RunSpec` names one replication of one scenario variant (the variant is
already validated by the loader, see :mod:`sim.experiment.campaign`). :func:`execute`
simulates it wherever it is sent, in this process or in a worker of another machine,
writes the run's record files if asked, and returns a :class:`RunResult`: small, flat
metrics and the paths of those files. An exception inside the simulation becomes the
result's ``error``, so one bad variant does not stop a sweep.

A run's :attr:`RunSpec.key` is derived from the variant's content (:func:`variant_id`),
the seed and the replication index: the same run always has the same key, which makes
resubmission to a cluster idempotent and lets a sweep skip what is already done. The
key excludes everything that does not change the simulated numbers (the scenario's own
seed and replication count, where the records go).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.records import RECORDS, Records, Replication
from sim.spec import Scenario

__all__ = ["RECORDS", "Records", "RunResult", "RunSpec", "execute", "lost", "metrics", "variant_id"]


@dataclass(frozen=True, slots=True)
class RunSpec:
    """One replication of one validated scenario variant."""

    scenario: Scenario
    replication: int
    seed: int
    variant: str = ""  # the variant's id; "" means variant_id(scenario)
    params: tuple[tuple[str, Any], ...] = ()  # the swept (path, value) pairs
    records: Records = "summary"
    out: str | None = None  # a folder for this run's record files, or None for none
    fmt: str = "parquet"  # the requests file's format
    keep: bool = False  # return the Replication itself (for a single run's summary)

    @property
    def variant_id(self) -> str:
        return self.variant or variant_id(self.scenario)

    @property
    def key(self) -> str:
        return f"{self.variant_id}-s{self.seed}-r{self.replication}"

    @property
    def task(self) -> str:
        """The key with where and how the run writes its records: a name for the task on a
        shared cluster, where two sweeps writing to different folders must not share one."""
        where = json.dumps([self.records, self.out, self.fmt])
        return f"{self.key}-{hashlib.sha256(where.encode()).hexdigest()[:8]}"


@dataclass(frozen=True, slots=True)
class RunResult:
    """What crosses back from a worker: flat metrics, record file paths, the cost."""

    key: str
    variant: str
    params: tuple[tuple[str, Any], ...]
    replication: int
    seed: int
    error: str | None  # None on success: else the exception and its traceback
    metrics: dict[str, float] = field(default_factory=dict)
    files: tuple[str, ...] = ()
    wall: float = 0.0  # seconds in the worker
    cpu: float = 0.0  # CPU seconds of the worker's process for this run
    replication_record: Replication | None = None  # only when RunSpec.keep

    @property
    def ok(self) -> bool:
        return self.error is None


def execute(spec: RunSpec) -> RunResult:
    """Simulate ``spec``, write its record files, and return its result; never raises for
    a failure of the run itself (it is the result's ``error``)."""
    from sim.world import simulate

    wall, cpu = time.perf_counter(), time.process_time()
    variant = spec.variant_id
    rep: Replication | None = None
    files: tuple[str, ...] = ()
    flat: dict[str, float] = {}
    try:
        rep = simulate(spec.scenario, spec.seed, spec.replication, None, records=spec.records)
        flat = metrics(rep, spec.scenario)
        files = _write_records(spec, rep)
        error = None
    except Exception as exc:  # a run's own failure is its result, not the sweep's end
        error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
    return RunResult(
        key=spec.key,
        variant=variant,
        params=spec.params,
        replication=spec.replication,
        seed=spec.seed,
        error=error,
        metrics=flat,
        files=files,
        wall=time.perf_counter() - wall,
        cpu=time.process_time() - cpu,
        replication_record=rep if spec.keep else None,
    )


def lost(spec: RunSpec, exc: BaseException) -> RunResult:
    """The result of a run whose worker died under it (killed, out of memory, crashed):
    failed, with what the executor said, so the sweep goes on and a rerun tries it again."""
    return RunResult(
        key=spec.key,
        variant=spec.variant_id,
        params=spec.params,
        replication=spec.replication,
        seed=spec.seed,
        error=f"{type(exc).__name__}: the run's worker died: {exc}",
    )


def replicate(spec: RunSpec) -> Replication:
    """Simulate ``spec`` and return its records (for ``edgesim run``; errors propagate)."""
    from sim.world import simulate

    return simulate(spec.scenario, spec.seed, spec.replication, None, records=spec.records)


def _write_records(spec: RunSpec, rep: Replication) -> tuple[str, ...]:
    if spec.out is None or spec.records != "all" or not spec.scenario.outputs.requests:
        return ()
    from analysis.tables import filename, write_requests

    folder = Path(spec.out)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / filename(spec.fmt)
    write_requests(path, [rep], spec.fmt)
    return (str(path.resolve()),)


def metrics(rep: Replication, scenario: Scenario) -> dict[str, float]:
    """One replication's figures as flat ``dotted.name -> number`` pairs (NaN where a
    figure is undefined), from :func:`analysis.summary.metrics`, with the scenario's
    offered load per station and whether it is stable (``load.stable``: 1 or 0; where it
    is 0, latency figures are transient, not steady-state)."""
    from analysis.summary import load
    from analysis.summary import metrics as tree

    figures = tree(rep)
    figures["load"] = load(scenario, figures["links"])  # offered per station, stable (1 or 0)
    return dict(_flatten(figures, ""))


def _flatten(node: Any, prefix: str) -> Iterator[tuple[str, float]]:
    if isinstance(node, Mapping):
        for name, child in node.items():
            yield from _flatten(child, f"{prefix}.{name}" if prefix else str(name))
    elif isinstance(node, int | float):  # bool included
        yield prefix, float(node)
    elif node is None:
        yield prefix, math.nan


def variant_id(scenario: Scenario) -> str:
    """12 hex digits naming what the variant simulates (not its seed or replication count)."""
    doc = scenario.model_dump(mode="json", by_alias=True, exclude_none=True)
    for key in ("seed", "replications", "outputs"):
        doc.pop(key, None)
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]
