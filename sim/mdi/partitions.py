"""The partitions of a model for MDI: where it is split, and what each part costs.

A model from the zoo or an ONNX file is split only at its cut points (where one
tensor crosses, :mod:`models.cuts`); an inline layer table at any layer. With
``partitions: N`` the N − 1 cuts are those whose FLOPs before them come nearest to
k/N of the model's, k = 1 … N − 1; with a list of names, at those cuts.
"""

from __future__ import annotations

import functools
import itertools

from sim.costs import span_cost
from sim.mdi.spec import MdiSpec
from sim.spec import ModelSpec, Scenario


@functools.lru_cache(maxsize=8)
def _model_cuts(source: str) -> tuple[tuple[str, int], ...]:
    from models import zoo
    from models.cuts import cut_points
    from models.profile import profile

    graph = zoo.load_source(source)
    return tuple((c.name, c.index) for c in cut_points(graph, profile(graph)))


def cuts(model: ModelSpec) -> dict[str, int]:
    """Each cut point's name → the index of the layer it follows."""
    if model.source is None:
        return {layer.name: i for i, layer in enumerate(model.layers[:-1])}
    return dict(_model_cuts(model.source))


def spans(model: ModelSpec, spec: MdiSpec) -> list[range]:
    """The layer indices of each partition, in order.

    Raises ``ValueError`` naming a cut the model lacks, or too many partitions.
    """
    known = cuts(model)
    if isinstance(spec.partitions, int):
        ends = _balanced(model, sorted(known.values()), spec.partitions)
    else:
        bad = [name for name in spec.partitions if name not in known]
        if bad:
            sample = ", ".join(list(known)[:5])
            raise ValueError(f"{bad[0]!r} is not a cut point (one of {sample}, ...)")
        ends = [known[name] for name in spec.partitions]
        if ends != sorted(set(ends)):
            raise ValueError("the cut points are not in the model's order")
    bounds = [-1, *ends, len(model.layers) - 1]
    return [range(a + 1, b + 1) for a, b in itertools.pairwise(bounds)]


def _balanced(model: ModelSpec, candidates: list[int], n: int) -> list[int]:
    if n - 1 > len(candidates):
        raise ValueError(f"{n} partitions need {n - 1} cut points; the model has {len(candidates)}")
    before, total = [], 0.0
    for layer in model.layers:
        total += layer.flops
        before.append(total)
    chosen: list[int] = []
    for k in range(1, n):
        left = [c for c in candidates if (not chosen or c > chosen[-1])]
        room = left[: len(left) - (n - 1 - k)]  # leave a cut for each partition still to come
        chosen.append(min(room, key=lambda c: abs(before[c] - total * k / n)))
    return chosen


def cost(s: Scenario, span: range, device: str) -> float | None:
    """Seconds to run the layers ``span`` on ``device``: its profile, or the roofline."""
    assert s.table is not None, "checked: MDI needs a model"
    return span_cost(s, span, device)


def flops(model: ModelSpec, span: range) -> float:
    """The FLOPs of one inference of ``span``."""
    return sum(model.layers[i].flops for i in span)


def input_bytes(model: ModelSpec, span: range) -> float:
    """What partition ``span`` takes: the model's input, or the cut tensor before it."""
    return model.input_bytes if span.start == 0 else model.layers[span.start - 1].output_bytes
