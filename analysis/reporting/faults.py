"""Figures of what failed and when: latency over time around failures, and a Gantt
chart of each component's state.

Both read ``timeline.csv`` (every change of a device's or link's state, and every
detector's verdict) for one replication, the first: the times of different
replications are different draws and do not overlay. A component's time falls into
three states: *down, undetected* (failed, no detector has declared it yet), *down,
detected*, and *up, still declared down* (repaired, its recovery not yet noticed).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from analysis.reporting.figure import Figure, canvas
from analysis.reporting.results import Change, Results

MS = 1e3
SHOWN = 0  # the replication drawn
STATES = {  # state -> colour
    "down, undetected": "#d62728",
    "down, detected": "#ff9896",
    "up, still declared down": "#c7c7c7",
}


@dataclass(frozen=True)
class Span:
    """A stretch of one component's time in one of :data:`STATES`."""

    component: str
    state: str
    start: float
    end: float


def spans(changes: list[Change], horizon: float) -> list[Span]:
    """The components' non-up stretches in ``changes`` (one replication), in time order."""
    out: list[Span] = []
    for name in dict.fromkeys(c.component for c in changes):
        mine = [c for c in changes if c.component == name]
        marks = [(c.time, c.kind == "detection", c.state) for c in mine]
        down = declared = False
        since = 0.0
        for time, detection, state in [*sorted(marks), (horizon, False, "end")]:
            current = _state(down, declared)
            if current is not None and time > since:
                out.append(Span(name, current, since, time))
            since = time
            if state == "end":
                break
            if detection:
                declared = state == "down"
            else:
                down = state == "down"
    return out


def _state(down: bool, declared: bool) -> str | None:
    if down:
        return "down, detected" if declared else "down, undetected"
    return "up, still declared down" if declared else None


def _shown(results: Results) -> list[Change]:
    return [c for c in results.timeline or [] if c.replication == SHOWN]


def _horizon(results: Results) -> float:
    return float((results.summary or {}).get("horizon", 0.0))


def latency_over_time(results: Results) -> Iterator[Figure]:
    """Each request's latency against its arrival, failures shaded, detections marked."""
    req = results.requests
    if req is None:
        return
    keep = (req.replication == SHOWN) & np.isfinite(req.latency)
    if not keep.any():
        return
    fig, (ax,) = canvas(height=3.2)
    for i, name in enumerate(sorted(set(req.source[keep]))):
        mine = keep & (req.source == name)
        ax.plot(
            req.arrival[mine],
            req.latency[mine] * MS,
            ".",
            ms=2,
            color=f"C{i}",
            label=name,
            rasterized=True,
        )  # thousands of points: an image inside the SVG, not paths
    changes = _shown(results)
    for span in spans(changes, _horizon(results)):
        if span.state != "up, still declared down":
            ax.axvspan(span.start, span.end, color=STATES["down, undetected"], alpha=0.12, lw=0)
    for c in changes:
        if c.kind == "detection":
            ax.axvline(c.time, color="black" if c.state == "down" else "green", ls="--", lw=0.7)
    ax.set(xlabel="arrival time (s)", ylabel="latency (ms)")
    ax.legend(loc="upper right", markerscale=4)
    shaded = " Shaded: a component is down; dashed: a failure (black) or recovery (green) "
    yield Figure(
        "latency_over_time", "Latency over time",
        f"Latency of every finished request of replication {SHOWN} by arrival time."
        + (shaded + "is detected." if changes else ""), fig,
    )  # fmt: skip


def states(results: Results) -> Iterator[Figure]:
    """A Gantt chart of each component's down and undetected time."""
    changes = _shown(results)
    found = spans(changes, _horizon(results))
    if not found:
        return
    names = list(dict.fromkeys(c.component for c in changes))
    fig, (ax,) = canvas(height=1.1 + 0.35 * len(names))
    for span in found:
        row = names.index(span.component)
        ax.barh(row, span.end - span.start, left=span.start, color=STATES[span.state], height=0.6)
    for state, colour in STATES.items():
        ax.barh(0, 0, color=colour, label=state)
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set(xlabel="time (s)", xlim=(0, _horizon(results) or None))
    fig.legend(loc="outside upper center", ncols=3)
    yield Figure(
        "component_states", "Component states",
        f"Replication {SHOWN}: when each component was down before any detector noticed, "
        "down and declared so, and repaired but still declared down; up elsewhere.", fig,
    )  # fmt: skip
