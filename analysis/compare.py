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
