"""Split planning, Neurosurgeon style: evaluate every cut of a pipeline and pick the best.

For a pipeline of two stages (endpoint → server) every cut point is tried, plus running
everything on the server (cut at ``input``) and everything on the endpoint (cut at
``output``); for three stages every ordered pair of cuts. Each option is the scenario
with the stages' layer ranges moved, evaluated by the analytic model
(:mod:`analysis.analytic`), so an option costs milliseconds. Reported per option: mean
and p95 latency, the endpoint's busy time and energy per inference (its busy power ×
its service time), and the bytes that leave the endpoint per inference.

Options are applied to every pipeline with the same number of stages as the one
planned (symmetric cameras share a split), unless a pipeline is named.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from analysis.analytic import Analyzer, analyze
from sim.loader import revised
from sim.spec import Scenario

OBJECTIVES = ("latency", "p95", "energy", "bytes")


@dataclass(frozen=True, slots=True)
class Option:
    cuts: tuple[str, ...]
    latency: float
    p95: float
    endpoint_seconds: float
    endpoint_energy: float
    bytes_sent: float

    def score(self, objective: str) -> float:
        """The figure ranked by; NaN (not modelled) ranks last."""
        value = {
            "latency": self.latency,
            "p95": self.p95,
            "energy": self.endpoint_energy,
            "bytes": self.bytes_sent,
        }[objective]
        return math.inf if math.isnan(value) else value


def boundaries(s: Scenario) -> list[tuple[str, int]]:
    """(name, index of the last layer before it) of every place a model may be cut."""
    table = s.table
    assert table is not None
    names = [layer.name for layer in table.layers]
    if table.source and table.source.startswith(("zoo:", "onnx:")):
        from models.cuts import cut_points
        from models.profile import profile
        from models.zoo import load_source

        graph = load_source(table.source)
        inner = [(c.name, c.index) for c in cut_points(graph, profile(graph))]
    else:
        inner = [(name, i) for i, name in enumerate(names[:-1])]
    return [("input", -1), *inner, ("output", len(names) - 1)]


def plan(s: Scenario, pipeline: str | None = None) -> list[Option]:
    """Every split option of ``pipeline`` (default: the first), evaluated analytically."""
    name = pipeline or next(iter(s.pipelines))
    base = s.pipelines[name]
    k = len(base.stages)
    if k not in (2, 3):
        raise ValueError(f"planning needs a pipeline of 2 or 3 stages ({name!r} has {k})")
    table = s.table
    if table is None:
        raise ValueError("planning needs a model to cut")
    cuts = boundaries(s)
    layers = table.layers
    targets = (
        [p for p, spec in s.pipelines.items() if len(spec.stages) == k]
        if pipeline is None
        else [name]
    )
    out = []
    for chosen in itertools.combinations_with_replacement(range(len(cuts)), k - 1):
        ends = [cuts[0], *(cuts[i] for i in chosen), cuts[-1]]
        pipelines = dict(s.pipelines)
        for p in targets:
            stages = []
            for stage, (a, b) in zip(s.pipelines[p].stages, itertools.pairwise(ends), strict=True):
                if b[1] > a[1]:
                    rng = (layers[a[1] + 1].name, layers[b[1]].name)
                    stages.append(stage.model_copy(update={"layers": rng}))
            pipelines[p] = s.pipelines[p].model_copy(update={"stages": tuple(stages)})
        label = tuple(c[0] for c in ends[1:-1])
        variant = revised(s, f"{s.name} (cut after {', '.join(label)})", pipelines=pipelines)
        out.append(_evaluate(variant, name, label))
    return out


def _evaluate(s: Scenario, name: str, label: tuple[str, ...]) -> Option:
    figures = analyze(s)
    source = next(src for src in s.workload if src.pipeline == name)
    table = s.table
    assert table is not None
    first = s.pipelines[name].stages[0]
    endpoint = source.at
    local = first.on == endpoint
    seconds = Analyzer(s).service(name, 0, endpoint)[0] if local else 0.0
    power = s.devices[endpoint].power_busy
    energy = power * seconds if power is not None else math.nan
    if not local:
        sent = table.input_bytes
    else:
        last = first.layer_range(table).stop - 1
        sent = table.layers[last].output_bytes if last < len(table.layers) - 1 else 0.0
    figs = figures["sources"][source.name]
    return Option(
        label,
        _value(figs["latency_mean"]),
        _value(figs["latency_p95"]),
        seconds,
        energy,
        sent,
    )


def _value(fig: dict[str, float | None]) -> float:
    """A figure's value, NaN where the feature is not modelled."""
    value = fig["value"]
    return math.nan if value is None else value
