"""Per-layer profile of an ONNX model: op class, FLOPs, weight bytes, output bytes.

Shapes come from ONNX shape inference; a model whose shapes are not all known (a
symbolic batch or sequence dimension) is refused with the dimension named. FLOPs
follow the 2 × multiply-accumulate convention for convolutions and matrix products;
pooling and elementwise layers count one FLOP per output element (the ops the
roofline's bandwidth term decides anyway), and pure data movement (reshape,
transpose, concat, gather) counts none.

Op classes:

* ``conv``: Conv with groups = 1 (or grouped, not depthwise);
* ``depthwise``: Conv with one group per input channel;
* ``gemm``: Gemm, or MatMul with a weight (initializer) operand;
* ``attention``: MatMul of two activations (scores QKᵀ and context AV);
* ``pool``: MaxPool, AveragePool, GlobalAveragePool;
* ``elementwise``: everything else.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import shape_inference

from models import ModelError

POOL_OPS = {"MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool"}
MOVE_OPS = {
    "Reshape",
    "Transpose",
    "Flatten",
    "Concat",
    "Split",
    "Gather",
    "Squeeze",
    "Unsqueeze",
    "Identity",
    "Slice",
    "Shape",
    "Cast",
}
ELEMENT_COST = {"Softmax": 5, "LayerNormalization": 8, "Erf": 8}


@dataclass(frozen=True, slots=True)
class LayerProfile:
    """One node of the graph, in execution order."""

    name: str  # the node's first output tensor, which names the layer
    node: str
    op_type: str
    op: str  # op class
    macs: int
    flops: int
    weight_bytes: int
    output_bytes: int
    output_shape: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ModelProfile:
    name: str
    inputs: dict[str, tuple[tuple[int, ...], int]]  # name -> (shape, numpy dtype size)
    outputs: tuple[str, ...]
    layers: tuple[LayerProfile, ...]
    parameters: int  # distinct initializer elements with two or more dimensions, or 1-D biases

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def flops(self) -> int:
        return sum(layer.flops for layer in self.layers)

    @property
    def input_bytes(self) -> int:
        return sum(int(np.prod(shape)) * size for shape, size in self.inputs.values())


def profile(model: onnx.ModelProto) -> ModelProfile:
    """The per-layer profile of ``model`` (a copy is shape-inferred; the argument is untouched)."""
    inferred = shape_inference.infer_shapes(model, strict_mode=False)
    graph = inferred.graph
    weights = {t.name: t for t in graph.initializer}
    shapes: dict[str, tuple[int, ...]] = {}
    sizes: dict[str, int] = {}
    for value in [*graph.input, *graph.value_info, *graph.output]:
        shape, size = _shape(value)
        shapes[value.name], sizes[value.name] = shape, size
    for name, tensor in weights.items():
        shapes[name] = tuple(tensor.dims)
    inputs = {v.name: (shapes[v.name], sizes[v.name]) for v in graph.input if v.name not in weights}
    layers = tuple(_layer(node, shapes, sizes, weights) for node in graph.node)
    parameters = sum(
        int(np.prod(t.dims)) for t in weights.values() if t.data_type == onnx.TensorProto.FLOAT
    )
    return ModelProfile(graph.name, inputs, tuple(o.name for o in graph.output), layers, parameters)


def _shape(value: onnx.ValueInfoProto) -> tuple[tuple[int, ...], int]:
    t = value.type.tensor_type
    dims = []
    for i, d in enumerate(t.shape.dim):
        if d.HasField("dim_value"):
            dims.append(d.dim_value)
        else:
            raise ModelError(
                f"tensor {value.name!r} has an unknown dimension {i} ({d.dim_param or '?'}); "
                "export the model with fixed shapes"
            )
    size = (
        np.dtype(onnx.helper.tensor_dtype_to_np_dtype(t.elem_type)).itemsize if t.elem_type else 4
    )
    return tuple(dims), size


def _layer(
    node: onnx.NodeProto,
    shapes: dict[str, tuple[int, ...]],
    sizes: dict[str, int],
    weights: dict[str, onnx.TensorProto],
) -> LayerProfile:
    out = node.output[0]
    if out not in shapes:
        raise ModelError(f"shape inference left the output of node {node.name!r} unknown")
    out_shape = shapes[out]
    elements = int(np.prod(out_shape))
    weight_bytes = sum(_nbytes(weights[i]) for i in node.input if i in weights)
    op, macs, flops = _cost(node, shapes, weights, elements)
    output_bytes = sum(
        int(np.prod(shapes[o])) * sizes.get(o, 4) for o in node.output if o in shapes
    )
    return LayerProfile(
        out, node.name or out, node.op_type, op, macs, flops, weight_bytes, output_bytes, out_shape
    )


def _cost(
    node: onnx.NodeProto,
    shapes: dict[str, tuple[int, ...]],
    weights: dict[str, onnx.TensorProto],
    elements: int,
) -> tuple[str, int, int]:
    op_type = node.op_type
    if op_type == "Conv":
        w = shapes[node.input[1]]
        groups = next((a.i for a in node.attribute if a.name == "group"), 1)
        macs = elements * int(np.prod(w[1:]))
        depthwise = groups > 1 and w[1] == 1
        return ("depthwise" if depthwise else "conv"), macs, 2 * macs
    if op_type == "Gemm":
        w = shapes[node.input[1]]
        trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
        k = w[1] if trans_b else w[0]
        return "gemm", elements * k, 2 * elements * k
    if op_type == "MatMul":
        a = shapes[node.input[0]]
        macs = elements * a[-1]
        kind = "gemm" if any(i in weights for i in node.input) else "attention"
        return kind, macs, 2 * macs
    if op_type in POOL_OPS:
        inputs = int(np.prod(shapes[node.input[0]]))
        return "pool", 0, max(inputs, elements)
    if op_type in MOVE_OPS:
        return "elementwise", 0, 0
    return "elementwise", 0, elements * ELEMENT_COST.get(op_type, 1)


def _nbytes(tensor: onnx.TensorProto) -> int:
    size = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type)).itemsize
    return int(np.prod(tensor.dims)) * size
