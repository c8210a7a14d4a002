"""Cut sets: splits of a DAG model across which several tensors cross.

A single-tensor cut (:mod:`models.cuts`) cannot split SSD's backbone from its six heads:
six feature maps cross there. Walk the nodes in execution order; after node i the
**cut set** is every tensor produced at or before i (or a graph input) that a later node
consumes, or that is a graph output. Splitting the execution order into contiguous
**parts** at any of these positions always gives runnable sub-models, joined as a DAG:
part j takes from part i exactly the tensors part i produces and part j consumes
(:func:`edges`), so a skip tensor goes straight from its producer to its consumer and
never through the parts between. A single-tensor cut is the special case of a cut set of
one tensor.

``extract`` turns the parts into ONNX models with ``onnx.utils.Extractor`` (in memory);
``run`` executes them in order with onnxruntime, each fed only the tensors on its
incoming edges, and returns the model's outputs; ``states`` checks, position by
position, that the cut set alone determines the rest of the computation.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import onnx
import onnx.utils
from onnx import shape_inference


@dataclass(frozen=True, slots=True)
class Flow:
    """Who produces and who consumes each tensor of a model (weights and constants left out)."""

    names: tuple[str, ...]  # each node's layer name (its first output), in execution order
    inputs: tuple[str, ...]  # the graph inputs that are not weights
    outputs: tuple[str, ...]
    producer: dict[str, int]  # tensor -> node index; graph inputs: -1
    consumers: dict[str, tuple[int, ...]]
    bytes: dict[str, int]  # tensor -> its size


@dataclass(frozen=True, slots=True)
class CutSet:
    """The tensors that cross after node ``index`` (layer ``after``), and their bytes."""

    index: int
    after: str
    tensors: tuple[str, ...]
    bytes: int


@dataclass(frozen=True, slots=True)
class Part:
    """Nodes ``span`` of the execution order; the tensors it takes and hands on."""

    name: str
    span: range
    inputs: tuple[str, ...]  # consumed here, produced before the part (or graph inputs)
    outputs: tuple[str, ...]  # produced here, consumed after the part (or graph outputs)


def flow(model: onnx.ModelProto) -> Flow:
    """The producer-consumer structure of ``model``, with every tensor's size."""
    graph = shape_inference.infer_shapes(model, strict_mode=False).graph
    constants = {t.name for t in graph.initializer}
    constants |= {o for n in graph.node if n.op_type == "Constant" for o in n.output}
    sizes = {v.name: _nbytes(v) for v in [*graph.input, *graph.value_info, *graph.output]}
    inputs = tuple(v.name for v in graph.input if v.name not in constants)
    producer = dict.fromkeys(inputs, -1)
    consumers: dict[str, list[int]] = {}
    for i, node in enumerate(graph.node):
        for name in node.input:
            if name and name not in constants:
                consumers.setdefault(name, []).append(i)
        producer.update((o, i) for o in node.output if o and o not in constants)
    return Flow(
        names=tuple(n.output[0] for n in graph.node),
        inputs=inputs,
        outputs=tuple(o.name for o in graph.output),
        producer=producer,
        consumers={t: tuple(c) for t, c in consumers.items()},
        bytes={t: sizes.get(t, 0) for t in producer},
    )


def cut_sets(f: Flow) -> list[CutSet]:
    """The cut set after every node but the last, in execution order."""
    out = []
    for i in range(len(f.names) - 1):
        tensors = tuple(t for t, p in f.producer.items() if p <= i and _used_after(f, t, i))
        out.append(CutSet(i, f.names[i], tensors, sum(f.bytes[t] for t in tensors)))
    return out


def parts(f: Flow, after: Sequence[str], names: Sequence[str] | None = None) -> list[Part]:
    """The parts between the cut sets after the layers ``after`` (in execution order)."""
    index = {n: i for i, n in enumerate(f.names)}
    unknown = [a for a in after if a not in index or index[a] == len(f.names) - 1]
    if unknown:
        raise KeyError(unknown[0])
    bounds = [0, *sorted({index[a] + 1 for a in after}), len(f.names)]
    spans = [range(a, b) for a, b in itertools.pairwise(bounds)]
    labels = list(names) if names is not None else [f"part{k}" for k in range(len(spans))]
    if len(labels) != len(spans):
        raise ValueError(f"{len(labels)} names for {len(spans)} parts")
    return [part(f, n, s) for n, s in zip(labels, spans, strict=True)]


def part(f: Flow, name: str, span: range) -> Part:
    """The part of nodes ``span``: what it takes from outside, what it hands on."""
    inputs = tuple(
        t for t, p in f.producer.items() if p < span.start and any(c in span for c in _uses(f, t))
    )
    outputs = tuple(
        t
        for t, p in f.producer.items()
        if p in span and (t in f.outputs or any(c >= span.stop for c in _uses(f, t)))
    )
    return Part(name, span, inputs, outputs)


