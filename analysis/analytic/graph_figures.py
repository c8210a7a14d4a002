"""The figures of graph sources, and the overall latency with the pipelines' mixture.

Each graph source's figures mix its states' latency laws (:mod:`analysis.analytic.graphs`)
by probability × delivered fraction, as the pipelines' figures do; the overall latency
mixes them with the pipelines' gamma parts by rate. Laws of different states lie on
different grids, so the mixtures are read through their cumulative functions:
percentiles by bisection on the mixed cumulative function.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from analysis.analytic.laws import Law
from analysis.analytic.network import Figure, StateResult, figure
from analysis.coverage import Unmodelled
from analysis.mixture import Part, mixture_cdf, mixture_mean, quantile

if TYPE_CHECKING:
    from analysis.analytic.analyzer import Analyzer

Weighted = list[tuple[float, Law | None]]  # (probability × delivered [× rate], law; None: ∞)
QUANTILES = {"p50": 0.50, "p95": 0.95, "p99": 0.99}


def graph_sources(a: Analyzer, results: list[StateResult], gaps: Unmodelled) -> dict[str, Figure]:
    """The figures of every graph source, keyed by its name."""
    return {src.name: _source(a, src.name, results, gaps) for _, src in a.dataflow.sources}


def graph_methods(a: Analyzer, results: list[StateResult]) -> dict[str, Figure]:
    """Per graph: its sources and how their latency was found (the likeliest state's)."""
    out: dict[str, Figure] = {}
    for g in a.dataflow.graphs:
        names = [src.name for src in g.sources]
        served = [r for r in results if names and names[0] in r.graphs]
        best = max(served, key=lambda r: r.probability, default=None)
        method = best.graphs[names[0]].method if best else "never served"
        out[g.name] = {"sources": names, "method": method}
    return out


def _source(a: Analyzer, name: str, results: list[StateResult], gaps: Unmodelled) -> Figure:
    served = [r for r in results if name in r.graphs]
    src = next(s for _, s in a.dataflow.sources if s.name == name)
    reason = next((r.missing[name] for r in served if name in r.missing), None)
    lat, ok = gaps.latency or reason, gaps.success or reason
    laws: Weighted = [
        (r.probability * r.graphs[name].delivered, r.graphs[name].law) for r in served
    ]
    method = _method(served, name)
    delivered = sum(w for w, _ in laws)

    def mixed(value: Callable[[StateResult], float]) -> float:
        return sum(r.probability * value(r) for r in served)

    out = {
        "arrivals": a.arrivals(src)[2],
        "availability": figure(sum(r.probability for r in served), "all its devices up"),
        "success_ratio": figure(delivered, "delivered: independent losses on its parts", ok),
        "dropped": figure(mixed(lambda r: r.graphs[name].dropped), "M/M/c/K or M/G/1/K", ok),
        "transfer_failed": figure(mixed(lambda r: r.graphs[name].lost), "per hop", ok),
        "latency_mean": figure(_mean([], laws), method, lat),
        **{
            f"latency_{key}": figure(_quantile([], laws, q), method, lat)
            for key, q in QUANTILES.items()
        },
        "throughput": figure(
            mixed(lambda r: r.throughput[name]), "rate × delivered fraction", gaps.throughput
        ),
        "deadline_miss": None,
    }
    if src.deadline is not None:
        within = sum(w * law.cdf(src.deadline) for w, law in laws if law is not None)
        out["deadline_miss"] = figure(1 - within, f"{method}; undelivered count as missed", lat)
    return out


def _method(served: list[StateResult], name: str) -> str:
    best = max(served, key=lambda r: r.probability, default=None)
    if best is None:
        return "never served"
    return best.graphs[name].method + (", mixed over states" if len(served) > 1 else "")


def weighted_laws(a: Analyzer, results: list[StateResult], rates: dict[str, float]) -> Weighted:
    """Every graph source's laws over the states, weighted by probability × rate × delivered."""
    return [
        (r.probability * rates[name] * soj.delivered, soj.law)
        for r in results
        for name, soj in r.graphs.items()
    ]


def overall(parts: Sequence[Part], laws: Weighted, missing: str | None) -> dict[str, Figure]:
    """Mean and percentiles of the pipelines' parts and the graphs' laws together."""
    method = "QNA pipelines and grid laws of graphs, mixed by rate over states"
    out = {"mean": figure(_mean(parts, laws), method, missing)}
    for key, q in QUANTILES.items():
        out[key] = figure(_quantile(parts, laws, q), method, missing)
    return out


def _mean(parts: Sequence[Part], laws: Weighted) -> float:
    wp = sum(p[0] for p in parts if p[0] > 0)
    wl = sum(w for w, _ in laws if w > 0)
    if wp + wl <= 0:
        return math.nan
    if any(law is None for w, law in laws if w > 0):
        return math.inf
    total = (wp * mixture_mean(parts) if wp > 0 else 0.0) + sum(
        w * law.mean for w, law in laws if law is not None and w > 0
    )
    return float(total / (wp + wl))


def _quantile(parts: Sequence[Part], laws: Weighted, q: float) -> float:
    """The q quantile of the mixture, by bisection on its cumulative function."""
    wp = sum(p[0] for p in parts if p[0] > 0)
    live = [(w, law) for w, law in laws if w > 0]
    wl = sum(w for w, _ in live)
    if wp + wl <= 0:
        return math.nan
    if any(law is None for _, law in live):
        return math.inf
    known = [law for _, law in live if law is not None]
    if wp <= 0 and len(known) == 1:
        return float(known[0].quantile(q))

    def cdf(x: float) -> float:
        inside = wp * mixture_cdf(parts, x) if wp > 0 else 0.0
        return (inside + sum(w * law.cdf(x) for w, law in live if law is not None)) / (wp + wl)

    ends = [law.quantile(q) for law in known] + ([quantile(parts, q)] if wp > 0 else [])
    lo, hi = min(ends), max(ends)
    if not math.isfinite(hi):
        return math.inf
    if cdf(lo) >= q:
        return float(lo)
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if cdf(mid) >= q else (mid, hi)
    return float(hi)
