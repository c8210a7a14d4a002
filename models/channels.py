"""A CNN's convolutions split by output channels over devices, as partial ONNX networks.

This is AutoDiCE's horizontal slicing (the framework RobustDiCE runs on): each device
computes a slice of a convolution's output channels from the layer's whole input, and
the slices of every device are joined (a ``Concat``) before the next layer, so every
device again holds the whole feature map. The elementwise operations between
convolutions (ReLU, residual adds) and the classifier after the last convolution
work on the joined tensors.

* :func:`convs` is a model's channel table: per convolution, in graph order, its output
  channels, the FLOPs, weight bytes and output bytes of one channel, and each filter's
  importance as its L1 norm (:mod:`models.replication` places channels by it).
* A :class:`Placement` says which channels of each convolution each device holds; a
  channel held by several devices is replicated.
* :func:`partial` is one device's partial network: the model with each convolution
  replaced by the device's slice of it (only its channels' weights), whose output is a
  graph output ``LAYER@DEVICE``, and the convolution's joined output a graph input.
* :class:`Distributed` runs the partial networks step by step with onnxruntime, one
  convolution at a time, joining the slices with an ONNX ``Concat`` and ``Gather``: a
  channel comes from the first of its holders that is live; a channel no live device
  holds is zero. With nothing missing its outputs are the full model's; with devices
  missing they are the model with those channels zeroed
  (:func:`models.accuracy.damaged` of :meth:`Placement.damage`), both tested.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference

from models.accuracy import Damage, batched

FLOAT_BYTES = 4.0
Missing = Callable[[str], frozenset[int]]
"""Per convolution, the indices of the devices whose slices are missing."""


@dataclass(frozen=True, slots=True)
class Conv:
    """One convolution of a model, per output channel."""

    name: str
    channels: int
    flops: float  # of one output channel: 2 x multiply-accumulates, plus the bias
    weight_bytes: float  # of one filter and its bias
    output_bytes: float  # of one channel of its output feature map
    input_bytes: float  # of its whole input (every device reads all of it)
    importance: tuple[float, ...]  # per filter, its L1 norm

    def ranked(self) -> list[int]:
        """Channels by importance, most important first (ties by index)."""
        return sorted(range(self.channels), key=lambda c: (-self.importance[c], c))


def convs(model: onnx.ModelProto) -> list[Conv]:
    """The model's convolutions in graph order, with their per-channel figures."""
    inferred = shape_inference.infer_shapes(model)
    shapes = {v.name: _dims(v) for v in inferred.graph.value_info}
    shapes.update({v.name: _dims(v) for v in (*inferred.graph.output, *inferred.graph.input)})
    weights = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    out = []
    for node in model.graph.node:
        if node.op_type != "Conv":
            continue
        w = weights[node.input[1]]
        spatial = float(np.prod(shapes[node.output[0]][2:]))
        per_filter = float(np.prod(w.shape[1:]))
        bias = len(node.input) > 2
        l1 = np.abs(w.reshape(w.shape[0], -1)).sum(axis=1)
        out.append(
            Conv(
                name=node.name,
                channels=int(w.shape[0]),
                flops=spatial * (2 * per_filter + bias),
                weight_bytes=FLOAT_BYTES * (per_filter + bias),
                output_bytes=FLOAT_BYTES * spatial,
                input_bytes=FLOAT_BYTES * float(np.prod(shapes[node.input[0]][1:])),
                importance=tuple(float(v) for v in l1),
            )
        )
    return out


def classifier(model: onnx.ModelProto) -> tuple[float, float]:
    """FLOPs and weight bytes of the model's gemm layers (its classifier, after the
    convolutions: not split)."""
    weights = {t.name: t.dims for t in model.graph.initializer}
    flops = size = 0.0
    for node in model.graph.node:
        if node.op_type == "Gemm":
            dims = weights[node.input[1]]
            flops += 2.0 * dims[0] * dims[1] + dims[0]
            size += FLOAT_BYTES * (dims[0] * dims[1] + dims[0])
    return flops, size


def _tensor(name: str, shape: Sequence[int | str | None] | None) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, shape)


def _dims(value: onnx.ValueInfoProto) -> list[int]:
    return [d.dim_value for d in value.type.tensor_type.shape.dim]