def edges(f: Flow, ps: Sequence[Part]) -> dict[tuple[str, str], tuple[str, ...]]:
    """(producer part, consumer part) -> the tensors that travel between them; ``""`` names
    the model's input (as producer) and its outputs' receiver (as consumer)."""
    owner = {i: p.name for p in ps for i in p.span}
    owner[-1] = ""
    out: dict[tuple[str, str], list[str]] = {}
    for p in ps:
        for t in p.inputs:
            out.setdefault((owner[f.producer[t]], p.name), []).append(t)
        for t in p.outputs:
            if t in f.outputs:
                out.setdefault((p.name, ""), []).append(t)
    return {k: tuple(v) for k, v in out.items()}


def edge_bytes(f: Flow, ps: Sequence[Part]) -> dict[tuple[str, str], int]:
    """The bytes of every edge of :func:`edges`: the sum of its crossing tensors."""
    return {k: sum(f.bytes[t] for t in v) for k, v in edges(f, ps).items()}


def extract(model: onnx.ModelProto, ps: Sequence[Part]) -> list[onnx.ModelProto]:
    """Each part as a runnable ONNX model (``onnx.utils.Extractor``, in memory)."""
    extractor = onnx.utils.Extractor(shape_inference.infer_shapes(model))
    out = []
    for p in ps:
        sub = extractor.extract_model(list(p.inputs), list(p.outputs))
        sub.graph.name = f"{model.graph.name}.{p.name}"
        sub.ir_version = model.ir_version
        if not sub.opset_import:
            sub.opset_import.extend(model.opset_import)
        out.append(sub)
    return out


def run(
    ps: Sequence[Part], models: Sequence[onnx.ModelProto], feeds: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Run the parts in order, each fed only the tensors on its incoming edges; every
    tensor any part handed on (the model's outputs among them)."""
    import onnxruntime as ort

    values = dict(feeds)
    for p, m in zip(ps, models, strict=True):
        session = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        names = [o.name for o in session.get_outputs()]
        result = session.run(names, {t: values[t] for t in p.inputs})
        values.update(zip(names, result, strict=True))
    return values


def states(
    model: onnx.ModelProto, f: Flow, feeds: Mapping[str, np.ndarray]
) -> tuple[list[np.ndarray], list[CutSet]]:
    """The model run one node per part, keeping after each node *only* its cut set: the
    outputs so computed (each cut set shown to determine the rest), and the cut sets."""
    import onnxruntime as ort

    sets = cut_sets(f)
    ps = parts(f, [c.after for c in sets])
    kept = dict(feeds)
    for k, (p, m) in enumerate(zip(ps, extract(model, ps), strict=True)):
        session = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        names = [o.name for o in session.get_outputs()]
        kept.update(zip(names, session.run(names, {t: kept[t] for t in p.inputs}), strict=True))
        if k < len(sets):
            kept = {t: kept[t] for t in sets[k].tensors}
    return [kept[o] for o in f.outputs], sets


def _uses(f: Flow, tensor: str) -> tuple[int, ...]:
    return f.consumers.get(tensor, ())


def _used_after(f: Flow, tensor: str, i: int) -> bool:
    return tensor in f.outputs or any(c > i for c in _uses(f, tensor))


def _nbytes(value: onnx.ValueInfoProto) -> int:
    t = value.type.tensor_type
    dims = [d.dim_value for d in t.shape.dim]
    size = (
        np.dtype(onnx.helper.tensor_dtype_to_np_dtype(t.elem_type)).itemsize if t.elem_type else 4
    )
    return int(np.prod(dims)) * size


@dataclass(frozen=True, slots=True)
class Wiring:
    """What the actors of a graph, each running a span of nodes, hand each other."""

    sends: dict[str, dict[str, int]]  # actor -> successor part -> bytes of the tensors it takes
    out: dict[str, int]  # actor -> bytes of every tensor it hands on (to any successor)
    missing: dict[str, list[str]]  # actor -> why a tensor it needs does not reach it


def wiring(
    f: Flow, spans: Mapping[str, range], after: Mapping[str, Sequence[str]], parts: set[str]
) -> Wiring:
    """For each actor of ``parts`` (a cut-set part), the bytes it sends to each successor
    part and in all, and the tensors it needs that none of its ``after`` actors makes.
    ``spans`` holds every actor that runs layers; ``after`` every actor's producers."""
    sends: dict[str, dict[str, int]] = {}
    out: dict[str, int] = {}
    missing: dict[str, list[str]] = {}
    for name in parts:
        span = spans[name]
        handed = part(f, name, span).outputs
        out[name] = sum(f.bytes[t] for t in handed if t not in f.outputs)
        nxt = [m for m, before in after.items() if name in before and m in parts]
        sends[name] = {
            m: sum(f.bytes[t] for t in handed if any(c in spans[m] for c in _uses(f, t)))
            for m in nxt
        }
        why = [_unmet(f, t, after[name], spans) for t in part(f, name, span).inputs]
        missing[name] = [w for w in why if w]
    return Wiring(sends, out, missing)


def _unmet(f: Flow, tensor: str, before: Sequence[str], spans: Mapping[str, range]) -> str:
    made = f.producer[tensor]
    if made < 0:
        return (
            "" if not before else f"needs the model's input {tensor!r}, sent only to entry actors"
        )
    if any(made in spans[b] for b in before if b in spans):
        return ""
    return f"needs {tensor!r} (layer {f.names[made]}), which none of its after actors runs"
