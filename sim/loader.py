"""Loading a scenario file: parse, validate, resolve catalog types, check meaning.

Two passes. The first is pydantic's (:mod:`sim.spec`): shapes, types, ranges,
unknown keys. The second, here, checks what needs the whole scenario: device
types exist in the catalog, stages sit on known devices and cover the model's
layers in order, every transfer has a route, partitions fit in memory. Both
passes report every problem they find; :class:`ScenarioError` carries them all,
one line each, as ``FILE: dotted.path: message (got VALUE)``.

The scenario returned is *resolved*: catalog figures are merged into each
device (inline figures win), so the engine never consults the catalog.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx
from pydantic import ValidationError

from models.cost import memory_needed
from sim import catalog as catalog_mod
from sim import document
from sim.catalog import CatalogEntry
from sim.routes import route, topology
from sim.spec import DeviceSpec, LayerSpec, ModelSpec, Scenario, ZooModel

log = logging.getLogger(__name__)

_UNSET = object()
_UNION_TAGS = {
    "deterministic", "exponential", "uniform", "normal", "lognormal", "weibull", "gamma",
    "empirical", "periodic", "poisson", "trace", "float", "str", "tuple[str, str]",
    "literal['all']",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a scenario, located by its dotted path."""

    path: str
    message: str
    got: object = _UNSET

    def line(self, file: str) -> str:
        where = f"{file}: {self.path}: " if self.path else f"{file}: "
        got = "" if self.got is _UNSET else f" (got {_show(self.got)})"
        return f"{where}{self.message}{got}"


class ScenarioError(Exception):
    """A scenario (or catalog) file that cannot be run, with every problem found."""

    def __init__(self, file: str, problems: Sequence[Problem]) -> None:
        self.file = file
        self.problems = list(problems)
        super().__init__("\n".join(p.line(file) for p in self.problems))


def load(path: str | Path, catalogs: Iterable[str | Path] = ()) -> Scenario:
    """Read, validate and resolve the scenario file at ``path``.

    ``catalogs`` are extra device catalog files, applied after the built-in
    catalog and the scenario's own ``catalog:`` files.
    """
    path = Path(path)
    raw = _read_yaml(path)
    return from_dict(raw, file=str(path), base=path.parent, catalogs=catalogs)


def from_dict(
    raw: object,
    file: str = "<scenario>",
    base: Path = Path("."),
    catalogs: Iterable[str | Path] = (),
) -> Scenario:
    """Validate and resolve an already parsed scenario (relative paths from ``base``)."""
    if not isinstance(raw, dict):
        raise ScenarioError(file, [Problem("", "a scenario is a mapping of keys", raw)])
    try:
        scenario = Scenario.model_validate(raw, context={"base": base})
    except ValidationError as exc:
        problems = _pydantic_problems(exc) + _salvage(raw, exc, file, base, catalogs)
        raise ScenarioError(file, _in_file_order(problems, raw)) from None
    return _resolved(scenario, file, base, catalogs)


def revised(scenario: Scenario, file: str, **update: object) -> Scenario:
    """``scenario`` with top-level keys replaced, validated and checked like the file's own."""
    fields = {name: getattr(scenario, name) for name in Scenario.model_fields}
    try:
        out = Scenario.model_validate(fields | update)
    except ValidationError as exc:
        raise ScenarioError(file, _pydantic_problems(exc)) from None
    problems = check(out)
    if problems:
        raise ScenarioError(file, problems)
    return out


def _resolved(
    scenario: Scenario, file: str, base: Path, catalogs: Iterable[str | Path], full: bool = True
) -> Scenario:
    """The second pass: catalog types merged in, the model turned into a table, meaning checked.

    ``full=False`` (a scenario some of whose parts failed the first pass) runs only the
    checks that do not need every part: routes, rates and memory are left out.
    """
    known = catalog_mod.merged(
        _catalog(catalog_mod.BUILTIN),
        *(_catalog(base / p) for p in scenario.catalog),
        *(_catalog(Path(p)) for p in catalogs),
    )
    devices, problems = _resolve_devices(scenario, known)
    if problems:
        raise ScenarioError(file, problems)
    scenario = scenario.model_copy(update={"devices": devices})
    scenario = _resolve_model(scenario, base, file)
    problems = check(scenario, full=full)
    if problems:
        raise ScenarioError(file, problems)
    return scenario


