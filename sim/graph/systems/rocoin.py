"""RoCoIn as a graph: distilled students on redundant device groups, joined at an aggregator.

``system: {kind: rocoin, aggregator: hub, groups: [[a, b], [c, d]], timeout: 100ms}``
builds the graph of RoCoIn (Wang et al. 2024) for a K-student ensemble
(:mod:`models.ensemble`, K = the number of groups):

* the source's input is forked to every device of every group; group k's devices
  all run student k (actor ``group{k}.{device}``);
* ``group{k}``, a router on the aggregator, takes the **first** answer of its group:
  the group fails only when all its devices do (each device's loss is known as its
  token meets it down, or crashes under it);
* ``aggregate``, on the aggregator, classifies with the students that answered: a
  ``k_of_n`` join of all K groups with ``timeout`` (the engine counts it from the first
  group's answer; a group that misses it counts as failed). A request's accuracy is
  then the ensemble's on its test sample with only those students
  (``models.ensemble.correct(ensemble, alive)``): each ``group{k}`` loses ``student:k``.

A student's service on a device is its ONNX model's roofline cost there
(:mod:`models.cost`), times the device's ``service_noise`` taken by its mean and cv
as a lognormal (exact for a lognormal noise): a straggling device is one with a noisy,
slow service. Its output is its pooled features (4 bytes each); its weights are what it
holds in memory. The grouping itself is given here; ``edgesim plan --strategy rocoin``
(:mod:`analysis.rocoin`) chooses it.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from sim.quantities import Duration
from sim.spec import Name, Spec

if TYPE_CHECKING:
    from models.ensemble import Ensemble
    from sim.graph.spec import ActorSpec
    from sim.problems import Problem
    from sim.spec import DeviceSpec, Scenario

WIDTH = 8
"""The students' width of the committed ensembles."""
STUDENT = "student:"
"""What a group's loss takes from the ensemble: ``student:K``."""


class RocoinSpec(Spec):
    """RoCoIn's deployment: which devices run which student, where they are joined."""

    kind: Literal["rocoin"]
    aggregator: Name = Field(description="the device that joins the students' answers")
    groups: tuple[tuple[Name, ...], ...] = Field(
        min_length=1, description="group k: the devices that all run student k"
    )
    timeout: Duration = Field(gt=0, description="τ: how long the aggregator waits for groups")
    ensemble: Name | None = Field(
        default=None, description="distilled students; default the committed K-student one"
    )

    def ensemble_name(self) -> str:
        """The ensemble's name: given, or the committed one with K = len(groups)."""
        from models.ensemble import DistillRecipe

        return self.ensemble or DistillRecipe(len(self.groups), WIDTH).key


def group(k: int) -> str:
    """The name of group k's first-answer actor."""
    return f"group{k}"


def member(k: int, device: str) -> str:
    """The name of the actor of group k on ``device``."""
    return f"group{k}.{device}"


AGGREGATE = "aggregate"
Row = tuple[str, str, float, float, float]


def find(name: str) -> Ensemble | None:
    """The ensemble ``name``, committed or cached, or None."""
    from models.ensemble import read
    from models.training import COMMITTED, cache_dir

    for place in (COMMITTED, cache_dir()):
        if (place / name / "ensemble.json").exists():
            return read(place / name)
    return None


def problems(s: Scenario, graph: str, spec: RocoinSpec) -> list[Problem]:
    """What keeps ``spec`` from building: unknown devices, devices the cost model cannot
    price, a device in two groups, no ensemble with that many students."""
    from sim.problems import Problem

    where = f"graphs.{graph}.system"
    known = ", ".join(sorted(s.devices))
    out = []
    if spec.aggregator not in s.devices:
        message = f"unknown device (known: {known})"
        out.append(Problem(f"{where}.aggregator", message, spec.aggregator))
    elif s.devices[spec.aggregator].compute() is None:
        message = "needs gflops and mem_bandwidth (or a type)"
        out.append(Problem(f"{where}.aggregator", message, spec.aggregator))
    seen: set[str] = set()
    for k, members in enumerate(spec.groups):
        if not members:
            out.append(Problem(f"{where}.groups[{k}]", "a group needs at least one device"))
        for j, device in enumerate(members):
            path = f"{where}.groups[{k}][{j}]"
            if device not in s.devices:
                out.append(Problem(path, f"unknown device (known: {known})", device))
            elif s.devices[device].compute() is None:
                out.append(Problem(path, "needs gflops and mem_bandwidth (or a type)", device))
            elif device in seen:
                out.append(Problem(path, "a device is in one group only", device))
            seen.add(device)
    name = spec.ensemble_name()
    found = find(name)
    if found is None:
        message = f"no distilled ensemble {name!r} (edgesim model distill --students K)"
        out.append(Problem(f"{where}.ensemble", message))
    elif found.size != len(spec.groups):
        message = f"{name} has {found.size} students: give that many groups"
        out.append(Problem(f"{where}.groups", message, len(spec.groups)))
    return out


