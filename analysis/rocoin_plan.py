"""RoCoIn's plan for a scenario: the instances of :mod:`analysis.rocoin`, and the baselines.

A graph with ``system: {kind: rocoin}`` names its cluster (the devices of its groups)
and its aggregator. For every K whose distilled ensemble is at hand (committed, or
cached by ``edgesim model distill``), :func:`instances` prices student k on device n as
the route of the input from the aggregator to n, the student's roofline cost on n
(:func:`sim.graph.systems.rocoin.model_cost`, times the mean of the device's noise)
and the route of its features back; a device's failure probability is its long-run
unavailability, E[ttr] / (E[ttf] + E[ttr]) (a crash–stop device: the share of the
horizon after its mean time to failure), and a student fits a device when its weights
are within the device's memory.

:func:`baselines` scores, by the same law, the four designs RoCoIn is set against: the
teacher alone on the fastest device that holds it; one student per device without
redundancy (NoNN, K = N); the chosen K with devices grouped at random; and every device
running one same student (full replication, K = 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.rocoin import Groups, Instance, Plan, Rules, Score, evaluate
from sim.graph.systems.rocoin import RocoinSpec, find, input_bytes, model_cost, student_bytes
from sim.routes import route, topology
from sim.spec import DeviceSpec, Scenario

MAX_K = 8
"""The largest K looked for among the ensembles at hand."""


@dataclass(frozen=True, slots=True)
class Cluster:
    """A RoCoIn graph's devices and the figures every instance shares."""

    graph: str
    spec: RocoinSpec
    names: tuple[str, ...]
    p: np.ndarray
    input_bytes: float


def rocoin_graphs(s: Scenario) -> list[Cluster]:
    """The scenario's RoCoIn graphs, each with its cluster."""
    out = []
    for name, g in s.graphs.items():
        if isinstance(g.system, RocoinSpec):
            names = tuple(d for members in g.system.groups for d in members)
            p = np.array([unavailability(s, d) for d in names])
            size = g.input_bytes if g.input_bytes is not None else input_bytes(g.system)
            out.append(Cluster(name, g.system, names, p, size))
    return out


def unavailability(s: Scenario, device: str) -> float:
    """The long-run probability that ``device`` is down."""
    failure = s.devices[device].failure
    if failure is None:
        return 0.0
    if failure.ttr is None:
        return max(0.0, 1.0 - failure.ttf.mean / s.horizon)
    return failure.ttr.mean / (failure.ttf.mean + failure.ttr.mean)


def transfer(s: Scenario, a: str, b: str, size: float) -> float:
    """Seconds ``size`` bytes take from ``a`` to ``b`` on an idle route (serialisation
    and latency per hop)."""
    if a == b:
        return 0.0
    net = topology(list(s.devices), s.links)
    return sum(size * 8 / s.links[i].bandwidth + s.links[i].latency for i, _, _ in route(net, a, b))


def _noise(device: DeviceSpec) -> float:
    return device.service_noise.mean if device.service_noise is not None else 1.0


def instances(s: Scenario, c: Cluster) -> dict[int, Instance]:
    """Per K with an ensemble at hand (up to the cluster's size), its instance."""
    from models.ensemble import DistillRecipe

    out = {}
    for k in range(1, min(len(c.names), MAX_K) + 1):
        ensemble = find(DistillRecipe(k).key)
        if ensemble is not None:
            out[k] = instance(s, c, [str(ensemble.student(j)) for j in range(k)])
    return out


def instance(s: Scenario, c: Cluster, students: list[str]) -> Instance:
    """The instance of the students at ``students`` (ONNX paths) on the cluster."""
    from pathlib import Path

    agg = c.spec.aggregator
    times = np.zeros((len(c.names), len(students)))
    fits = np.ones_like(times, dtype=bool)
    for n, name in enumerate(c.names):
        device = s.devices[name]
        there = transfer(s, agg, name, c.input_bytes)
        for k, path in enumerate(students):
            weights, features = student_bytes(Path(path))
            run = model_cost(device, Path(path)) * _noise(device)
            times[n, k] = there + run + transfer(s, name, agg, features)
            fits[n, k] = device.memory is None or weights <= device.memory
    return Instance(c.names, times, c.p, fits)


@dataclass(frozen=True, slots=True)
class Baseline:
    """A design scored by the law of :func:`analysis.rocoin.evaluate`."""

    name: str
    layout: str
    score: Score | None  # None: not available here (why in ``layout``)


def baselines(
    s: Scenario, c: Cluster, plan: Plan | None, rules: Rules, seed: int = 0
) -> list[Baseline]:
    """The teacher, NoNN (K = N), random grouping and full replication, scored."""
    found = instances(s, c)
    out = [teacher(s, c)]
    n = len(c.names)
    nonn = found.get(n)
    groups: Groups = tuple((i,) for i in range(n))
    out.append(_scored("nonn (K = N, no redundancy)", nonn, groups, f"no {n}-student ensemble"))
    if plan is not None:
        inst = found[plan.students]
        groups = random_groups(n, plan.students, rules.min_group, seed)
        out.append(_scored(f"random grouping (K = {plan.students})", inst, groups, ""))
    whole: Groups = (tuple(range(n)),)
    out.append(_scored("full replication (K = 1)", found.get(1), whole, "no 1-student ensemble"))
    return out


def _scored(name: str, inst: Instance | None, groups: Groups, missing: str) -> Baseline:
    if inst is None:
        return Baseline(name, missing, None)
    layout = " | ".join(",".join(inst.names[i] for i in g) for g in groups)
    return Baseline(name, layout, evaluate(inst, groups))


def random_groups(n: int, k: int, least: int, seed: int) -> Groups:
    """A grouping of ``n`` devices into ``k`` groups of at least ``least``, uniformly at
    random over such groupings' device orders (seeded)."""
    rng = np.random.default_rng(seed)
    order = [int(i) for i in rng.permutation(n)]
    sizes = [least] * k
    for extra in rng.integers(0, k, n - k * least):
        sizes[int(extra)] += 1
    out, at = [], 0
    for size in sizes:
        out.append(tuple(sorted(order[at : at + size])))
        at += size
    return tuple(out)


def teacher(s: Scenario, c: Cluster) -> Baseline:
    """The teacher on the cluster's fastest device that holds it."""
    from pathlib import Path

    from sim.graph.accuracy_checks import trained

    ensemble = find(c.spec.ensemble_name())
    assert ensemble is not None, "checked by the loader"
    path = Path(trained(str(ensemble.card["teacher"])).onnx_path)
    weights, _ = student_bytes(path)
    best: tuple[float, int] | None = None
    for n, name in enumerate(c.names):
        device = s.devices[name]
        if device.memory is not None and weights > device.memory:
            continue
        t = model_cost(device, path) * _noise(device)
        t += transfer(s, c.spec.aggregator, name, c.input_bytes)
        t += transfer(s, name, c.spec.aggregator, 40.0)  # its 10 logits
        best = min(best or (t, n), (t, n))
    if best is None:
        return Baseline("teacher on the fastest device", "fits no device", None)
    t, n = best
    q = float(c.p[n])
    return Baseline("teacher on the fastest device", c.names[n], Score(t, t, 1 - q, 1 - q))