def check(scenario: Scenario, full: bool = True) -> list[Problem]:
    """The meaning checks of the second pass, on a resolved scenario.

    Routes, rates and memory are checked once everything else is right (and ``full``).
    """
    problems: list[Problem] = []
    problems += _check_horizon(scenario)
    problems += _check_model(scenario)
    problems += _check_links(scenario)
    problems += _check_pipelines(scenario)
    problems += _check_workload(scenario)
    problems += _check_fault_tolerance(scenario)
    problems += _check_failures(scenario)
    problems += _check_injections(scenario)
    if full and not problems:
        problems += _check_devices(scenario)
        problems += _check_routes(scenario)
        problems += _check_memory(scenario)
    return problems


# -- reading ---------------------------------------------------------------


def _read_yaml(path: Path) -> Any:
    try:
        return document.read(path)
    except document.DocumentError as exc:
        raise ScenarioError(str(path), [Problem(exc.path, exc.message)]) from None


_PLACEHOLDERS: dict[str, object] = {"name": "unnamed", "horizon": 1.0}
_NAMED = ("devices", "pipelines")
_LISTED = ("links", "workload", "failures")
_INDEXED = re.compile(r"^(links|workload|failures)\[(\d+)\]")


@dataclass
class _SetAside:
    """The parts of a scenario that failed the first pass, taken out of what is checked."""

    paths: set[str]
    names: set[str]
    kept: dict[str, list[int]]  # a list's remaining items: their indices in the file

    def covers(self, p: Problem) -> bool:
        """Whether ``p`` lies in, or names, a part set aside: a consequence of its error."""
        return (
            any(p.path == d or p.path.startswith((f"{d}.", f"{d}[")) for d in self.paths)
            or any(repr(name) in p.message for name in self.names)
            or ("model" in self.paths and p.path.startswith("pipelines"))
            or (bool({"horizon", "warmup"} & self.paths) and p.path == "warmup")
        )

    def located(self, p: Problem) -> Problem | None:
        """``p`` with list indices as in the file; None for a stand-in's problem."""
        match = _INDEXED.match(p.path)
        if match is None or match.group(1) not in self.kept:
            return p
        index = self.kept[match.group(1)][int(match.group(2))]
        if index < 0:
            return None
        return Problem(f"{match.group(1)}[{index}]{p.path[match.end() :]}", p.message, p.got)


def _salvage(
    raw: dict[Any, Any],
    exc: ValidationError,
    file: str,
    base: Path,
    catalogs: Iterable[str | Path],
) -> list[Problem]:
    """Second-pass problems of the parts that passed the first pass while others failed.

    Each part with a first-pass error (a device, a pipeline, an item of a list, any
    other top-level key) is set aside, and the rest is checked for meaning; a problem
    found there is kept unless it lies in, or names, a part set aside. When what is
    left is no scenario (say the only source failed), only the first pass is reported.
    """
    aside = _SetAside(set(), set(), {})
    bad: dict[str, set[object]] = {}
    for error in exc.errors():
        loc = error["loc"]
        top = str(loc[0]) if loc else ""
        if len(loc) > 1 and (top in _NAMED or (top in _LISTED and isinstance(loc[1], int))):
            bad.setdefault(top, set()).add(loc[1])
        else:
            aside.paths.add(top)
    pruned = {k: v for k, v in raw.items() if k not in aside.paths}
    pruned |= {k: v for k, v in _PLACEHOLDERS.items() if k in aside.paths}
    for top, parts in bad.items():
        pruned[top] = _without(raw[top], parts, top, aside)
    if pruned.get("workload") == [] and "workload" in bad:
        pruned["workload"] = [_stand_in_source(pruned)]
        aside.kept["workload"] = [-1]
    try:
        partial = Scenario.model_validate(pruned, context={"base": base})
        _resolved(partial, file, base, catalogs, full=False)
    except ValidationError:
        return []
    except ScenarioError as found:
        if found.file != file:
            return []  # a catalog file's own problems: the full load reports them
        located = [aside.located(p) for p in found.problems]
        return [p for p in located if p is not None and not aside.covers(p)]
    return []


