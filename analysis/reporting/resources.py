"""Figures of where the time and energy go: utilisation, energy per inference, and
throughput and in-flight requests over time.

Utilisation and energy come from ``summary.json`` (means over replications with their
95 % intervals as error bars); throughput and in-flight requests from the requests
table, counted per time window over the measured span (after warm-up).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from analysis.reporting.figure import Figure, canvas
from analysis.reporting.results import Results, Tree

WINDOWS = 60


def _error(cell: Tree) -> tuple[float, float]:
    """Distances from the mean down and up to its interval's ends (0 without one)."""
    mean, ci = cell.get("mean"), cell.get("ci95")
    if mean is None or not ci or ci[0] is None or ci[1] is None:
        return 0.0, 0.0
    return max(0.0, mean - ci[0]), max(0.0, ci[1] - mean)


def _mean(cell: Any) -> float:
    value = cell.get("mean") if isinstance(cell, dict) else None
    return float(value) if isinstance(value, int | float) else float("nan")


def utilisation(results: Results) -> Iterator[Figure]:
    """Utilisation of each device and each link medium, with 95 % intervals."""
    s = results.summary or {}
    rows = [(name, d["utilisation"]) for name, d in s.get("devices", {}).items()]
    rows += [(f"{name} (medium)", m["utilisation"]) for name, m in s.get("media", {}).items()]
    rows = [(n, c) for n, c in rows if isinstance(c, dict) and np.isfinite(_mean(c))]
    if not rows:
        return
    fig, (ax,) = canvas(height=0.8 + 0.3 * len(rows))
    names = [n for n, _ in rows]
    err = np.array([_error(c) for _, c in rows]).T
    colours = ["C0" if "(medium)" not in n else "C1" for n in names]
    ax.barh(names, [_mean(c) for _, c in rows], xerr=err, color=colours, capsize=3)
    ax.axvline(1.0, color="black", lw=0.8)
    ax.invert_yaxis()
    ax.set(xlabel="utilisation (fraction of time busy)", xlim=(0, 1.05))
    bottleneck = (s.get("load") or {}).get("bottleneck")
    note = f" The offered-load bottleneck is {bottleneck}." if bottleneck else ""
    yield Figure(
        "utilisation", "Utilisation",
        "Fraction of the measured time each device computed (blue) and each link "
        f"medium carried data (orange), mean over replications with 95 % intervals.{note}",
        fig,
    )  # fmt: skip


def energy(results: Results) -> Iterator[Figure]:
    """Energy per inference of each device, split into busy and idle power."""
    s = results.summary or {}
    per = _mean(s.get("energy_per_inference"))
    devices = s.get("devices", {})
    total = sum(_mean(d.get("energy")) for d in devices.values())
    if not np.isfinite(per) or not total or not np.isfinite(total):
        return
    names = list(devices)
    busy = np.array([_mean(devices[n].get("energy_busy")) for n in names]) * per / total
    idle = np.array([_mean(devices[n].get("energy_idle")) for n in names]) * per / total
    if not np.isfinite(busy).all() or not np.isfinite(idle).all():
        return
    fig, (ax,) = canvas(height=0.8 + 0.3 * len(names))
    ax.barh(names, busy * 1e3, color="C3", label="busy")
    ax.barh(names, idle * 1e3, left=busy * 1e3, color="C7", label="idle")
    ax.invert_yaxis()
    ax.set(xlabel="energy per inference (mJ)")
    fig.legend(loc="outside upper center", ncols=2)
    yield Figure(
        "energy", "Energy per inference",
        f"Each device's share of the {per * 1e3:.4g} mJ spent per completed inference, "
        "split into time computing (busy) and waiting (idle power).", fig,
    )  # fmt: skip


def throughput(results: Results) -> Iterator[Figure]:
    """Completions per second and requests in flight, per time window (mean over
    replications)."""
    req, s = results.requests, results.summary or {}
    horizon, warmup = float(s.get("horizon", 0.0)), float(s.get("warmup", 0.0))
    if req is None or horizon <= warmup or not len(req.arrival):
        return
    edges = np.linspace(warmup, horizon, WINDOWS + 1)
    width = edges[1] - edges[0]
    reps = max(1, len(set(req.replication.tolist())))
    done = np.isin(req.status, ["ok", "late"]) & np.isfinite(req.completion)
    rate = np.histogram(req.completion[done], edges)[0] / width / reps
    mids = (edges[:-1] + edges[1:]) / 2
    known = np.isfinite(req.completion)  # a failed request has no end to count
    end = np.sort(req.completion[known])
    arrived = np.searchsorted(np.sort(req.arrival[known]), mids, side="right")
    flying = (arrived - np.searchsorted(end, mids, side="right")) / reps
    fig, (top, bottom) = canvas(2, 1, height=1.8)
    top.step(mids, rate, where="mid", color="C0")
    top.set(ylabel="completed /s")
    bottom.step(mids, flying, where="mid", color="C2")
    bottom.set(xlabel="time (s)", ylabel="in flight")
    yield Figure(
        "throughput", "Throughput and requests in flight",
        f"Requests completed per second in {WINDOWS} windows of {width:.3g} s (top) and "
        "requests in the system at each window's middle (bottom), mean over replications "
        "(requests that failed, having no end, are left out of the count).",
        fig,
    )  # fmt: skip
