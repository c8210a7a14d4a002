"""Early exits of a trained model: which head answers each test sample, and whether rightly.

A model with early exits (``resnet8_exits``) has one graph output per head, in graph
order, the last being the final classifier. For a confidence threshold θ, a sample leaves
at the first early head whose largest softmax probability reaches θ, and otherwise at the
final classifier (BranchyNet's rule, Teerapittayanon et al. 2016, with max-softmax as the
confidence). ``exit_table(trained, θ)`` gives, per test sample, the exit taken and whether
that head's answer is the label: the table a graph actor looks up by test-sample index, so
exit rate and accuracy in the simulation come from real outputs.

Every head's confidence and answer on the test split are measured once with onnxruntime
and cached beside the damage tables (``models.accuracy.results_dir``, keyed by the ONNX
file's hash); a threshold is applied to the cache, so any threshold is cheap.

``heads(model)`` says which layers each head needs, by name: to answer at head i, run the
backbone ``segment`` of heads 0 … i in order, then head i's own ``layers``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import onnx

from models import ModelError
from models.accuracy import outputs, results_dir, wilson
from models.data import load
from models.training import Trained

FINAL = "final"
"""The name of the last head, the model's final classifier."""


class ExitError(ModelError):
    """A threshold outside [0, 1], or a head the model does not have."""


@dataclass(frozen=True, slots=True)
class Head:
    """One exit: its name, graph output, the backbone tensor it reads (``tap``), the
    backbone nodes since the previous head's tap (``segment``) and its own nodes."""

    name: str
    output: str
    tap: str
    segment: tuple[str, ...]
    layers: tuple[str, ...]


def heads(model: onnx.ModelProto) -> tuple[Head, ...]:
    """The model's exits in graph order; the last is the final classifier (``final``),
    whose segment runs from the last early tap to the final output."""
    producer = {out: i for i, n in enumerate(model.graph.node) for out in n.output}
    outs = [o.name for o in model.graph.output]
    final = _ancestors(model, producer, outs[-1])
    found, done = [], set[int]()
    for out in outs[:-1]:
        own = sorted(_ancestors(model, producer, out) - final)
        shared = _ancestors(model, producer, out) & final
        tap = next(i for i in model.graph.node[own[0]].input if producer.get(i, -1) in shared)
        segment = sorted(shared - done)
        done |= shared
        found.append(
            Head(out.removesuffix(".fc"), out, tap, _names(model, segment), _names(model, own))
        )
    rest = _names(model, sorted(final - done))
    return (*found, Head(FINAL, outs[-1], outs[-1], rest, ()))


def _ancestors(model: onnx.ModelProto, producer: dict[str, int], tensor: str) -> set[int]:
    seen: set[int] = set()
    stack = [tensor]
    while stack:
        i = producer.get(stack.pop())
        if i is not None and i not in seen:
            seen.add(i)
            stack.extend(model.graph.node[i].input)
    return seen


def _names(model: onnx.ModelProto, indices: list[int]) -> tuple[str, ...]:
    return tuple(model.graph.node[i].name for i in indices)


@dataclass(frozen=True, slots=True)
class ExitTable:
    """Per test sample: the index of the exit taken (into ``heads``) and whether that
    exit's answer is correct, at one confidence threshold."""

    model: str
    threshold: float
    heads: tuple[str, ...]
    taken: np.ndarray
    correct: np.ndarray

    def rate(self, i: int) -> float:
        """The share of test samples that leave at head ``i``."""
        if not 0 <= i < len(self.heads):
            raise ExitError(f"exit: head {i} out of range (0-{len(self.heads) - 1}: {self.heads})")
        return float(np.mean(self.taken == i))

    def accuracy(self) -> float:
        """The share of test samples answered correctly at the exit they took."""
        return float(np.mean(self.correct))

    def interval(self) -> tuple[float, float]:
        """The accuracy's 95 % Wilson interval."""
        return wilson(int(self.correct.sum()), len(self.correct))

    def __repr__(self) -> str:
        rates = ", ".join(f"{h} {self.rate(i):.3f}" for i, h in enumerate(self.heads))
        return (
            f"ExitTable({self.model}, θ={self.threshold}: {rates}; accuracy {self.accuracy():.3f})"
        )


def exit_table(trained: Trained, threshold: float) -> ExitTable:
    """Which exit each test sample takes at ``threshold`` (max softmax), and whether its
    answer is right there."""
    if not 0.0 <= threshold <= 1.0:
        raise ExitError(f"threshold: must be within [0, 1] (got {threshold})")
    names, confidence, answer = _measured(trained)
    labels = load(trained.card["dataset"]).test.labels
    confident = confidence[:-1] >= threshold
    taken = np.where(confident.any(axis=0), confident.argmax(axis=0), len(names) - 1)
    right = answer[taken, np.arange(len(labels))] == labels
    return ExitTable(trained.name, threshold, names, taken.astype(np.int64), right)


def _measured(trained: Trained) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """Head names, and per head × test sample the max softmax and the top class (cached)."""
    model = onnx.load(trained.onnx_path)
    names = tuple(h.name for h in heads(model))
    target = results_dir(trained) / "exits.npz"
    if not target.exists():
        test = load(trained.card["dataset"]).test
        logits = np.stack(outputs(model, test.images)[-len(names) :])
        shifted = np.exp(logits - logits.max(axis=2, keepdims=True))
        confidence = (shifted / shifted.sum(axis=2, keepdims=True)).max(axis=2)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".tmp{os.getpid()}.npz")
        np.savez(tmp, confidence=confidence.astype(np.float32), answer=logits.argmax(axis=2))
        os.replace(tmp, target)
    with np.load(target) as cached:
        return names, cached["confidence"], cached["answer"]
