"""Comparing two variants of a scenario run under common random numbers.

The fault-tolerance overhead is the difference a policy makes when nothing
fails: latency, throughput and energy per inference with the policy minus
the same without it. Replication r of both variants shares its seeds, so the
per-replication differences are paired and their interval is much narrower
than the two figures' own.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from analysis.stats import interval
from analysis.summary import metrics
from sim.records import Replication

FIGURES: dict[str, tuple[str, ...]] = {
    "latency_mean": ("latency", "mean"),
    "latency_p95": ("latency", "p95"),
    "throughput": ("throughput",),
    "energy_per_inference": ("energy_per_inference",),
}


def _get(tree: Any, path: tuple[str, ...]) -> float:
    for key in path:
        tree = tree[key]
    return float(tree)


def overhead(with_policy: Sequence[Replication], without: Sequence[Replication]) -> dict[str, Any]:
    """Per figure: with and without the policy, their paired difference and relative change."""
    a = [metrics(r) for r in with_policy]
    b = [metrics(r) for r in without]
    out: dict[str, Any] = {}
    for name, path in FIGURES.items():
        x = [_get(m, path) for m in a]
        y = [_get(m, path) for m in b]
        diff = interval([p - q for p, q in zip(x, y, strict=True)])
        base = interval(y).mean
        out[name] = {
            "with_policy": interval(x).mean,
            "without": base,
            "difference": diff.mean,
            "ci95": None if diff.n < 2 else [diff.low, diff.high],
            "relative": diff.mean / base if base and not math.isnan(base) else None,
        }
    return out


AGREE = 1e-3  # a zero-width interval holds a value that agrees with its mean within 0.1 %

# (label, path in the analytic figures, path in the simulated summary, SI unit of both)
PAIRS: tuple[tuple[str, tuple[str, ...], tuple[str, ...], str], ...] = (
    ("latency mean", ("latency", "mean"), ("latency", "mean"), "s"),
    ("latency p50", ("latency", "p50"), ("latency", "p50"), "s"),
    ("latency p95", ("latency", "p95"), ("latency", "p95"), "s"),
    ("latency p99", ("latency", "p99"), ("latency", "p99"), "s"),
    ("throughput", ("throughput",), ("throughput",), "1/s"),
    ("success ratio", ("success_ratio",), ("success_ratio",), ""),
    ("energy per inference", ("energy_per_inference",), ("energy_per_inference",), "J"),
)

# the accuracy figures set side by side (sim.graph.accuracy, analysis.analytic.accuracy)
ACCURACY: tuple[tuple[str, ...], ...] = (
    ("answered",), ("all",), ("inside", "answered"), ("outside", "answered"),
)  # fmt: skip
# (label, key of a source's figures in both, SI unit): what each graph source is compared on
SOURCE_PAIRS: tuple[tuple[str, str, str], ...] = (
    ("latency mean", "latency_mean", "s"),
    ("latency p95", "latency_p95", "s"),
    ("throughput", "throughput", "1/s"),
    ("success ratio", "success_ratio", ""),
    ("deadline miss", "deadline_miss", ""),
)


def analytic_vs_simulated(
    analytic: dict[str, Any], simulated: dict[str, Any]
) -> list[dict[str, Any]]:
    """Rows of figure, unit, analytic value and method, simulated mean and 95 % interval,
    relative difference and whether the analytic value lies inside the interval."""
    rows = [_row(label, analytic, a, simulated, b, unit) for label, a, b, unit in PAIRS]
    if "faults" in simulated:
        rows.append(
            _row("availability", analytic, ("availability",), simulated,
                 ("faults", "availability"), "")
        )  # fmt: skip
    if "accuracy" in analytic and "accuracy" in simulated:
        rows += [_row(f"accuracy {' '.join(path)}", analytic, ("accuracy", *path), simulated,
                      ("accuracy", *path), "") for path in ACCURACY]  # fmt: skip
    for graph in analytic.get("graphs", {}).values():  # each graph source beside its run
        for name in graph["sources"]:
            rows += [
                _row(f"{name} {label}", analytic, ("sources", name, key), simulated,
                     ("sources", name, key), unit)
                for label, key, unit in SOURCE_PAIRS
                if analytic["sources"][name].get(key) is not None
            ]  # fmt: skip
    for name in analytic["utilisation"]:
        rows.append(
            _row(f"utilisation {name}", analytic, ("utilisation", name), simulated,
                 ("devices", name, "utilisation"), "")
        )  # fmt: skip
    return rows


def inside(value: float, mean: float, ci: Sequence[float]) -> bool:
    """Whether ``value`` lies in ``ci``; for an interval of (nearly) zero width, narrower
    than 0.1 % of the mean (a deterministic figure), whether it agrees with ``mean``
    within 0.1 %."""
    low, high = ci
    scale = AGREE * max(abs(mean), abs(value))
    if high - low <= scale:
        return abs(value - mean) <= scale or low <= value <= high
    return bool(low <= value <= high)


def _row(
    label: str, analytic: Any, a: tuple[str, ...], simulated: Any, b: tuple[str, ...], unit: str
) -> dict[str, Any]:
    fig = analytic
    for key in a:
        fig = fig[key]
    sim = simulated
    for key in b:
        sim = sim[key]
    value, mean, ci = fig["value"], sim["mean"], sim["ci95"]
    usable = mean is not None and value is not None and math.isfinite(value)
    rel = (value - mean) / mean if usable and mean else None
    return {
        "figure": label,
        "unit": unit,
        "analytic": value,
        "method": fig["method"],
        "simulated": mean,
        "ci95": ci,
        "relative_difference": rel,
        "inside_ci": None if ci is None or not usable else inside(value, mean, ci),
    }