def _without(part: Any, bad: set[object], top: str, aside: _SetAside) -> Any:
    """A named or listed part of the scenario without its items that failed."""
    if top in _NAMED:
        aside.paths |= {f"{top}.{name}" for name in bad}
        aside.names |= {str(name) for name in bad}
        return {k: v for k, v in part.items() if k not in bad}
    aside.paths |= {f"{top}[{i}]" for i in bad}
    aside.kept[top] = [i for i in range(len(part)) if i not in bad]
    for i in bad:
        ends = part[i].get("ends") if top == "links" and isinstance(part[i], dict) else None
        if isinstance(ends, list) and len(ends) == 2:
            aside.names |= {f"{ends[0]}-{ends[1]}", f"{ends[1]}-{ends[0]}"}
    return [part[i] for i in aside.kept[top]]


def _stand_in_source(pruned: dict[Any, Any]) -> dict[str, Any]:
    """A source that arrives never, so that the rest is checked when every source failed."""
    first = [next(iter(_mapping(pruned.get(k)) or {"_": None})) for k in ("devices", "pipelines")]
    arrivals = {"kind": "trace", "times": []}
    return {"name": "_", "at": first[0], "pipeline": first[1], "arrivals": arrivals}


def _mapping(value: object) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}


def _in_file_order(problems: list[Problem], raw: dict[Any, Any]) -> list[Problem]:
    """``problems`` ordered by where their top-level key stands in the file."""
    order = {str(key): i for i, key in enumerate(raw)}

    def position(p: Problem) -> int:
        top = re.match(r"[^.\[]*", p.path)
        return order.get(top.group(0) if top else "", -1)

    return sorted(problems, key=position)


def _catalog(path: Path) -> dict[str, CatalogEntry]:
    raw = _read_yaml(path)
    try:
        return catalog_mod.entries(raw, path)
    except ValidationError as exc:
        raise ScenarioError(str(path), _pydantic_problems(exc)) from None
    except ValueError as exc:
        raise ScenarioError(str(path), [Problem("", str(exc))]) from None


def _pydantic_problems(exc: ValidationError) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    errors = exc.errors()
    deep = {_dotted(e["loc"][:-1]) for e in errors if len(e["loc"]) > 1}
    for error in errors:
        path = _dotted(error["loc"])
        if error["type"] == "too_short" and any(d.startswith(path) for d in deep):
            continue  # the items themselves failed; their errors say why
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        elif error["type"] == "missing":
            message = "required key is missing"
        if (path, message) in seen:
            continue
        seen.add((path, message))
        got = _UNSET if error["type"] == "missing" else error.get("input", _UNSET)
        problems.append(Problem(path, message, got))
    return problems


