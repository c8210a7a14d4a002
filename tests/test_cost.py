"""The roofline cost model."""

from __future__ import annotations

import pytest

from models.cost import Compute, Layer, memory_needed, rates


def test_layer_is_the_slower_of_compute_and_memory() -> None:
    """A FLOP-heavy layer is compute-bound, a byte-heavy one memory-bound."""
    c = Compute(rates({"conv": 10.0, "pool": 10.0}), mem_bandwidth=1e9)
    heavy = Layer("c", "conv", flops=1e9, weight_bytes=0, output_bytes=1000)
    wide = Layer("p", "pool", flops=1e3, weight_bytes=0, output_bytes=5e8)
    assert c.layer_time(heavy, 1000) == pytest.approx(0.1)
    assert c.layer_time(wide, 5e8) == pytest.approx(1.0)


def test_depthwise_rate_applies_to_depthwise_layers() -> None:
    """The same FLOPs cost ten times more at a tenth of the rate."""
    c = Compute(rates({"conv": 100.0, "depthwise": 10.0}), mem_bandwidth=1e12)
    conv = Layer("a", "conv", 1e9, 0, 0)
    dw = Layer("b", "depthwise", 1e9, 0, 0)
    assert c.layer_time(dw, 0) == pytest.approx(10 * c.layer_time(conv, 0))


def test_run_time_chains_activations_and_memory_counts_largest_pair() -> None:
    """Each layer's input is the previous output; memory is weights plus the largest pair."""
    layers = [Layer("a", "gemm", 0, 100, 40), Layer("b", "gemm", 0, 10, 5)]
    c = Compute(rates(1.0), mem_bandwidth=1.0)
    assert c.run_time(layers, 60) == pytest.approx((100 + 60 + 40) + (10 + 40 + 5))
    assert memory_needed(layers, 60) == 110 + 100


def test_per_layer_overhead_applies_to_working_layers_only() -> None:
    """The runtime's overhead is paid by each layer with FLOPs, not by pure data movement."""
    c = Compute(rates(1.0), mem_bandwidth=1e15, overhead=0.001)
    layers = [Layer("a", "conv", 1e6, 0, 0), Layer("reshape", "elementwise", 0, 0, 0)]
    assert c.run_time(layers, 0) == pytest.approx(1e6 / 1e9 + 0.001)