@dataclass(frozen=True, slots=True)
class Placement:
    """Per convolution, per device (by index), the sorted channels it holds."""

    devices: tuple[str, ...]
    held: Mapping[str, tuple[tuple[int, ...], ...]]

    def holders(self, layer: str, channel: int) -> list[int]:
        """The devices holding ``channel`` of ``layer``."""
        return [d for d, chans in enumerate(self.held[layer]) if channel in chans]

    def lost(self, layer: str, missing: frozenset[int]) -> tuple[int, ...]:
        """The channels of ``layer`` every holder of which is ``missing``."""
        live = set().union(
            *(self.held[layer][d] for d in range(len(self.devices)) if d not in missing)
        )
        every = set().union(*self.held[layer])
        return tuple(sorted(every - live))

    def damage(self, missing: Missing) -> Damage:
        """What the model loses when, per layer, the devices ``missing(layer)`` are missing."""
        items = []
        for layer in self.held:
            lost = self.lost(layer, missing(layer))
            items += [f"{layer}:{c}" for c in lost]
        return Damage.parse(items)

    def copies(self, layer: str) -> int:
        """Channels of ``layer`` stored, over all devices."""
        return sum(len(c) for c in self.held[layer])

    def __repr__(self) -> str:
        stored = sum(self.copies(n) for n in self.held)
        return f"Placement({len(self.devices)} devices, {len(self.held)} layers, {stored} stored)"


def slice_name(layer: str, device: int) -> str:
    """The output tensor of a device's slice of a convolution."""
    return f"{layer}@{device}"


def partial(model: onnx.ModelProto, placement: Placement, device: int) -> onnx.ModelProto:
    """Device ``device``'s partial network: each convolution cut to its channels, the
    slice a graph output, the joined convolution output a graph input."""
    inferred = shape_inference.infer_shapes(model)
    types = {v.name: v for v in (*inferred.graph.value_info, *inferred.graph.output)}
    weights = {t.name: t for t in model.graph.initializer}
    nodes, inits, inputs, outputs = [], [], list(model.graph.input), list(model.graph.output)
    used: set[str] = set()
    for node in model.graph.node:
        if node.op_type != "Conv" or node.name not in placement.held:
            nodes.append(node)
            used.update(node.input)
            continue
        chans = list(placement.held[node.name][device])
        inputs.append(types[node.output[0]])
        if not chans:
            continue
        sliced = []
        for name in node.input[1:]:
            value = numpy_helper.to_array(weights[name])[chans]
            sliced.append(f"{name}@{device}")
            inits.append(numpy_helper.from_array(value, sliced[-1]))
        out = slice_name(node.name, device)
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        nodes.append(helper.make_node("Conv", [node.input[0], *sliced], [out], node.name, **attrs))
        used.add(node.input[0])
        dims = _dims(types[node.output[0]])
        outputs.append(helper.make_tensor_value_info(out, onnx.TensorProto.FLOAT,
                                                     [dims[0], len(chans), *dims[2:]]))  # fmt: skip
    inits += [t for n, t in weights.items() if n in used]
    graph = helper.make_graph(nodes, f"{model.graph.name}@{device}", inputs, outputs, inits)
    return helper.make_model(graph, opset_imports=model.opset_import, ir_version=model.ir_version)


def step(model: onnx.ModelProto, outputs: Sequence[str]) -> onnx.ModelProto:
    """The part of ``model`` that computes ``outputs`` from the graph inputs it needs."""
    producer = {o: n for n in model.graph.node for o in n.output}
    inits = {t.name for t in model.graph.initializer}
    needed, seen, stack = [], set(), list(outputs)
    while stack:
        name = stack.pop()
        if name in seen or name in inits or name not in producer:
            continue
        seen.add(name)
        node = producer[name]
        needed.append(node)
        stack.extend(node.input)
    nodes = [n for n in model.graph.node if any(n is m for m in needed)]
    feeds = {i for n in nodes for i in n.input}
    graph = helper.make_graph(
        nodes,
        model.graph.name,
        [v for v in model.graph.input if v.name in feeds],
        [v for v in model.graph.output if v.name in outputs],
        [t for t in model.graph.initializer if t.name in feeds],
    )
    return helper.make_model(graph, opset_imports=model.opset_import, ir_version=model.ir_version)