def _dotted(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in _UNION_TAGS or part.startswith(("function-", "dict[", "constrained-")):
            continue
        else:
            out += f".{part}" if out else part
    return out


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- second pass -----------------------------------------------------------


def _resolve_model(s: Scenario, base: Path, file: str) -> Scenario:
    """Turn a zoo or ONNX model into a layer table, and stages' cut points into layer ranges."""
    if s.model is None or isinstance(s.model, ModelSpec):
        return s
    from google.protobuf.message import DecodeError  # type: ignore[import-untyped]

    from models import ModelError, zoo
    from models.cuts import cut_points
    from models.profile import profile

    spec = ZooModel(zoo=s.model) if isinstance(s.model, str) else s.model
    try:
        if isinstance(spec, ZooModel):
            if spec.zoo not in zoo.BUILDERS:
                known = ", ".join(sorted(zoo.BUILDERS))
                raise ScenarioError(
                    file, [Problem("model", f"unknown zoo model {spec.zoo!r} (known: {known})")]
                )
            source = zoo.source(spec.zoo, spec.params)
        else:
            source = f"onnx:{(base / spec.onnx).resolve()}"
        graph = zoo.load_source(source)
        prof = profile(graph)
        cuts = cut_points(graph, prof)
    except ScenarioError:
        raise
    except DecodeError:
        raise ScenarioError(file, [Problem("model.onnx", "not an ONNX model file")]) from None
    except (ModelError, OSError, TypeError, ValueError) as exc:
        raise ScenarioError(file, [Problem("model", f"cannot use this model: {exc}")]) from None
    if not prof.layers:
        raise ScenarioError(file, [Problem("model", f"{source} has no layers to run")])
    layers = tuple(
        LayerSpec(
            name=x.name,
            op=x.op,
            flops=x.flops,
            weight_bytes=x.weight_bytes,
            output_bytes=x.output_bytes,
        )
        for x in prof.layers
    )
    table = ModelSpec(layers=layers, input_bytes=prof.input_bytes, source=source)
    ends = {
        "input": -1,
        **{c.name: c.index for c in cuts},
        "output": len(layers) - 1,
    }
    problems, pipelines = [], {}
    for pname, pipeline in s.pipelines.items():
        stages = []
        for k, stage in enumerate(pipeline.stages):
            if stage.layers == "all":
                stages.append(stage)
                continue
            bad = [n for n in stage.layers if n not in ends]
            if bad:
                sample = ", ".join(list(ends)[1:6])
                problems.append(Problem(
                    f"pipelines.{pname}.stages[{k}].layers",
                    f"{bad[0]!r} is not a cut point of {source} (input, output, or one of "
                    f"{sample}, ...; see: edgesim model cuts)",
                ))  # fmt: skip
                continue
            first, last = ends[stage.layers[0]] + 1, ends[stage.layers[1]]
            if last < first:
                problems.append(
                    Problem(
                        f"pipelines.{pname}.stages[{k}].layers",
                        "ends before it starts",
                        list(stage.layers),
                    )
                )
                continue
            stages.append(
                stage.model_copy(update={"layers": (layers[first].name, layers[last].name)})
            )
        pipelines[pname] = pipeline.model_copy(update={"stages": tuple(stages)})
    if problems:
        raise ScenarioError(file, problems)
    return s.model_copy(update={"model": table, "pipelines": pipelines})


def _resolve_devices(
    scenario: Scenario, known: dict[str, CatalogEntry]
) -> tuple[dict[str, DeviceSpec], list[Problem]]:
    devices: dict[str, DeviceSpec] = {}
    problems: list[Problem] = []
    for name, device in scenario.devices.items():
        if device.type is None:
            devices[name] = device
            continue
        if device.type not in known:
            problems.append(
                Problem(
                    f"devices.{name}.type",
                    f"unknown device type {device.type!r} (known: {catalog_mod.names(known)})",
                )
            )
            continue
        fields = known[device.type].device().model_dump(by_alias=True, exclude_unset=True)
        fields.update(device.model_dump(by_alias=True, exclude_unset=True))
        devices[name] = DeviceSpec.model_validate(fields)
    return devices, problems


def _check_horizon(s: Scenario) -> list[Problem]:
    if s.warmup >= s.horizon:
        return [Problem("warmup", f"must be shorter than the horizon ({s.horizon:g} s)", s.warmup)]
    return []


def _check_model(s: Scenario) -> list[Problem]:
    if s.table is None:
        return []
    seen: set[str] = set()
    problems = []
    for i, layer in enumerate(s.table.layers):
        if layer.name in seen:
            problems.append(Problem(f"model.layers[{i}].name", "duplicate layer name", layer.name))
        seen.add(layer.name)
    return problems


def _check_links(s: Scenario) -> list[Problem]:
    problems = []
    pairs: set[frozenset[str]] = set()
    for i, link in enumerate(s.links):
        for end in link.ends:
            if end not in s.devices:
                problems.append(_unknown_device(f"links[{i}].ends", end, s))
        if link.ends[0] == link.ends[1]:
            problems.append(
                Problem(f"links[{i}].ends", "a link joins two different devices", list(link.ends))
            )
        pair = frozenset(link.ends)
        if pair in pairs:
            problems.append(
                Problem(
                    f"links[{i}].ends",
                    "a link between these devices is already defined",
                    list(link.ends),
                )
            )
        pairs.add(pair)
    return problems


def _check_pipelines(s: Scenario) -> list[Problem]:
    problems = []
    names = [layer.name for layer in s.table.layers] if s.table else []
    for pname, pipeline in s.pipelines.items():
        expected = 0
        for k, stage in enumerate(pipeline.stages):
            where = f"pipelines.{pname}.stages[{k}]"
            if stage.on not in s.devices:
                problems.append(_unknown_device(f"{where}.on", stage.on, s))
            if s.table is None:
                if stage.layers != "all":
                    problems.append(
                        Problem(
                            f"{where}.layers",
                            "names layers but the scenario has no model",
                            list(stage.layers),
                        )
                    )
                if stage.service is None:
                    problems.append(
                        Problem(
                            f"{where}.service", "required when the scenario has no model to cost"
                        )
                    )
                continue
            missing = [n for n in stage.layers if n not in names] if stage.layers != "all" else []
            if missing:
                problems.append(
                    Problem(
                        f"{where}.layers",
                        f"unknown layer {missing[0]!r} (model has {names[0]} ... {names[-1]})",
                        missing[0],
                    )
                )
                expected = -1
                continue
            span = stage.layer_range(s.table)
            if not span:
                problems.append(
                    Problem(f"{where}.layers", "first layer comes after last", list(stage.layers))
                )
            elif expected >= 0 and span.start != expected:
                problems.append(
                    Problem(
                        f"{where}.layers",
                        f"must start at layer {names[expected]!r}, right after the previous stage"
                        if expected < len(names)
                        else "the previous stages already cover the whole model",
                        list(stage.layers),
                    )
                )
            expected = span.stop if span else -1
        if s.table is not None and 0 <= expected < len(names):
            problems.append(
                Problem(
                    f"pipelines.{pname}.stages",
                    f"stop before the last layer; {names[expected]!r} onward runs nowhere",
                )
            )
    return problems


def _check_workload(s: Scenario) -> list[Problem]:
    problems = []
    seen: set[str] = set()
    for i, source in enumerate(s.workload):
        if source.name in seen:
            problems.append(Problem(f"workload[{i}].name", "duplicate source name", source.name))
        seen.add(source.name)
        if source.at not in s.devices:
            problems.append(_unknown_device(f"workload[{i}].at", source.at, s))
        if source.pipeline not in s.pipelines:
            known = ", ".join(sorted(s.pipelines))
            problems.append(
                Problem(
                    f"workload[{i}].pipeline",
                    f"unknown pipeline {source.pipeline!r} (known: {known})",
                )
            )
    return problems


def _check_fault_tolerance(s: Scenario) -> list[Problem]:
    problems = []
    for pname, pipeline in s.pipelines.items():
        for k, stage in enumerate(pipeline.stages):
            where = f"pipelines.{pname}.stages[{k}]"
            policy = s.policy(pname, k)
            for key, wanted in (("standby", "failover"), ("replicas", "replicate")):
                names = getattr(stage, key)
                for i, name in enumerate(names):
                    if name not in s.devices:
                        problems.append(_unknown_device(f"{where}.{key}[{i}]", name, s))
                if names and policy.policy != wanted:
                    problems.append(
                        Problem(
                            f"{where}.{key}",
                            f"needs policy {wanted!r} (got policy {policy.policy!r})",
                        )
                    )
                if policy.policy == wanted and not names:
                    problems.append(
                        Problem(
                            f"{where}.{key}", f"policy {wanted!r} needs at least one device here"
                        )
                    )
            if policy.policy == "retry" and policy.timeout is None:
                problems.append(
                    Problem(f"{where}: fault_tolerance.timeout", "policy 'retry' needs a timeout")
                )
    return problems


def _check_injections(s: Scenario) -> list[Problem]:
    links = {link.name for link in s.links} | {"-".join(link.ends[::-1]) for link in s.links}
    known = ", ".join([*sorted(s.devices), *sorted(link.name for link in s.links)])
    problems = [
        Problem(f"failures[{i}].target", f"unknown device or link {f.target!r} (known: {known})")
        for i, f in enumerate(s.failures)
        if f.target not in s.devices and f.target not in links
    ]
    problems += [
        Problem(f"failures[{i}].mode", "applies to devices only (valid for links: crash)", f.mode)
        for i, f in enumerate(s.failures)
        if f.target in links and f.mode != "crash"
    ]  # fmt: skip
    return problems


def _check_failures(s: Scenario) -> list[Problem]:
    """A crash–recover cycle must take time, or the failure process never lets time pass."""
    parts = [(f"devices.{n}.failure", d.failure) for n, d in s.devices.items()]
    parts += [(f"links[{i}].failure", link.failure) for i, link in enumerate(s.links)]
    return [
        Problem(where, "a failure cycle must last: ttf and ttr are both zero on average")
        for where, f in parts
        if f is not None and f.ttr is not None and f.ttf.mean + f.ttr.mean <= 0
    ]


def candidates(s: Scenario, pipeline: str, k: int, source_at: str | None = None) -> list[str]:
    """The devices that may serve stage ``k`` of ``pipeline`` under its policy."""
    stage = s.pipelines[pipeline].stages[k]
    policy = s.policy(pipeline, k).policy
    out = [stage.on, *stage.standby, *stage.replicas]
    if policy == "local_fallback" and source_at is not None:
        out.append(source_at)
    if policy == "repartition":
        out += [d for d in s.devices if d not in out]
    return list(dict.fromkeys(out))


def _check_devices(s: Scenario) -> list[Problem]:
    """Devices that may run a cost-modelled stage need rates for the op classes they run."""
    problems = []
    for pname, pipeline in s.pipelines.items():
        for k, stage in enumerate(pipeline.stages):
            if stage.service is not None or s.table is None:
                continue
            sources = [src.at for src in s.workload if src.pipeline == pname]
            names = [stage.on, *stage.standby, *stage.replicas]
            if s.policy(pname, k).policy == "local_fallback":
                names += sources
            for name in dict.fromkeys(names):
                problems += _check_rates(s, name, pname, k)
    return list(dict.fromkeys(problems))


def _check_rates(s: Scenario, name: str, pname: str, k: int) -> list[Problem]:
    assert s.table is not None
    device = s.devices[name]
    where = f"devices.{name}"
    if device.profile is not None:
        span = s.pipelines[pname].stages[k].layer_range(s.table)
        try:
            device.measured([s.table.layers[i].name for i in span])
        except KeyError as exc:
            message = (
                f"has no time for layer {exc.args[0]!r}, run by pipelines.{pname}.stages[{k}]; "
                "profile the scenario's model"
            )
            return [Problem(f"{where}.profile", message)]
        return []
    if device.gflops is None or device.mem_bandwidth is None:
        return [
            Problem(
                where,
                f"needs gflops and mem_bandwidth (or a type) to run "
                f"pipelines.{pname}.stages[{k}] with the cost model",
            )
        ]
    if not isinstance(device.gflops, dict):
        return []
    stage = s.pipelines[pname].stages[k]
    ops = {s.table.layers[i].op for i in stage.layer_range(s.table)}
    return [
        Problem(
            f"{where}.gflops",
            f"has no rate for op class {op!r}, used by pipelines.{pname}.stages[{k}]",
        )
        for op in sorted(ops - set(device.gflops))
    ]


def _check_routes(s: Scenario) -> list[Problem]:
    graph = topology(list(s.devices), s.links)
    problems = []
    for i, source in enumerate(s.workload):
        hops = [source.at, *(st.on for st in s.pipelines[source.pipeline].stages), source.at]
        for a, b in itertools.pairwise(hops):
            try:
                route(graph, a, b)
            except nx.NetworkXNoPath:
                problems.append(
                    Problem(f"workload[{i}]", f"no route from {a!r} to {b!r}: add a link")
                )
    return list(dict.fromkeys(problems))


def _check_memory(s: Scenario) -> list[Problem]:
    if s.table is None:
        return []
    layers = s.table.cost_layers()
    placed: dict[str, set[int]] = {}
    for pipeline in s.pipelines.values():
        for stage in pipeline.stages:
            for name in (stage.on, *stage.standby, *stage.replicas):
                placed.setdefault(name, set()).update(stage.layer_range(s.table))
    problems = []
    for name, indices in placed.items():
        memory = s.devices[name].memory
        if memory is None or not indices:
            continue
        ordered = sorted(indices)
        before = s.table.input_bytes if ordered[0] == 0 else layers[ordered[0] - 1].output_bytes
        need = memory_needed([layers[i] for i in ordered], before)
        if need > memory:
            problems.append(
                Problem(
                    f"devices.{name}.memory",
                    f"too small for its stages: they need {need / 1e6:.1f} MB "
                    "of weights and activations",
                    memory,
                )
            )
    return problems


def _unknown_device(path: str, name: str, s: Scenario) -> Problem:
    return Problem(path, f"unknown device {name!r} (known: {', '.join(sorted(s.devices))})")
