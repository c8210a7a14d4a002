"""Figures of what failures did to the answers: accuracy inside and outside failure
periods, and accuracy over time around the failures.

Drawn only for a run whose graph names a trained model (``accuracy`` in
``summary.json``, a ``correct`` column in the requests table; docs/accuracy.md). The
bars are means over replications with 95 % intervals, over the requests answered and
over all requests (a request not answered is not a correct answer); the analytic
mixture is marked where ``analytic.json`` holds it.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from analysis.reporting.faults import SHOWN, STATES, _horizon, _shown, spans
from analysis.reporting.figure import Figure, canvas
from analysis.reporting.results import Results, Tree

WINDOWS = 40
GROUPS = (("overall", ()), ("outside failures", ("outside",)), ("inside failures", ("inside",)))


def _cell(tree: Tree, path: tuple[str, ...]) -> Tree | None:
    for key in path:
        if not isinstance(tree, dict) or key not in tree:
            return None
        tree = tree[key]
    return tree if isinstance(tree, dict) else None


def inside_outside(results: Results) -> Iterator[Figure]:
    """Accuracy overall, outside and inside failure periods, answered and all requests."""
    acc = (results.summary or {}).get("accuracy")
    if not isinstance(acc, dict):
        return
    analytic = (results.analytic or {}).get("accuracy") or {}
    fig, (ax,) = canvas(height=2.8)
    x = np.arange(len(GROUPS))
    for k, (over, colour) in enumerate((("answered", "C0"), ("all", "C1"))):
        means, low, high = [], [], []
        for _, path in GROUPS:
            cell = _cell(acc, (*path, over)) or {}
            mean = cell.get("mean")
            ci = cell.get("ci95") or [mean, mean]
            means.append(np.nan if mean is None else mean)
            low.append(0.0 if mean is None or ci[0] is None else mean - ci[0])
            high.append(0.0 if mean is None or ci[1] is None else ci[1] - mean)
        ax.bar(x + (k - 0.5) * 0.38, means, 0.36, yerr=[low, high], capsize=3, color=colour,
               label=f"over requests {over}")  # fmt: skip
        marks = [(_cell(analytic, (*path, over)) or {}).get("value") for _, path in GROUPS]
        shown = [(i, v) for i, v in enumerate(marks) if isinstance(v, int | float)]
        if shown:
            ax.plot([x[i] + (k - 0.5) * 0.38 for i, _ in shown], [v for _, v in shown], "kx",
                    ms=7, label="analytic" if k == 0 else None)  # fmt: skip
    ax.set_xticks(x, [name for name, _ in GROUPS])
    ax.set(ylabel="accuracy", ylim=(0, 1.05))
    ax.legend(loc="lower left", fontsize=8)
    yield Figure(
        "accuracy_inside_outside", "Accuracy inside and outside failures",
        "Share of requests answered correctly by the variant of the model that served them, "
        "over the requests answered (blue) and over all requests (orange), overall and "
        "split by whether a component was down when the request arrived; means over "
        "replications with 95 % intervals" + ("; crosses: the analytic mixture." if analytic
                                              else "."), fig,
    )  # fmt: skip


def over_time(results: Results) -> Iterator[Figure]:
    """Accuracy of the answered requests per time window, failures shaded."""
    req = results.requests
    if req is None or req.correct is None:
        return
    keep = (req.replication == SHOWN) & np.isfinite(req.correct) & req.finished()
    if not keep.any():
        return
    horizon = _horizon(results) or float(np.nanmax(req.arrival[keep]))
    edges = np.linspace(0.0, horizon, WINDOWS + 1)
    fig, (ax,) = canvas(height=2.8)
    for i, name in enumerate(sorted(set(req.source[keep]))):
        mine = keep & (req.source == name)
        slot = np.clip(np.digitize(req.arrival[mine], edges) - 1, 0, WINDOWS - 1)
        hits = np.bincount(slot, weights=req.correct[mine], minlength=WINDOWS)
        count = np.bincount(slot, minlength=WINDOWS)
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(count > 0, hits / count, np.nan)
        ax.step(edges[:-1], share, where="post", color=f"C{i}", label=name)
    for span in spans(_shown(results), horizon):
        if span.state != "up, still declared down":
            ax.axvspan(span.start, span.end, color=STATES["down, undetected"], alpha=0.12, lw=0)
    ax.set(xlabel="arrival time (s)", ylabel="accuracy", ylim=(0, 1.05))
    ax.legend(loc="lower left", fontsize=8)
    yield Figure(
        "accuracy_over_time", "Accuracy over time",
        f"Share of the answered requests of replication {SHOWN} that were correct, per "
        f"window of {horizon / WINDOWS:.3g} s by arrival; shaded: a component is down.", fig,
    )  # fmt: skip
