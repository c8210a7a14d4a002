"""The meaning checks of a scenario: what needs the whole resolved scenario.

Device types exist, stages sit on known devices and cover the model's layers in order,
every transfer has a route, rates are sustainable, partitions fit in memory. Each check
returns every problem it finds; :func:`check` runs them all.
"""

from __future__ import annotations

import itertools

import networkx as nx

from models.cost import memory_needed
from sim.graph import checks as graph_checks
from sim.mdi import checks as mdi_checks
from sim.problems import Problem
from sim.routes import route, topology
from sim.spec import Scenario
from sim.strategies import KINDS, strategy


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
    problems += mdi_checks.check(scenario)
    problems += _check_fault_tolerance(scenario)
    problems += _check_failures(scenario)
    problems += _check_injections(scenario)
    problems += graph_checks.check(scenario, full and not problems)
    if full and not problems:
        problems += _check_devices(scenario)
        problems += _check_routes(scenario)
        problems += _check_memory(scenario)
    return problems


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
    """Each stage's strategy: the devices it names (``standby``, ``replicas``) and its spec."""
    owners = {cls.devices_key: cls.kind for cls in KINDS if cls.devices_key is not None}
    problems = []
    for pname, pipeline in s.pipelines.items():
        for k, stage in enumerate(pipeline.stages):
            where = f"pipelines.{pname}.stages[{k}]"
            chosen = strategy(s, pname, k)
            for key, wanted in owners.items():
                names = getattr(stage, key)
                for i, name in enumerate(names):
                    if name not in s.devices:
                        problems.append(_unknown_device(f"{where}.{key}[{i}]", name, s))
                if names and chosen.devices_key != key:
                    problems.append(
                        Problem(
                            f"{where}.{key}",
                            f"needs policy {wanted!r} (got policy {chosen.kind!r})",
                        )
                    )
                if chosen.devices_key == key and not names:
                    problems.append(
                        Problem(
                            f"{where}.{key}", f"policy {wanted!r} needs at least one device here"
                        )
                    )
            problems += chosen.problems(where)
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


def _check_devices(s: Scenario) -> list[Problem]:
    """Devices that may run a cost-modelled stage need rates for the op classes they run."""
    problems = []
    for pname, pipeline in s.pipelines.items():
        for k, stage in enumerate(pipeline.stages):
            if stage.service is not None or s.table is None:
                continue
            sources = [src.at for src in s.workload if src.pipeline == pname]
            names = strategy(s, pname, k).rated(stage, sources)
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
