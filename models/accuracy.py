"""Accuracy of a trained model on its test split, whole or damaged, measured with onnxruntime.

A ``Damage`` is what a failure takes away from the network:

- **lost channels** (RobustDiCE's lost neurons): output channels of named convolution or
  gemm layers are zeroed, by zeroing their rows of the weight and of the bias, so the
  layer emits 0 there (and its ReLU too) whatever the input; a residual block's later
  layers and shortcut carry on as they would on a device that lost those channels;
- **lost students** (RoCoIn's lost groups) are the ensemble's business
  (``models.ensemble``), which uses the same per-sample table.

``correct(trained, damage)`` is the per-sample answer the simulation looks up: a boolean
array over the test split, ``True`` where the damaged model's top class is the label. Each
(model, damage) is measured once and cached beside the model's other results
(``$EDGESIM_CACHE/accuracy/MODEL/DAMAGE.npy``), keyed also by the ONNX file's hash, so a
retrained model is measured afresh. ``Row`` adds the accuracy's 95 % Wilson interval.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from models import ModelError
from models.data import load
from models.training import Trained

Z95 = 1.959963984540054
BATCH = 500


class DamageError(ModelError):
    """A damage that names a layer or a channel the model does not have."""


@dataclass(frozen=True, slots=True)
class Damage:
    """Channels zeroed per layer: ``((layer, (channel, …)), …)``, sorted; empty = intact."""

    zeroed: tuple[tuple[str, tuple[int, ...]], ...] = ()

    @classmethod
    def parse(cls, items: list[str]) -> Damage:
        """From ``LAYER:CHANNELS`` items, channels as ``0,3,5-7``."""
        zeroed: dict[str, set[int]] = {}
        for item in items:
            layer, sep, spec = item.rpartition(":")
            if not sep or not layer or not re.fullmatch(r"\d+(-\d+)?(,\d+(-\d+)?)*", spec):
                raise DamageError(f"--zero: {item!r} is not LAYER:CHANNELS (e.g. conv2:0,3-5)")
            zeroed.setdefault(layer, set()).update(_channels(spec))
        return cls(tuple((k, tuple(sorted(v))) for k, v in sorted(zeroed.items())))

    @property
    def key(self) -> str:
        """A short file-safe name: ``intact``, or ``zero-`` and a hash of ``str(self)``."""
        if not self.zeroed:
            return "intact"
        return "zero-" + hashlib.sha256(str(self).encode()).hexdigest()[:16]

    def __str__(self) -> str:
        """``intact`` or ``conv1:0 conv2:1,3-7``: the form ``parse`` reads, ranges merged."""
        if not self.zeroed:
            return "intact"
        return " ".join(f"{k}:{_ranges(v)}" for k, v in self.zeroed)


def _ranges(channels: tuple[int, ...]) -> str:
    runs: list[list[int]] = []
    for c in channels:
        if runs and c == runs[-1][1] + 1:
            runs[-1][1] = c
        else:
            runs.append([c, c])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


MAX_CHANNEL = 65_535
"""No layer of a model small enough to evaluate here has more channels than this."""


def _channels(spec: str) -> set[int]:
    out: set[int] = set()
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        first, last = int(lo), int(hi or lo)
        if first > last:
            raise DamageError(
                f"--zero: channel range {part!r} runs backwards (write {last}-{first})"
            )
        if last > MAX_CHANNEL:
            raise DamageError(f"--zero: channel {last} is beyond any layer (at most {MAX_CHANNEL})")
        out.update(range(first, last + 1))
    return out


def layer_channels(model: onnx.ModelProto) -> dict[str, int]:
    """Every convolution and gemm layer by name, with its output channels."""
    weights = {t.name: t for t in model.graph.initializer}
    out = {}
    for node in model.graph.node:
        if node.op_type in ("Conv", "Gemm") and node.input[1] in weights:
            out[node.name] = int(weights[node.input[1]].dims[0])
    return out


def damaged(model: onnx.ModelProto, damage: Damage) -> onnx.ModelProto:
    """A copy of ``model`` with the damage's channels zeroed (weights and bias rows)."""
    layers = layer_channels(model)
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    inits = {t.name: t for t in copy.graph.initializer}
    nodes = {n.name: n for n in copy.graph.node}
    for layer, channels in damage.zeroed:
        if layer not in layers:
            known = ", ".join(layers)
            raise DamageError(
                f"--zero: {model.graph.name} has no layer {layer!r} (layers: {known})"
            )
        if channels[-1] >= layers[layer]:
            raise DamageError(
                f"--zero: {layer} has channels 0-{layers[layer] - 1} (got {channels[-1]})"
            )
        for name in nodes[layer].input[1:3]:
            value = numpy_helper.to_array(inits[name]).copy()
            value[list(channels)] = 0.0
            inits[name].CopyFrom(numpy_helper.from_array(value, name))
    return copy


def batched(model: onnx.ModelProto) -> bytes:
    """The model with a free batch dimension on its input and outputs, serialised."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    for value in (*copy.graph.input, *copy.graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    del copy.graph.value_info[:]
    payload: bytes = copy.SerializeToString()
    return payload


def logits(model: onnx.ModelProto, images: np.ndarray) -> np.ndarray:
    """The model's last output (its final classifier) for every image, run with
    onnxruntime in batches."""
    return outputs(model, images)[-1]


def outputs(model: onnx.ModelProto, images: np.ndarray) -> list[np.ndarray]:
    """Every graph output for every image, in graph order, run with onnxruntime in batches."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(batched(model), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    parts = [session.run(None, {name: images[i : i + BATCH]}) for i in range(0, len(images), BATCH)]
    return [np.concatenate(column) for column in zip(*parts, strict=True)]


def correct(trained: Trained, damage: Damage = Damage()) -> np.ndarray:
    """Per test sample: does the damaged model classify it correctly? (cached)"""
    target = results_dir(trained) / f"{damage.key}.npy"
    if target.exists():
        cached: np.ndarray = np.load(target)
        return cached
    test = load(trained.card["dataset"]).test
    model = damaged(onnx.load(trained.onnx_path), damage)
    hits: np.ndarray = logits(model, test.images).argmax(axis=1) == test.labels
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".tmp{os.getpid()}.npy")
    np.save(tmp, hits)
    os.replace(tmp, target)
    return hits


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the damage table: hits out of n, with a 95 % Wilson interval."""

    model: str
    damage: str
    hits: int
    n: int

    @property
    def accuracy(self) -> float:
        return self.hits / self.n

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.hits, self.n)


def wilson(hits: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion."""
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def table(trained: Trained, damages: list[Damage]) -> list[Row]:
    """The damage table: the intact model first, then each damage."""
    rows = []
    for damage in [Damage(), *[d for d in damages if d.zeroed]]:
        hits = correct(trained, damage)
        rows.append(Row(trained.name, str(damage), int(hits.sum()), len(hits)))
    return rows


def results_dir(trained: Trained) -> Path:
    """Where the per-damage tables of ``trained`` are cached."""
    from models.zoo import cache_dir

    digest = hashlib.sha256(trained.onnx_path.read_bytes()).hexdigest()[:16]
    return cache_dir() / "accuracy" / f"{trained.name}-{digest}"
