"""Roofline cost model: how long a run of layers takes on a device.

A layer is compute-bound or memory-bound. Its time is the larger of

* FLOPs / the device's rate for the layer's op class, and
* bytes moved / the device's memory bandwidth, where the bytes moved are the
  layer's weights, its input activation and its output activation,

plus the runtime's fixed overhead per layer that does work (kernel launch,
scheduling), which dominates small layers.

FLOPs follow the 2 × multiply-accumulate convention throughout. Rates are
per op class because the same device runs dense convolutions many times
faster than depthwise ones (a Jetson Nano: ~300 GFLOP/s on ResNet convs,
~22 GFLOP/s on MobileNetV2), so one "GFLOPS" figure per device misleads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

OP_CLASSES = ("conv", "depthwise", "gemm", "attention", "pool", "elementwise")
"""The op classes a layer belongs to, each with its own rate on a device."""


@dataclass(frozen=True, slots=True)
class Layer:
    """One layer of a model: its op class, FLOPs and the bytes it holds and produces."""

    name: str
    op: str
    flops: float
    weight_bytes: float
    output_bytes: float


@dataclass(frozen=True, slots=True)
class Compute:
    """A device's compute: FLOP/s per op class and memory bandwidth in bytes/s."""

    flops_per_s: Mapping[str, float]
    mem_bandwidth: float
    overhead: float = 0.0  # seconds the runtime spends per layer that does work

    def layer_time(self, layer: Layer, input_bytes: float) -> float:
        """Seconds to run ``layer`` once, given the size of its input activation."""
        moved = layer.weight_bytes + input_bytes + layer.output_bytes
        work = max(layer.flops / self.flops_per_s[layer.op], moved / self.mem_bandwidth)
        return work + (self.overhead if layer.flops > 0 else 0.0)

    def run_time(self, layers: Sequence[Layer], input_bytes: float) -> float:
        """Seconds to run ``layers`` in order; each consumes the previous one's output."""
        total = 0.0
        for layer in layers:
            total += self.layer_time(layer, input_bytes)
            input_bytes = layer.output_bytes
        return total


def memory_needed(layers: Sequence[Layer], input_bytes: float) -> float:
    """Bytes a device must hold to run ``layers``: all weights plus the largest activation pair."""
    largest = 0.0
    for layer in layers:
        largest = max(largest, input_bytes + layer.output_bytes)
        input_bytes = layer.output_bytes
    return sum(layer.weight_bytes for layer in layers) + largest


def rates(gflops: float | Mapping[Any, float]) -> dict[str, float]:
    """Expand a GFLOP/s figure (one number, or one per op class) to FLOP/s per op class."""
    if isinstance(gflops, Mapping):
        return {op: value * 1e9 for op, value in gflops.items()}
    return dict.fromkeys(OP_CLASSES, gflops * 1e9)


def fit_rates(samples: Sequence[tuple[str, float, float]]) -> dict[str, float]:
    """Effective FLOP/s per op class from measured layers ``(op class, FLOPs, seconds)``.

    The ratio of sums, so big layers weigh most, as they do in a model's latency.
    """
    flops: dict[str, float] = {}
    seconds: dict[str, float] = {}
    for op, f, t in samples:
        flops[op] = flops.get(op, 0.0) + f
        seconds[op] = seconds.get(op, 0.0) + t
    return {op: flops[op] / seconds[op] for op in flops if seconds[op] > 0 and flops[op] > 0}
