"""The design rules of dataflow graphs, checked before running (as Edge-PRUNE's allow).

* names: actors on known devices, ``after`` naming actors of the graph, layers of
  the model (a cut-set ``part`` over a model with tensors; what it needs is checked
  when the loader wires it), ``sends`` naming successors, work that can be costed,
  sources at known devices, a ``pipeline`` that exists, a ``k_of_n`` join with at
  most as many inputs as it has;
* acyclic: the actors and their ``after`` form a DAG (a cycle is named, in order);
* routes: every edge, every source to its entry actors and every sink back to its
  source has a route;
* rates: a device that runs an actor's layers by the cost model has a profile with
  those layers, or rates for their op classes;
* deadlock freedom: a join that waits for several inputs (``all``, or ``k_of_n``
  without a timeout) whose input FIFOs are bounded starves for ever if its inputs
  can arrive out of request order: a full FIFO then holds a later request's token
  while the producer of the earlier one is blocked behind it. Inputs keep their
  order when the actors on the branches into the join share no device between
  branches (a producer blocked on a full FIFO holds its device's slot), run on
  single-slot first-come first-served devices, and have one source behind them;
  the rule asks exactly that;
* accuracy: a trained model that exists, losses that are channels of it, and few
  enough damages to measure (:mod:`sim.graph.accuracy_checks`);
* memory: per device, the weights of the actors placed there plus, per bounded
  input FIFO there, its capacity × the size of the tokens it holds, within the
  device's ``memory``.

A graph built by a system (:mod:`sim.graph.systems`) is checked first by its system
(``graphs.NAME.system…``), then by these rules on the actors it builds.

Each rule reports every problem it finds, located at ``graphs.NAME…``.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from graphlib import CycleError, TopologicalSorter

import networkx as nx

from sim.graph import accuracy_checks, systems
from sim.graph.expand import Actor, Graph, feeds, resolve
from sim.graph.spec import SOURCE, ActorSpec, GraphSpec, KOfN
from sim.problems import Problem
from sim.routes import route, topology
from sim.spec import LayerSpec, Scenario


def check(s: Scenario, full: bool = True) -> list[Problem]:
    """Every problem of the scenario's graphs; routes, deadlock and memory when the names
    are right (and ``full``)."""
    problems = _source_names(s)
    for name, given in s.graphs.items():
        maker = systems.system(given)
        made = maker.problems(s, name, given.system) if maker else []
        if made:
            problems += made
            continue
        spec = systems.built(s, name, given)
        found = _names(s, name, spec) + _acyclic(s, name, spec)
        if not found and full:
            g = resolve(s, name, spec)
            found = _routes(s, g) + _rates(s, g) + _deadlock(s, g) + _memory(s, g)
        problems += _located(name, found) if maker else found
    return problems + accuracy_checks.problems(s)


def _located(graph: str, found: list[Problem]) -> list[Problem]:
    """Problems of the actors a system built, located under the system."""
    where = f"graphs.{graph}"

    def moved(path: str) -> str:
        if path == where:
            return f"{where}.system"
        return path.replace(f"{where}.actors", f"{where}.system.actors", 1)

    return [replace(p, path=moved(p.path)) for p in found]


def _source_names(s: Scenario) -> list[Problem]:
    """Source names are unique across the workload and every graph."""
    seen = {src.name for src in s.workload}
    problems = []
    for name, spec in s.graphs.items():
        for i, src in enumerate(spec.sources):
            for feed in feeds(name, src):
                if feed.name in seen:
                    path = f"graphs.{name}.sources[{i}].name"
                    problems.append(Problem(path, "duplicate source name", feed.name))
                seen.add(feed.name)
    return problems


def _names(s: Scenario, name: str, spec: GraphSpec) -> list[Problem]:
    where = f"graphs.{name}"
    problems = []
    if spec.pipeline is not None and spec.pipeline not in s.pipelines:
        known = ", ".join(sorted(s.pipelines)) or "none"
        problems.append(
            Problem(f"{where}.pipeline", f"unknown pipeline {spec.pipeline!r} (known: {known})")
        )
    for i, src in enumerate(spec.sources):
        for j, at in enumerate([src.at] if src.at is not None else src.for_each or ()):
            path = f"{where}.sources[{i}]." + ("at" if src.at is not None else f"for_each[{j}]")
            if at not in s.devices:
                problems.append(_unknown_device(path, str(at), s))
    actors = systems.actor_specs(s, name, spec)
    names = [layer.name for layer in s.table.layers] if s.table else []
    for a, actor in actors.items():
        at = f"{where}.actors.{a}"
        if actor.on != SOURCE and actor.on not in s.devices:
            problems.append(_unknown_device(f"{at}.on", actor.on, s))
        for k, before in enumerate(actor.after):
            if before not in actors:
                known = ", ".join(sorted(actors))
                problems.append(
                    Problem(f"{at}.after[{k}]", f"unknown actor {before!r} (known: {known})")
                )
        problems += _work(s, at, actor.layers, actor.service is not None, names)
        problems += _part(s, at, actor, names, [m for m, x in actors.items() if a in x.after])
        if isinstance(actor.join, KOfN) and actor.join.k > len(actor.after):
            problems.append(
                Problem(f"{at}.join.k", f"more than its {len(actor.after)} inputs", actor.join.k)
            )
    return problems


def _work(
    s: Scenario,
    at: str,
    layers: tuple[str, str] | None,
    service: bool,
    names: list[str],
    key: str = "layers",
) -> list[Problem]:
    if layers is None:
        return []
    if service:
        return [Problem(f"{at}.{key}", "give layers or service, not both")]
    if s.table is None:
        return [Problem(f"{at}.{key}", "names layers but the scenario has no model", list(layers))]
    missing = [n for n in layers if n not in names]
    if missing:
        return [
            Problem(
                f"{at}.{key}",
                f"unknown layer {missing[0]!r} (model has {names[0]} ... {names[-1]})",
            )
        ]
    if names.index(layers[0]) > names.index(layers[1]):
        return [Problem(f"{at}.{key}", "first layer comes after last", list(layers))]
    return []


def _part(
    s: Scenario, at: str, actor: ActorSpec, names: list[str], successors: list[str]
) -> list[Problem]:
    """A cut-set part: alone of its kind of work, over a model with tensors; ``sends``
    naming its successors."""
    problems = [
        Problem(f"{at}.sends", f"names {m!r}, which does not follow it (after)")
        for m in actor.sends or {}
        if m not in successors
    ]
    if actor.part is None:
        return problems
    if actor.layers is not None or actor.service is not None:
        return [*problems, Problem(f"{at}.part", "give part, layers or service: one of them")]
    source = s.table.source if s.table is not None else None
    if s.table is not None and not (source or "").startswith(("zoo:", "onnx:")):
        message = "needs a zoo or ONNX model: an inline layer table has no tensors"
        return [*problems, Problem(f"{at}.part", message)]
    return problems + _work(s, at, actor.part, False, names, "part")


def _acyclic(s: Scenario, name: str, spec: GraphSpec) -> list[Problem]:
    actors = systems.actor_specs(s, name, spec)
    order = TopologicalSorter({a: [b for b in x.after if b in actors] for a, x in actors.items()})
    try:
        order.prepare()
    except CycleError as exc:
        cycle = exc.args[1][::-1]
        return [
            Problem(
                f"graphs.{name}.actors.{cycle[0]}.after",
                f"cycle {' -> '.join(cycle)}: a graph is acyclic, so {cycle[0]!r} is "
                "reachable from no source and reaches no sink",
            )
        ]
    return []


def _routes(s: Scenario, g: Graph) -> list[Problem]:
    net = topology(list(s.devices), s.links)
    problems = []
    for src in g.sources:
        legs = [
            (src.at, a.device(src.at), f"to actor {n!r}")
            for n, a in g.actors.items()
            if not a.inputs
        ]
        legs += [
            (g.actors[p].device(src.at), a.device(src.at), f"from actor {p!r} to {n!r}")
            for n, a in g.actors.items() for p in a.inputs
        ]  # fmt: skip
        legs += [(g.actors[n].device(src.at), src.at, f"from actor {n!r} back") for n in g.sinks]
        for frm, to, what in legs:
            try:
                route(net, frm, to)
            except nx.NetworkXNoPath:
                problems.append(
                    Problem(
                        f"graphs.{g.name}",
                        f"source {src.name!r}: no route {what}, from {frm!r} to {to!r}: add a link",
                    )
                )
    return list(dict.fromkeys(problems))


def _rates(s: Scenario, g: Graph) -> list[Problem]:
    """Devices that run an actor's layers by the cost model need a profile or rates."""
    problems = []
    for src in g.sources:
        for name, actor in g.actors.items():
            if actor.service is None and actor.span and s.table is not None:
                device = actor.device(src.at)
                layers = [s.table.layers[i] for i in actor.span]
                problems += _rate(s, device, f"graphs.{g.name}.actors.{name}", layers)
    return list(dict.fromkeys(problems))


