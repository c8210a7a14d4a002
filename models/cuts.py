"""Cut points: where a model can be split so that a single tensor crosses.

Walk the nodes in execution order; after node i, the tensors that cross are those
produced at or before i (or graph inputs) and consumed after it. Where exactly one
tensor crosses, the graph can be cut there and only that tensor travels to the next
device. Inside a residual block two tensors are alive (the shortcut and the branch),
so no cut is offered there. Weights and constants never cross: every partition
carries its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import onnx

from models.profile import ModelProfile


@dataclass(frozen=True, slots=True)
class Cut:
    """A place to split: the tensor that crosses, its size, and the work on each side."""

    name: str  # the tensor that crosses
    index: int  # the layer that produces it
    bytes: int
    shape: tuple[int, ...]
    flops_before: int


def cut_points(model: onnx.ModelProto, prof: ModelProfile) -> list[Cut]:
    """Every single-tensor cut, in execution order (the last layer's output excluded)."""
    graph = model.graph
    constants = {t.name for t in graph.initializer}
    constants |= {n.output[0] for n in graph.node if n.op_type == "Constant"}
    last_use: dict[str, int] = {}
    for i, node in enumerate(graph.node):
        for name in node.input:
            if name and name not in constants:
                last_use[name] = i
    outputs = {o.name for o in graph.output}
    alive: set[str] = {v.name for v in graph.input if v.name not in constants}
    cuts = []
    flops = 0
    layers = {layer.name: layer for layer in prof.layers}
    for i, node in enumerate(graph.node[:-1]):
        flops += prof.layers[i].flops
        alive |= {o for o in node.output if o}
        alive = {t for t in alive if last_use.get(t, -1) > i or t in outputs}
        if len(alive) == 1:
            (tensor,) = alive
            if tensor in layers:
                layer = layers[tensor]
                cuts.append(Cut(tensor, i, layer.output_bytes, layer.output_shape, flops))
    return cuts
