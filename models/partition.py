"""Partitions: the sub-models between cut points, runnable on their own.

``partitions(model, cuts)`` extracts, for cut tensors A₁ … Aₖ, the sub-models
input → A₁, A₁ → A₂, …, Aₖ → output with ``onnx.utils.Extractor`` (in memory, so
models near the 2 GB protobuf limit are not written twice). Running them in a chain
gives the full model's outputs; ``chain_outputs`` does that with onnxruntime.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import onnx.utils


def partitions(model: onnx.ModelProto, cuts: Sequence[str]) -> list[onnx.ModelProto]:
    """The sub-models between consecutive cut tensors, in order."""
    inferred = onnx.shape_inference.infer_shapes(model)
    extractor = onnx.utils.Extractor(inferred)
    inputs = [
        i.name for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}
    ]
    outputs = [o.name for o in model.graph.output]
    bounds = [inputs, *([c] for c in cuts), outputs]
    parts = []
    for k, (src, dst) in enumerate(itertools.pairwise(bounds)):
        part = extractor.extract_model(list(src), list(dst))
        part.graph.name = f"{model.graph.name}.part{k}"
        part.opset_import.extend([]) if part.opset_import else part.opset_import.extend(
            model.opset_import
        )
        part.ir_version = model.ir_version
        parts.append(part)
    return parts


def save(parts: Sequence[onnx.ModelProto], folder: Path) -> list[Path]:
    """Write the partitions as part0.onnx, part1.onnx, …; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, part in enumerate(parts):
        path = folder / f"part{k}.onnx"
        onnx.save(part, path)
        paths.append(path)
    return paths


def chain_outputs(
    parts: Sequence[onnx.ModelProto], feeds: dict[str, np.ndarray]
) -> list[np.ndarray]:
    """Run the partitions one after the other with onnxruntime; the last one's outputs."""
    import onnxruntime as ort

    values = dict(feeds)
    result: list[np.ndarray] = []
    for part in parts:
        session = ort.InferenceSession(part.SerializeToString(), providers=["CPUExecutionProvider"])
        names = [o.name for o in session.get_outputs()]
        result = session.run(names, {i.name: values[i.name] for i in session.get_inputs()})
        values.update(zip(names, result, strict=True))
    return result
