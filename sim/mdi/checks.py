"""The meaning checks of pipelines with a ``strategy``: what MDI needs to run.

A model to split; partitions the model has cut points for; workers that are
devices; every source of the pipeline at a worker; weights and success factors
naming the pipeline's sources; every partition costed on every worker.
"""

from __future__ import annotations

from sim.mdi import partitions
from sim.mdi.plan import workers
from sim.mdi.spec import MdiSpec
from sim.problems import Problem
from sim.spec import Scenario


def check(s: Scenario) -> list[Problem]:
    """Every problem of every MDI pipeline, one line each."""
    problems = []
    for name, p in s.pipelines.items():
        if p.strategy is not None:
            problems += _check(s, name, p.strategy)
    return problems


def _check(s: Scenario, name: str, spec: MdiSpec) -> list[Problem]:
    where = f"pipelines.{name}.strategy"
    model = s.table
    if model is None:
        return [Problem(where, f"{spec.kind} splits a model: give the scenario a model")]
    problems = []
    try:
        spans = partitions.spans(model, spec)
    except ValueError as exc:
        return [Problem(f"{where}.partitions", str(exc), spec.partitions)]
    known = ", ".join(s.devices)
    for i, n in enumerate(workers(s, spec)):
        if n not in s.devices:
            problems.append(Problem(f"{where}.workers[{i}]", f"unknown device (known: {known})", n))
    if problems:
        return problems
    mine = {src.name: (i, src) for i, src in enumerate(s.workload) if src.pipeline == name}
    names = ", ".join(mine) or "none"
    for key in ("weights", "alpha"):
        for source in getattr(spec, key):
            if source not in mine:
                problems.append(
                    Problem(f"{where}.{key}.{source}", f"not a source of {name} (its: {names})")
                )
    pool = workers(s, spec)
    for i, src in mine.values():
        if src.at not in pool:
            problems.append(
                Problem(f"workload[{i}].at", f"{spec.kind} needs the source at a worker", src.at)
            )
    for n in pool:
        try:
            costed = all(partitions.cost(s, span, n) is not None for span in spans)
        except KeyError as exc:
            problems.append(
                Problem(f"devices.{n}.profile", f"has no time for layer {exc.args[0]!r}")
            )
            continue
        if not costed:
            problems.append(
                Problem(f"devices.{n}", f"cannot be costed for {where}: give gflops and bandwidth")
            )
    return problems
