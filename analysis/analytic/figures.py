"""Every figure of a scenario from the analytic model, each with the method behind it.

:func:`analyze` mixes the states' results by probability (and delivered rate) into
the figures a run reports; :func:`offered_load` gives each station's ρ while it is up.
Requests lost to a failure not yet declared are counted for the strategies that act
on declarations (:attr:`sim.strategies.base.Strategy.acts_on_declaration`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from analysis.analytic.accuracy import accuracy
from analysis.analytic.analyzer import Analyzer
from analysis.analytic.graph_figures import graph_methods, graph_sources, overall, weighted_laws
from analysis.analytic.network import Figure, StateResult, figure
from analysis.availability import Component, states, undetected_fraction
from analysis.coverage import Unmodelled, unmodelled
from analysis.mixture import mixture_cdf, mixture_mean, quantile
from sim.spec import FaultToleranceSpec, Scenario, SourceSpec
from sim.strategies import strategy

LATENCY = "QNA + Allen–Cunneen/Cobham/M/G/1/K, mixed over states"
PERCENTILE = "gamma × retransmission mixture over states"
BLOCKING = "M/M/c/K or M/G/1/K blocking"
EXHAUSTED = "P(all R + 1 attempts lost), per hop"
SUCCESS = "delivered − undetected losses (renewal)"


def analyze(s: Scenario) -> dict[str, Any]:
    """Every figure of the scenario, each with the method that produced it."""
    a = Analyzer(s)
    every = list(states(a.parts))
    results = [a.state(down, p) for down, p in every]
    covered = sum(r.probability for r in results)
    gaps = unmodelled(s)
    out: dict[str, Any] = {"scenario": s.name, "states": len(results)}
    if covered < 1 - 1e-12:
        out["truncated_probability"] = 1 - covered
    sources = {src.name: _source(a, src, results, gaps) for src in s.workload}
    sources |= graph_sources(a, results, gaps)
    rates = {src.name: a.arrivals(src)[0] for src in s.workload}
    rates |= {src.name: a.arrivals(src)[0] for _, src in a.dataflow.sources}
    total = sum(rates.values())
    mixture = [part for src in s.workload for r in results if src.name in r.latency
               for part in r.latency[src.name].parts(r.probability * rates[src.name])]  # fmt: skip
    missing = {"latency": gaps.latency, "success": gaps.success, "throughput": gaps.throughput}
    for reason in (f for r in results for name, f in r.missing.items() if name in sources):
        for key in missing:
            missing[key] = missing[key] or reason

    def mean_of(key: str) -> float | None:
        values = [sources[n][key]["value"] for n in sources]
        if any(v is None for v in values) or not total:
            return None
        return float(sum(rates[n] * v for n, v in zip(sources, values, strict=True)) / total)

    throughput = sum(sum(r.probability * t for t in r.throughput.values()) for r in results)
    utilisation = {d: _utilisation(results, d, gaps.throughput) for d in s.devices}
    energy = _energy(s, utilisation, throughput)
    m = missing["latency"]
    out.update(
        {
            "availability": figure(
                float(np.mean([v["availability"]["value"] for v in sources.values()]))
                if sources
                else math.nan,
                _availability_method(a.parts),
            ),
            "success_ratio": figure(mean_of("success_ratio"), SUCCESS, missing["success"]),
            "dropped": figure(mean_of("dropped"), BLOCKING, missing["success"]),
            "transfer_failed": figure(mean_of("transfer_failed"), EXHAUSTED, missing["success"]),
            "throughput": figure(
                throughput, "rate × delivered fraction, capped at saturation", missing["throughput"]
            ),
            "latency": overall(mixture, weighted_laws(a, results, rates), m)
            if a.dataflow.graphs
            else {
                "mean": figure(mixture_mean(mixture), LATENCY, m),
                "p50": figure(quantile(mixture, 0.50), PERCENTILE, m),
                "p95": figure(quantile(mixture, 0.95), PERCENTILE, m),
                "p99": figure(quantile(mixture, 0.99), PERCENTILE, m),
            },
            "energy_per_inference": figure(
                energy, "Σ power(utilisation) / throughput", missing["throughput"]
            ),
            "utilisation": utilisation,
            "components": {c.name: figure(c.availability, c.method) for c in a.parts},
            "sources": sources,
            "neglected": gaps.neglected,
            **({"graphs": graph_methods(a, results)} if a.dataflow.graphs else {}),
        }
    )
    scored = accuracy(s, every, a.up_graph, lambda src: a.arrivals(src)[0])
    if scored is not None:
        out["accuracy"] = scored
    return out


def _source(a: Analyzer, src: SourceSpec, results: list[StateResult], gaps: Unmodelled) -> Figure:
    """The figures of one source."""
    kind = a.arrivals(src)[2]
    served = [r for r in results if src.name in r.latency]
    avail = sum(r.probability for r in served)
    reason = next((r.missing[src.name] for r in served if src.name in r.missing), None)
    lat, ok = gaps.latency or reason, gaps.success or reason
    parts = [part for r in served for part in r.latency[src.name].parts(r.probability)]
    delivered = sum(r.probability * r.latency[src.name].delivered for r in served)
    undetected = _undetected_loss(a, src)
    miss = None
    if src.deadline is not None:
        within = sum(p[0] for p in parts) * (mixture_cdf(parts, src.deadline) if parts else 0.0)
        method = "retransmission/gamma mixture + undelivered + undetected"
        miss = figure(min(1.0, 1 - within + undetected), method, lat or ok)

    def mixed(value: Callable[[StateResult], float]) -> float:
        return sum(r.probability * value(r) for r in served)

    return {
        "arrivals": kind,
        "availability": figure(avail, _availability_method(a.parts)),
        "success_ratio": figure(max(0.0, delivered - undetected), SUCCESS, ok),
        "dropped": figure(mixed(lambda r: r.latency[src.name].dropped), BLOCKING, ok),
        "transfer_failed": figure(mixed(lambda r: r.latency[src.name].lost), EXHAUSTED, ok),
        "latency_mean": figure(mixture_mean(parts), LATENCY, lat),
        "latency_p95": figure(quantile(parts, 0.95), PERCENTILE, lat),
        "throughput": figure(
            mixed(lambda r: r.throughput[src.name]),
            "rate × delivered fraction",
            gaps.throughput or reason,
        ),
        "deadline_miss": miss,
    }


def _availability_method(parts: list[Component]) -> str:
    return "independent components, all states" if len(parts) <= 12 else "states with ≤ 2 failures"


def _utilisation(results: list[StateResult], device: str, missing: str | None) -> Figure:
    reason = missing or next((r.missing[device] for r in results if device in r.missing), None)
    value = sum(r.probability * r.utilisation[device] for r in results)
    return figure(value, "λ E[S] / c (carried), mixed over states", reason)


def offered_load(s: Scenario) -> dict[str, float]:
    """Offered load ρ = λ E[S] / c of every station, not capped at 1.

    λ and E[S] come from the same traffic equations as :func:`analyze` (a lossy hop's
    work counts every attempt). Devices are keyed by name, links by their name
    ``a-b`` (the busier direction, or their shared medium). A component that can fail
    is averaged over the service states in which it is up, weighted by probability:
    the load it carries while it is up. ρ ≥ 1 means the station cannot keep up
    (a device with a ``queue_limit`` then drops the excess).
    """
    a = Analyzer(s)
    results = [a.state(down, p) for down, p in states(a.parts)]
    out: dict[str, float] = {}
    for name in s.devices:

        def carried(r: StateResult, name: str = name) -> float:
            return r.load.get(name, 0.0)

        out[name] = _while_up(results, {name}, carried)
    for link in s.links:
        media = [f"medium:{link.shared}"] if link.shared else [
            f"medium:{link.ends[0]}->{link.ends[1]}", f"medium:{link.ends[1]}->{link.ends[0]}"
        ]  # fmt: skip

        def busiest(r: StateResult, media: list[str] = media) -> float:
            return max(r.load.get(m, 0.0) for m in media)

        out[link.name] = _while_up(results, {link.name, *link.ends}, busiest)
    return out


def _while_up(
    results: list[StateResult], needs: set[str], value: Callable[[StateResult], float]
) -> float:
    """Probability-weighted mean of ``value`` over the states in which ``needs`` are all up."""
    up = [r for r in results if not needs & r.down]
    weight = sum(r.probability for r in up)
    return sum(r.probability * value(r) for r in up) / weight if weight > 0 else 0.0


def _undetected_loss(a: Analyzer, src: SourceSpec) -> float:
    """Requests sent to a primary that is down but not yet declared down are lost,
    unless a re-send after the spec's timeout finds the failure detected or repaired.

    Only strategies that act on a declared failure lose these: the others lose (or, with
    copies elsewhere, do not) whatever is sent while the device is down."""
    s = a.s
    loss = 0.0
    for k, stage in enumerate(s.pipelines[src.pipeline].stages):
        chosen = strategy(s, src.pipeline, k)
        if not chosen.acts_on_declaration:
            continue
        policy = chosen.spec
        part = next((c for c in a.parts if c.name == stage.on), None)
        if part is None:
            continue
        detection = (policy.misses * policy.heartbeat, (policy.misses + 1) * policy.heartbeat)
        key = (part.name, detection, _resend_span(policy))
        if key not in a._undetected:  # the same for every source sending there
            a._undetected[key] = undetected_fraction(part, *key[1:], (s.warmup, s.horizon))
        loss += a._undetected[key]
    return loss


def _resend_span(policy: FaultToleranceSpec) -> float:
    """How long after the first attempt the last re-send goes (0 without re-sends)."""
    if policy.timeout is None:
        return 0.0
    waits = (policy.timeout + policy.backoff * 2**i for i in range(policy.max_attempts - 1))
    return float(sum(waits))


def _energy(s: Scenario, utilisation: dict[str, Figure], throughput: float) -> float:
    total = 0.0
    for name, d in s.devices.items():
        u = utilisation[name]["value"]
        if d.power_idle is None or d.power_busy is None or u is None:
            return math.nan
        total += d.power_idle * (1 - u) + d.power_busy * u
    return total / throughput if throughput > 0 else math.nan