def gather(
    tensor: str, sources: Sequence[tuple[str, Sequence[int]]], channels: int
) -> onnx.ModelProto:
    """The join of a convolution's slices: ``Concat`` of the inputs ``sources`` (name, the
    channels it carries) along channels, then a ``Gather`` putting channel c in place c
    from the first input that carries it."""
    where: dict[int, int] = {}
    at = 0
    for _, chans in sources:
        for c in chans:
            where.setdefault(c, at)
            at += 1
    index = numpy_helper.from_array(
        np.array([where[c] for c in range(channels)], np.int64), "index"
    )
    inputs = [_tensor(n, ["batch", len(c), None, None]) for n, c in sources]
    nodes = [
        helper.make_node("Concat", [n for n, _ in sources], ["joined"], axis=1),
        helper.make_node("Gather", ["joined", "index"], [tensor], axis=1),
    ]
    output = _tensor(tensor, ["batch", channels, None, None])
    graph = helper.make_graph(nodes, f"gather.{tensor}", inputs, [output], [index])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


class Distributed:
    """The partial networks of a placement, run convolution by convolution."""

    def __init__(self, model: onnx.ModelProto, placement: Placement) -> None:
        self.placement = placement
        self.parts = [partial(model, placement, d) for d in range(len(placement.devices))]
        table = convs(model)
        self.layers = [c.name for c in table if c.name in placement.held]
        self.channels = {c.name: c.channels for c in table}
        inferred = shape_inference.infer_shapes(model)
        self.sizes = {v.name: tuple(_dims(v)[2:]) for v in inferred.graph.value_info}
        self.tensor = {n.name: n.output[0] for n in model.graph.node if n.op_type == "Conv"}
        self.final = [o.name for o in model.graph.output]
        self._sessions: dict[tuple[int, str], tuple[Any, list[str]]] = {}

    def run(
        self, images: np.ndarray, missing: Missing = lambda _: frozenset()
    ) -> dict[str, np.ndarray]:
        """Every convolution's joined output and the model's outputs for ``images``, with
        the slices of the devices ``missing(layer)`` left out of each layer's join."""
        env: dict[str, np.ndarray] = {self.parts[0].graph.input[0].name: images}
        for layer in self.layers:
            gone = missing(layer)
            sources: list[tuple[str, Sequence[int]]] = []
            for d, chans in enumerate(self.placement.held[layer]):
                if chans and d not in gone:
                    name = slice_name(layer, d)
                    env[name] = self._run(d, name, env)[0]
                    sources.append((name, chans))
            lost = self.placement.lost(layer, gone)
            if lost:
                size = self.sizes[self.tensor[layer]]
                env["lost"] = np.zeros((len(images), len(lost), *size), np.float32)
                sources.append(("lost", lost))
            env[self.tensor[layer]] = self._join(layer, sources, env)
        outs = self._run(0, None, env)
        return {
            **{n: env[self.tensor[n]] for n in self.layers},
            **dict(zip(self.final, outs, strict=True)),
        }

    def _join(self, layer: str, sources: list[tuple[str, Sequence[int]]],
              env: dict[str, np.ndarray]) -> np.ndarray:  # fmt: skip
        key = (-1, layer + "".join(f" {n}:{len(c)}" for n, c in sources))
        if key not in self._sessions:
            join = gather(self.tensor[layer], sources, self.channels[layer])
            self._sessions[key] = (_session(join), [n for n, _ in sources])
        session, names = self._sessions[key]
        joined: np.ndarray = session.run(None, {n: env[n] for n in names})[0]
        return joined

    def _run(self, device: int, output: str | None, env: dict[str, np.ndarray]) -> list[np.ndarray]:
        key = (device, output or "")
        if key not in self._sessions:
            model = step(self.parts[device], [output] if output else self.final)
            self._sessions[key] = (_session(model), [v.name for v in model.graph.input])
        session, names = self._sessions[key]
        result: list[np.ndarray] = session.run(None, {n: env[n] for n in names})
        return result

    def __repr__(self) -> str:
        return f"Distributed({self.placement!r}, {len(self._sessions)} sessions)"


def _session(model: onnx.ModelProto) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(batched(model), options, providers=["CPUExecutionProvider"])


def full_outputs(model: onnx.ModelProto, images: np.ndarray) -> dict[str, np.ndarray]:
    """The whole model's convolution outputs and graph outputs, for comparison."""
    inferred = shape_inference.infer_shapes(model)
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    layers = [c.name for c in convs(model)]
    conv_out = {n.name: n.output[0] for n in model.graph.node if n.op_type == "Conv"}
    types = {v.name: v for v in inferred.graph.value_info}
    probe.graph.output.extend(types[conv_out[n]] for n in layers)
    result = _session(probe).run(None, {model.graph.input[0].name: images})
    names = [o.name for o in model.graph.output] + layers
    return dict(zip(names, result, strict=True))