def _rate(s: Scenario, device: str, who: str, layers: list[LayerSpec]) -> list[Problem]:
    spec = s.devices[device]
    if spec.profile is not None:
        try:
            spec.measured([layer.name for layer in layers])
        except KeyError as exc:
            message = f"has no time for layer {exc.args[0]!r}, run by {who}; profile the model"
            return [Problem(f"devices.{device}.profile", message)]
        return []
    if spec.gflops is None or spec.mem_bandwidth is None:
        message = f"needs gflops and mem_bandwidth (or a type) to run {who} with the cost model"
        return [Problem(f"devices.{device}", message)]
    if not isinstance(spec.gflops, dict):
        return []
    missing = sorted({layer.op for layer in layers} - set(spec.gflops))
    return [
        Problem(f"devices.{device}.gflops", f"has no rate for op class {op!r}, used by {who}")
        for op in missing
    ]


def _ancestors(g: Graph, name: str) -> set[str]:
    out: set[str] = set()
    todo = [name]
    while todo:
        for p in g.actors[todo.pop()].inputs:
            if p not in out:
                out.add(p)
                todo.append(p)
    return out


def _deadlock(s: Scenario, g: Graph) -> list[Problem]:
    problems = []
    for name, actor in g.actors.items():
        waits = actor.join == "all" or (isinstance(actor.join, KOfN) and actor.join.timeout is None)
        if len(actor.inputs) < 2 or not waits or actor.fifo is None:
            continue
        why = _disorder(s, g, actor)
        if why:
            problems.append(
                Problem(
                    f"graphs.{g.name}.actors.{name}.join",
                    f"can starve for ever with fifo {actor.fifo}: {why}; give its join a "
                    "timeout, drop the fifo bound, or keep the branches apart",
                )
            )
    return problems


