"""Latency figures of a run: the distribution per source, and per priority class.

Both read the requests table (measured requests that delivered a result, on time or
late, over every replication). The distribution marks each source's deadline and its
p95 and p99, and, when the folder holds an analytic evaluation (``analytic.json``),
the analytic percentiles beside the simulated ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from analysis.reporting.figure import Figure, canvas
from analysis.reporting.results import Results

if TYPE_CHECKING:
    from matplotlib.axes import Axes

MS = 1e3
TAIL = 10.0


def distribution(results: Results) -> Iterator[Figure]:
    """CDF and histogram of latency per source, deadline and p95/p99 marked."""
    req = results.requests
    if req is None:
        return
    keep = req.finished()
    sources = sorted(set(req.source[keep]))
    if not sources:
        return
    fig, (cdf, hist) = canvas(1, 2, height=3.2)
    deadlines = _deadlines(results)
    every = req.latency[keep] * MS
    tail = _long_tail(every)
    bins = np.geomspace(every.min(), every.max(), 60) if tail else np.linspace(
        every.min(), every.max(), 60)  # fmt: skip
    for i, name in enumerate(sources):
        colour = f"C{i}"
        lat = np.sort(req.latency[keep & (req.source == name)]) * MS
        below = np.arange(1, len(lat) + 1) / len(lat)
        if tail:  # the fraction slower than x, on a log axis: the tail stays visible
            cdf.plot(lat[:-1], 1 - below[:-1], color=colour, label=name)
        else:
            cdf.plot(lat, below, color=colour, label=name)
        hist.hist(lat, bins=bins.tolist(), histtype="step", color=colour, label=name)
        for q, style in ((95, "--"), (99, ":")):
            cdf.axvline(np.percentile(lat, q), color=colour, ls=style, lw=0.8)
        if name in deadlines:
            for ax in (cdf, hist):
                ax.axvline(deadlines[name] * MS, color="black", lw=1.2)
    marked = _analytic(results, cdf, tail)
    if tail:
        _logarithmic(cdf, hist)
    if not tail:
        cdf.set(ylabel="fraction of requests", ylim=(0, 1.01))
    hist.set(xlabel="latency (ms)", ylabel="requests")
    cdf.set(xlabel="latency (ms)")
    cdf.legend(loc="upper right" if tail else "lower right")
    yield Figure(
        "latency_distribution", "Latency distribution",
        ("Fraction of requests slower than each latency (left, log axes: the tail is long)"
         if tail else "Empirical CDF (left)")
        + " and histogram (right) of each source's latency over all replications, after "
        "warm-up. Dashed: p95, dotted: p99, black: deadline"
        + ("; crosses: analytic percentiles." if marked else "."),
        fig,
    )  # fmt: skip


def _logarithmic(cdf: Axes, hist: Axes) -> None:
    """Log latency axes labelled in plain milliseconds; the histogram's counts too."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    for ax in (cdf, hist):
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    cdf.set(yscale="log", ylabel="fraction slower")
    hist.set_yscale("log")


def _long_tail(latency: np.ndarray) -> bool:
    """A tail so long (max over median past :data:`TAIL`) that a log axis reads better."""
    if not len(latency):
        return False
    median = float(np.median(latency))
    return median > 0 and float(latency.max()) / median > TAIL


def _analytic(results: Results, ax: Axes, tail: bool) -> bool:
    """Analytic percentiles as crosses on the CDF (on the fraction slower, with a long
    tail), where the folder has them; whether there were any."""
    figures = results.analytic or {}
    points = [(float(p[1:]) / 100, f["value"]) for p, f in figures.get("latency", {}).items()
              if p.startswith("p") and f.get("value") is not None]  # fmt: skip
    if not points:
        return False
    q, value = (np.array(v, dtype=float) for v in zip(*points, strict=True))
    ax.plot(value * MS, 1 - q if tail else q, "kx", ms=7, label="analytic")
    return True


def _deadlines(results: Results) -> dict[str, float]:
    """Each source's deadline in seconds, from the resolved scenario."""
    out: dict[str, float] = {}
    for src in (results.resolved or {}).get("workload", []):
        if isinstance(src, dict) and isinstance(src.get("deadline"), int | float):
            out[str(src.get("name"))] = float(src["deadline"])
    return out


def priorities(results: Results) -> Iterator[Figure]:
    """Latency per priority class (box plots), when requests carry several priorities."""
    req = results.requests
    if req is None:
        return
    keep = req.finished()
    levels = sorted(set(req.priority[keep].tolist()))
    if len(levels) < 2:
        return
    fig, (ax,) = canvas(height=3.0)
    data = [req.latency[keep & (req.priority == p)] * MS for p in levels]
    ax.boxplot(data, tick_labels=[str(p) for p in levels], whis=(5, 95), showfliers=False)
    ax.set(xlabel="priority", ylabel="latency (ms)")
    yield Figure(
        "latency_by_priority", "Latency per priority",
        "Latency of each priority class: box from p25 to p75, line at the median, "
        "whiskers at p5 and p95.", fig,
    )  # fmt: skip