def actors(s: Scenario, graph: str, spec: RocoinSpec) -> dict[str, ActorSpec]:
    """The graph's actors (``spec`` checked by :func:`problems`)."""
    from sim.graph.spec import ActorSpec, KOfN

    found = find(spec.ensemble_name())
    assert found is not None, "checked by problems()"
    out: dict[str, ActorSpec] = {}
    for k, members in enumerate(spec.groups):
        weights, features = student_bytes(found.student(k))
        for device in members:
            out[member(k, device)] = ActorSpec(
                on=device,
                service=service(s.devices[device], found.student(k)),
                output_bytes=features,
                weight_bytes=weights,
            )
        names = tuple(member(k, d) for d in members)
        out[group(k)] = ActorSpec(
            on=spec.aggregator, after=names, join="first", loses=(f"{STUDENT}{k}",)
        )
    heads = tuple(group(k) for k in range(len(spec.groups)))
    out[AGGREGATE] = ActorSpec(
        on=spec.aggregator,
        after=heads,
        join=KOfN(kind="k_of_n", k=len(heads), timeout=spec.timeout),
        service=service(s.devices[spec.aggregator], found.aggregator),
        weight_bytes=student_bytes(found.aggregator)[0],
    )
    return out


def input_bytes(spec: RocoinSpec) -> float:
    """What the source sends to every device: the students' input."""
    found = find(spec.ensemble_name())
    assert found is not None, "checked by problems()"
    return _profile(found.student(0))[1]


def service(device: DeviceSpec, onnx_path: Path) -> dict[str, object]:
    """A model's service on ``device``: its roofline cost times the device's noise."""
    cost = model_cost(device, onnx_path)
    noise = device.service_noise
    if noise is None or noise.cv == 0:
        scale = noise.mean if noise is not None else 1.0
        return {"kind": "deterministic", "value": cost * scale}
    return {"kind": "lognormal", "mean": cost * noise.mean, "cv": noise.cv}


def model_cost(device: DeviceSpec, onnx_path: Path) -> float:
    """Seconds ``device`` takes to run the ONNX model at ``onnx_path`` (roofline)."""
    from models.cost import Layer

    compute = device.compute()
    if compute is None:
        raise ValueError("a RoCoIn device needs gflops and mem_bandwidth (or a type)")
    table, input_bytes, _ = _profile(onnx_path)
    return compute.run_time([Layer(*row) for row in table], input_bytes)


@functools.cache
def _profile(onnx_path: Path) -> tuple[tuple[Row, ...], float, float]:
    """A model's layers (name, op, FLOPs, weight and output bytes), its input's bytes and
    its first output's bytes (a student's pooled features)."""
    import onnx

    from models.profile import profile

    prof = profile(onnx.load(onnx_path))
    rows = tuple((x.name, x.op, float(x.flops), float(x.weight_bytes), float(x.output_bytes))
                 for x in prof.layers)  # fmt: skip
    inputs = sum(size * _count(shape) for shape, size in prof.inputs.values())
    first = next(r[4] for r in rows if r[0] == prof.outputs[0])
    return rows, float(inputs), first


def _count(shape: tuple[int, ...]) -> int:
    out = 1
    for d in shape:
        out *= max(d, 1)
    return out


def student_bytes(onnx_path: Path) -> tuple[float, float]:
    """A model's weight bytes and the bytes of its output."""
    rows, _, output = _profile(onnx_path)
    return sum(r[3] for r in rows), output