def _disorder(s: Scenario, g: Graph, join: Actor) -> str | None:
    """Why the join's inputs may arrive out of request order; None if they keep it."""
    branches = {p: {p} | _ancestors(g, p) for p in join.inputs}
    common = set.intersection(*branches.values())
    places = {p: {g.actors[a].on: a for a in b - common} for p, b in branches.items()}
    for (p, a), (q, b) in itertools.combinations(places.items(), 2):
        for device in sorted(set(a) & set(b)):
            return (
                f"actor {a[device]!r} (path {p} -> {join.name}) and actor {b[device]!r} "
                f"(path {q} -> {join.name}) share device {device!r}"
            )
    for p, branch in places.items():
        for device, name in sorted(branch.items()):
            spec = s.devices.get(device)
            if spec is not None and (spec.slots > 1 or spec.discipline == "priority"):
                where = f"path {p} -> {join.name}"
                return f"actor {name!r} ({where}) runs on {device!r}, which can reorder"
    if len(g.sources) > 1 and not common:
        return f"its {len(g.sources)} sources feed the branches apart"
    return None


def _memory(s: Scenario, g: Graph) -> list[Problem]:
    need: dict[str, float] = {}
    who: dict[str, list[str]] = {}
    for src in g.sources:
        for name, actor in g.actors.items():
            device = actor.device(src.at)
            if (device, name) in {(d, n) for d, ns in who.items() for n in ns}:
                continue
            who.setdefault(device, []).append(name)
            token = [g.actors[p].bytes_to(name) for p in actor.inputs] or [g.input_bytes]
            need[device] = (
                need.get(device, 0.0) + actor.weight_bytes + (actor.fifo or 0) * sum(token)
            )
    problems = []
    for device, total in need.items():
        memory = s.devices[device].memory
        if memory is not None and total > memory:
            problems.append(
                Problem(
                    f"graphs.{g.name}",
                    f"device {device!r} has too little memory for actors {', '.join(who[device])}: "
                    f"weights and fifos need {total / 1e6:.1f} MB",
                    memory,
                )
            )
    return problems


def _unknown_device(path: str, name: str, s: Scenario) -> Problem:
    return Problem(path, f"unknown device {name!r} (known: {', '.join(sorted(s.devices))})")
