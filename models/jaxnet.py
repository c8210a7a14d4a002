"""A zoo ONNX graph run as a JAX function, so the graph the builder made is what trains.

``network(model)`` reads the graph once and returns its trainable parameters (the
``LAYER.weight`` / ``LAYER.bias`` initializers) and ``apply(params, images)``, a pure
function of a batch (N × C × H × W, any N) giving the graph's last output;
``network_outputs`` gives every output (early exits, a student's features and logits).
The graph's other initializers are held as constants. Training differentiates ``apply``;
export puts the trained parameters back through the zoo builder (``weights=``), so the
ONNX file and the JAX forward pass are the same network by construction, and
``tests/test_training.py`` checks that they agree.

Only the operators of the small CNNs (``models.zoo.small``) are known (``OPS``); any other
one is refused by name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import onnx
from onnx import numpy_helper

from models.zoo.graph import parameter_names

Array = jax.Array
Params = dict[str, Array]
Op = Callable[[list[Array], dict[str, Any]], Array]


def _conv(xs: list[Array], a: dict[str, Any]) -> Array:
    x, w, *rest = xs
    pads = a.get("pads", [0, 0, 0, 0])
    y = jax.lax.conv_general_dilated(
        x,
        w,
        window_strides=tuple(a.get("strides", [1, 1])),
        padding=((pads[0], pads[2]), (pads[1], pads[3])),
        feature_group_count=a.get("group", 1),
        dimension_numbers=("NCHW", "OIHW", "NCHW"),
        precision=jax.lax.Precision.HIGHEST,
    )
    return y + rest[0][None, :, None, None] if rest else y


def _gemm(xs: list[Array], a: dict[str, Any]) -> Array:
    x, w, *rest = xs
    w = w.T if a.get("transB", 0) else w
    y = jnp.matmul(x, w, precision=jax.lax.Precision.HIGHEST)
    return y + rest[0] if rest else y


OPS: dict[str, Op] = {
    "Conv": _conv,
    "Gemm": _gemm,
    "Relu": lambda xs, a: jax.nn.relu(xs[0]),
    "Add": lambda xs, a: xs[0] + xs[1],
    "GlobalAveragePool": lambda xs, a: jnp.mean(xs[0], axis=(2, 3), keepdims=True),
    "Flatten": lambda xs, a: xs[0].reshape(xs[0].shape[0], -1),
}
"""The ONNX operators a trainable graph may use, each as a function of its inputs and
attributes."""


def network(model: onnx.ModelProto) -> tuple[Params, Callable[[Mapping[str, Array], Array], Array]]:
    """The model's parameters and its forward pass ``apply(params, images) -> output``, the
    graph's last output (the final classifier of a model with early exits)."""
    params, apply_all = network_outputs(model)
    return params, lambda p, images: apply_all(p, images)[-1]


def network_outputs(
    model: onnx.ModelProto,
) -> tuple[Params, Callable[[Mapping[str, Array], Array], tuple[Array, ...]]]:
    """The model's parameters and a forward pass giving every graph output, in order."""
    unknown = sorted({n.op_type for n in model.graph.node} - OPS.keys())
    if unknown:
        raise ValueError(f"{model.graph.name}: no JAX form for operator(s) {', '.join(unknown)}")
    trainable = set(parameter_names(model))
    values = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    params = {k: jnp.asarray(v) for k, v in values.items() if k in trainable}
    consts = {k: jnp.asarray(v) for k, v in values.items() if k not in trainable}
    nodes = [
        (n.op_type, list(n.input), n.output[0], {a.name: _attr(a) for a in n.attribute})
        for n in model.graph.node
    ]
    source = model.graph.input[0].name
    results = [o.name for o in model.graph.output]

    def apply(p: Mapping[str, Array], images: Array) -> tuple[Array, ...]:
        env: dict[str, Array] = {**consts, **p, source: images}
        for op, inputs, out, attrs in nodes:
            env[out] = OPS[op]([env[i] for i in inputs], attrs)
        return tuple(env[r] for r in results)

    return params, apply


def _attr(attr: onnx.AttributeProto) -> Any:
    value = onnx.helper.get_attribute_value(attr)
    return list(value) if isinstance(value, list | tuple) else value


def to_numpy(params: Mapping[str, Array]) -> dict[str, np.ndarray]:
    """Parameters as float32 numpy arrays, for the zoo builder's ``weights``."""
    return {k: np.asarray(v, dtype=np.float32) for k, v in params.items()}
