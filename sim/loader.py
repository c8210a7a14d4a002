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

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sim import catalog as catalog_mod
from sim import document, templates
from sim.catalog import CatalogEntry
from sim.checks import check
from sim.graph.spec import ActorSpec, GraphSpec
from sim.problems import UNSET, Problem, ScenarioError
from sim.spec import DeviceSpec, LayerSpec, ModelSpec, Scenario, ZooModel

__all__ = ["Problem", "ScenarioError", "check", "from_dict", "load", "revised"]

log = logging.getLogger(__name__)

_UNION_TAGS = {
    "deterministic", "exponential", "uniform", "normal", "lognormal", "weibull", "gamma",
    "empirical", "periodic", "poisson", "trace", "float", "str", "tuple[str, str]",
    "literal['all']",
}  # fmt: skip


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
    if raw is None:
        raise ScenarioError(
            file, [Problem("", "the file is empty (a scenario is a mapping of keys)")]
        )
    if not isinstance(raw, dict):
        raise ScenarioError(file, [Problem("", "a scenario is a mapping of keys", raw)])
    written: dict[Any, Any] = templates.expand(raw, file)
    try:
        scenario = Scenario.model_validate(written, context={"base": base})
    except ValidationError as exc:
        problems = _pydantic_problems(exc) + _salvage(written, exc, file, base, catalogs)
        raise ScenarioError(file, _in_file_order(problems, written)) from None
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
        got = UNSET if error["type"] == "missing" else error.get("input", UNSET)
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
    graphs, wrong = _graph_parts(s, graph, [x.name for x in layers])
    if problems or wrong:
        raise ScenarioError(file, problems + wrong)
    return s.model_copy(update={"model": table, "pipelines": pipelines, "graphs": graphs})


def _graph_parts(
    s: Scenario, model: Any, names: list[str]
) -> tuple[dict[str, GraphSpec], list[Problem]]:
    """Graph actors that run a cut-set ``part`` of the model: the bytes each sends to its
    successor parts (``sends``) and in all (``output_bytes``, unless given), and the
    tensors its layers need that none of its ``after`` actors makes (problems)."""
    from models.cutsets import flow, wiring

    index = {n: i for i, n in enumerate(names)}
    graphs, problems, f = dict(s.graphs), [], None
    for gname, g in s.graphs.items():
        actors = g.actors or {}
        spans = {
            a: range(index[r[0]], index[r[1]] + 1)
            for a, x in actors.items()
            if (r := x.part or x.layers) is not None and r[0] in index and r[1] in index
        }
        chosen = {a for a, x in actors.items() if x.part is not None and a in spans}
        if not chosen:
            continue
        f = f or flow(model)
        w = wiring(f, spans, {a: x.after for a, x in actors.items()}, chosen)
        for a in sorted(chosen):
            problems += [Problem(f"graphs.{gname}.actors.{a}.part", why) for why in w.missing[a]]
        updated = {
            a: x.model_copy(update=_part_bytes(x, w.sends[a], w.out[a])) if a in chosen else x
            for a, x in actors.items()
        }
        graphs[gname] = g.model_copy(update={"actors": updated})
    return graphs, problems


def _part_bytes(actor: ActorSpec, sends: dict[str, int], out: int) -> dict[str, Any]:
    given = actor.output_bytes
    return {
        "sends": {k: float(v) for k, v in sends.items()} | (actor.sends or {}),
        "output_bytes": float(out) if given is None else given,
    }


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
