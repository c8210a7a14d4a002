"""A small builder for ONNX inference graphs with seeded random weights.

Layers are written the way an architecture paper lists them (conv, depthwise conv,
gemm, pooling, residual add); the builder names every node, keeps track of the
activation's shape for the next layer's weights, and draws weights from one seeded
generator so a model is identical wherever it is built. Batch normalisation is taken
as folded into the convolutions, as inference graphs have it.

The same builder makes a trained model: given ``weights`` (a mapping from parameter name
to array, e.g. what training produced), every parameter is taken from it instead of the
generator, so each architecture has one definition. Parameters are the initializers
named ``LAYER.weight`` and ``LAYER.bias`` (``parameter_names``); every other initializer
is a constant of the architecture.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


class Graph:
    """An ONNX graph under construction."""

    def __init__(
        self, name: str, seed: int, weights: Mapping[str, np.ndarray] | None = None
    ) -> None:
        self.name = name
        self.rng = np.random.default_rng(seed)
        self.weights = weights
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self._names: set[str] = set()

    # -- plumbing ------------------------------------------------------------

    def input(self, name: str, shape: list[int], dtype: int = TensorProto.FLOAT) -> str:
        self.inputs.append(helper.make_tensor_value_info(name, dtype, shape))
        return name

    def output(self, name: str, dtype: int = TensorProto.FLOAT) -> None:
        self.outputs.append(helper.make_tensor_value_info(name, dtype, None))

    def const(self, name: str, value: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(value, name))
        return name

    def weight(self, name: str, shape: tuple[int, ...], fan_in: int, gain: float = 2.0) -> str:
        """A parameter drawn with He-style scale ``sqrt(gain / fan_in)``, or the given one."""
        if self.weights is not None:
            return self.const(name, self._given(name, shape))
        std = np.sqrt(gain / max(fan_in, 1))
        return self.const(name, (self.rng.standard_normal(shape) * std).astype(np.float32))

    def bias(self, name: str, size: int) -> str:
        """A bias parameter: zeros, or the given one."""
        if self.weights is not None:
            return self.const(name, self._given(name, (size,)))
        return self.const(name, np.zeros(size, np.float32))

    def _given(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        assert self.weights is not None
        if name not in self.weights:
            raise KeyError(f"{self.name}: no weights given for parameter {name!r}")
        value = np.asarray(self.weights[name], dtype=np.float32)
        if value.shape != shape:
            raise ValueError(f"{self.name}: {name} has shape {value.shape}, expected {shape}")
        return value

    def node(self, op: str, inputs: list[str], name: str, **attrs: Any) -> str:
        if name in self._names:
            raise ValueError(f"duplicate node name {name!r}")
        self._names.add(name)
        self.nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def model(self) -> onnx.ModelProto:
        """The finished model, its outputs' shapes filled in by shape inference."""
        graph = helper.make_graph(
            self.nodes, self.name, self.inputs, self.outputs, self.initializers
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
        model.ir_version = 8
        inferred = onnx.shape_inference.infer_shapes(model)
        shapes = {v.name: v for v in inferred.graph.value_info}
        shapes.update({v.name: v for v in inferred.graph.output})
        for out in model.graph.output:
            out.CopyFrom(shapes[out.name])
        onnx.checker.check_model(model)
        return model

    # -- layers ----------------------------------------------------------------

    def conv(
        self,
        x: str,
        name: str,
        cin: int,
        cout: int,
        k: int,
        stride: int = 1,
        groups: int = 1,
        act: str | None = "relu",
        gain: float = 2.0,
    ) -> str:
        """Convolution (+ bias, the folded batch norm) and an optional activation."""
        w = self.weight(f"{name}.weight", (cout, cin // groups, k, k), cin // groups * k * k, gain)
        b = self.bias(f"{name}.bias", cout)
        pad = k // 2
        y = self.node(
            "Conv",
            [x, w, b],
            name,
            kernel_shape=[k, k],
            strides=[stride, stride],
            pads=[pad] * 4,
            group=groups,
        )
        if act == "relu":
            return self.node("Relu", [y], f"{name}.relu")
        if act == "relu6":
            return self.node("Clip", [y, self._zero(), self._six()], f"{name}.relu6")
        return y

    def add(self, a: str, b: str, name: str, act: str | None = None) -> str:
        y = self.node("Add", [a, b], name)
        return self.node("Relu", [y], f"{name}.relu") if act == "relu" else y

    def global_pool(self, x: str, name: str) -> str:
        pooled = self.node("GlobalAveragePool", [x], name)
        return self.node("Flatten", [pooled], f"{name}.flatten", axis=1)

    def max_pool(self, x: str, name: str, k: int = 3, stride: int = 2) -> str:
        return self.node(
            "MaxPool", [x], name, kernel_shape=[k, k], strides=[stride, stride], pads=[k // 2] * 4
        )

    def gemm(self, x: str, name: str, cin: int, cout: int, gain: float = 1.0) -> str:
        w = self.weight(f"{name}.weight", (cout, cin), cin, gain)
        b = self.bias(f"{name}.bias", cout)
        return self.node("Gemm", [x, w, b], name, transB=1)

    def _zero(self) -> str:
        if "const.zero" not in self._names:
            self._names.add("const.zero")
            self.const("const.zero", np.array(0.0, np.float32))
        return "const.zero"

    def _six(self) -> str:
        if "const.six" not in self._names:
            self._names.add("const.six")
            self.const("const.six", np.array(6.0, np.float32))
        return "const.six"


def parameter_names(model: onnx.ModelProto) -> list[str]:
    """The model's trainable initializers (``LAYER.weight``, ``LAYER.bias``), in order."""
    return [t.name for t in model.graph.initializer if t.name.endswith((".weight", ".bias"))]
