"""The experiment layer: runs as picklable specs, executors behind one protocol, sweeps.

Between the command line and the engine: :mod:`sim.experiment.runs` turns one
replication of one validated variant into a :class:`RunSpec` and executes it as a pure
function; :mod:`sim.experiment.executors` runs many of them in this process, in local
processes or on Dask; :mod:`sim.experiment.campaign` expands a sweep into variants and
:mod:`sim.experiment.store` keeps their results, resumably. For notebooks and scripts,
the same layer as functions (imported on first use, so ``import sim.experiment`` is cheap)::

    from sim.experiment import load, run, sweep
    result = run(load("scenarios/quickstart.yaml"), replications=4, workers=2)
    result.summary["latency"]["p95"]       # the figures of `edgesim run`
    result.requests().to_pandas()          # one row per request (pyarrow -> pandas)
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "RunSpec": "sim.experiment.runs",
    "RunResult": "sim.experiment.runs",
    "execute": "sim.experiment.runs",
    "variant_id": "sim.experiment.runs",
    "Executor": "sim.experiment.executors",
    "executor": "sim.experiment.executors",
    "load": "sim.experiment.api",
    "run": "sim.experiment.api",
    "Results": "sim.experiment.api",
    "sweep": "sim.experiment.campaign",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'sim.experiment' has no attribute {name!r}") from None
    return getattr(importlib.import_module(module), name)
