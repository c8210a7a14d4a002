"""What the MDI engine knows of each pipeline with a strategy before t = 0.

Its rule, its partitions (layer spans), the workers, each partition's cost on each
worker and the bytes a task carries into it, the service samplers (cost × the
device's noise, one noise stream per device named ``mdi:DEVICE:noise``), and the
ranks: a source's rank is the place of its γ among the distinct γ of the
pipeline's sources (higher γ, higher rank; all equal: one rank).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sim.mdi import partitions
from sim.mdi.rules import Rule, rule
from sim.mdi.spec import MdiSpec
from sim.spec import Scenario
from sim.streams import Streams


@dataclass(slots=True)
class Plan:
    """One MDI pipeline, ready to run."""

    pipeline: str
    spec: MdiSpec
    rule: Rule
    spans: list[range]
    workers: tuple[str, ...]
    costs: list[dict[str, float]]  # per partition: seconds on each worker
    sizes: list[float]  # per partition: the bytes a task carries into it
    result_bytes: float
    gammas: tuple[float, ...]  # the distinct γ of its sources, ascending
    noise: dict[str, Callable[[], float]] = field(default_factory=dict)

    def rank(self, gamma: float) -> int:
        return self.gammas.index(gamma)

    def service(self, k: int, worker: str) -> float:
        """A draw of partition ``k``'s service time on ``worker``."""
        noise = self.noise.get(worker)
        base = self.costs[k][worker]
        return base if noise is None else max(0.0, base * noise())


def workers(s: Scenario, spec: MdiSpec) -> tuple[str, ...]:
    """The devices that take tasks."""
    return spec.workers if spec.workers is not None else tuple(s.devices)


def with_rule(s: Scenario, kind: str) -> Scenario:
    """``s`` with every MDI pipeline's rule replaced by ``kind`` (a key of the rules)."""
    pipelines = {
        name: p
        if p.strategy is None
        else p.model_copy(update={"strategy": p.strategy.model_copy(update={"kind": kind})})
        for name, p in s.pipelines.items()
    }
    return s.model_copy(update={"pipelines": pipelines})


def plans(s: Scenario, streams: Streams | None = None) -> dict[str, Plan]:
    """Every pipeline with a strategy, by name; checked beforehand by :mod:`sim.mdi.checks`."""
    out = {}
    model = s.table
    for name, p in s.pipelines.items():
        spec = p.strategy
        if spec is None:
            continue
        assert model is not None, "checked: MDI needs a model"
        spans = partitions.spans(model, spec)
        names = workers(s, spec)
        costs = [{n: _cost(s, span, n) for n in names} for span in spans]
        r = rule(spec)
        gammas = {r.gamma(spec, src.name) for src in s.workload if src.pipeline == name}
        out[name] = Plan(
            name, spec, r, spans, names, costs,
            [partitions.input_bytes(model, span) for span in spans],
            p.result_bytes, tuple(sorted(gammas)),
        )  # fmt: skip
        if streams is not None:
            for n in names:
                noise = s.devices[n].service_noise
                if noise is not None:
                    out[name].noise[n] = noise.sampler(streams.rng(f"mdi:{n}:noise"))
    return out


def _cost(s: Scenario, span: range, device: str) -> float:
    cost = partitions.cost(s, span, device)
    assert cost is not None, "checked: every worker can cost the model"
    return cost
