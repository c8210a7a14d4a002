"""Figures that set two answers side by side: a policy against none, a run against a
baseline run, the analytic model against the simulation, and the simulator's
prediction against the hardware.

- *overhead*: ``summary.json``'s ``overhead`` (``edgesim run --baseline none``), the
  fault-free run with its fault-tolerance policy and without, as paired bars;
- *baseline*: ``edgesim report DIR --baseline OTHER``, the headline figures of both
  runs with their 95 % intervals;
- *analytic*: the rows of ``edgesim analyze --compare --json``, each simulated value
  and interval over the analytic one (1 is agreement);
- *hardware*: the rows of ``validation.json``, the prediction's error against the
  measurement, with each row's tolerance as a band, and the latency distribution
  predicted (``predicted/``) beside the one measured.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from analysis.reporting.figure import Figure, canvas
from analysis.reporting.resources import _error, _mean
from analysis.reporting.results import Results, Tree

HEADLINE = (  # summary path, label, scale
    (("throughput",), "throughput (/s)", 1.0),
    (("success_ratio",), "success ratio", 1.0),
    (("deadline_miss",), "deadline miss", 1.0),
    (("latency", "mean"), "latency mean (ms)", 1e3),
    (("latency", "p95"), "latency p95 (ms)", 1e3),
    (("energy_per_inference",), "energy per inference (J)", 1.0),
)


def _cell(tree: Tree, path: tuple[str, ...]) -> Tree | None:
    for key in path:
        if not isinstance(tree, dict) or key not in tree:
            return None
        tree = tree[key]
    return tree if isinstance(tree, dict) and "mean" in tree else None


def _grid(count: int) -> tuple[int, int]:
    cols = min(3, count)
    return -(-count // cols), cols


def overhead(results: Results) -> Iterator[Figure]:
    """The policy's cost when nothing fails: with and without it, per figure."""
    rows = (results.summary or {}).get("overhead")
    if not isinstance(rows, dict) or not rows:
        return
    fig, axes = canvas(*_grid(len(rows)), height=2.0)
    for ax, (name, f) in zip(axes, rows.items(), strict=False):
        scale = 1e3 if name.startswith("latency") else 1.0
        values = [f["with_policy"], f["without"]]
        ax.bar(["with policy", "without"], [np.nan if v is None else v * scale for v in values],
               color=["C0", "C7"])  # fmt: skip
        ax.set_title(name.replace("_", " ") + (" (ms)" if scale != 1.0 else ""), fontsize=9)
    for ax in axes[len(rows) :]:
        ax.set_visible(False)
    yield Figure(
        "overhead", "Fault-tolerance overhead",
        "Fault-free runs with the scenario's fault-tolerance policy and without it, on "
        "common random numbers: what the policy costs when nothing fails.", fig,
    )  # fmt: skip


def baseline(results: Results) -> Iterator[Figure]:
    """This run's headline figures beside the baseline run's, with 95 % intervals."""
    other = results.baseline
    if other is None or results.summary is None or other.summary is None:
        return
    pairs = [(label, scale, _cell(results.summary, path), _cell(other.summary, path))
             for path, label, scale in HEADLINE]  # fmt: skip
    pairs = [p for p in pairs if p[2] is not None and p[3] is not None]
    if not pairs:
        return
    fig, axes = canvas(*_grid(len(pairs)), height=2.0)
    names = [results.title, f"{other.title} (baseline)"]
    for ax, (label, scale, mine, theirs) in zip(axes, pairs, strict=False):
        cells = [mine, theirs]
        err = np.array([_error(c) for c in cells if c is not None]).T * scale
        means = [_mean(c) * scale for c in cells]
        ax.bar(["this run", "baseline"], means, yerr=err, color=["C0", "C7"], capsize=3)
        ax.set_title(label, fontsize=9)
    for ax in axes[len(pairs) :]:
        ax.set_visible(False)
    yield Figure(
        "baseline", "Against the baseline",
        f"{names[0]} ({results.root.name}) beside {names[1]} ({other.root.name}): means "
        "over replications with 95 % intervals.", fig,
    )  # fmt: skip


def analytic(results: Results) -> Iterator[Figure]:
    """Simulated over analytic, per figure of ``analyze --compare`` (1 is agreement)."""
    rows = [r for r in (results.analytic or {}).get("comparison", [])
            if r.get("analytic") and r.get("simulated") is not None]  # fmt: skip
    if not rows:
        return
    fig, (ax,) = canvas(height=0.8 + 0.28 * len(rows))
    for i, r in enumerate(rows):
        a = r["analytic"]
        ci = r.get("ci95") or [r["simulated"], r["simulated"]]
        low, high = sorted((ci[0] / a, ci[1] / a))
        colour = {True: "C2", False: "C3"}.get(r.get("inside_ci"), "C7")
        ax.errorbar(r["simulated"] / a, i, xerr=[[r["simulated"] / a - low],
                    [high - r["simulated"] / a]], fmt="o", color=colour, capsize=3)  # fmt: skip
    ax.axvline(1.0, color="black", lw=0.8)
    ax.set_yticks(range(len(rows)), [r["figure"] for r in rows])
    ax.invert_yaxis()
    ax.set(xlabel="simulated / analytic")
    yield Figure(
        "analytic_vs_simulated", "Analytic against simulated",
        "Each figure's simulated mean and 95 % interval divided by the analytic value; "
        "green when the analytic value lies inside the interval, red when not. Figures "
        "whose analytic value is 0 are left out.", fig,
    )  # fmt: skip


def hardware(results: Results) -> Iterator[Figure]:
    """The prediction's error against the measurement, per row, tolerance shaded."""
    rows = (results.validation or {}).get("rows", [])
    rows = [r for r in rows if r.get("measured") and r.get("error") is not None]
    if not rows:
        return
    fig, (ax,) = canvas(height=0.8 + 0.3 * len(rows))
    for i, r in enumerate(rows):
        tol = r["tolerance"] / r["measured"] if r.get("absolute") else r["tolerance"]
        ax.barh(i, 2 * tol * 100, left=-tol * 100, color="#dddddd", height=0.8)
        ax.plot(r["error"] * 100, i, "o", color="C2" if r["within"] else "C3")
    ax.axvline(0.0, color="black", lw=0.8)
    ax.set_yticks(range(len(rows)), [r["metric"] for r in rows])
    ax.invert_yaxis()
    ax.set(xlabel="prediction error against the measurement (%)")
    yield Figure(
        "hardware", "Predicted against measured",
        "The simulator's prediction relative to what the bound devices measured, per row "
        "of validation.json; grey: the row's tolerance; green within it, red outside.", fig,
    )  # fmt: skip


def hardware_latency(results: Results) -> Iterator[Figure]:
    """The latency distribution the simulator predicted beside the one measured."""
    measured, predicted = results.requests, results.predicted_requests
    if results.validation is None or measured is None or predicted is None:
        return
    pairs = [(label, r.latency[r.finished()] * 1e3) for label, r in
             (("measured", measured), ("predicted", predicted))]  # fmt: skip
    if not all(len(lat) for _, lat in pairs):
        return
    fig, (ax,) = canvas(height=3.0)
    for i, (label, lat) in enumerate(pairs):
        lat = np.sort(lat)
        ax.plot(lat, np.arange(1, len(lat) + 1) / len(lat), color=f"C{i}", label=label)
    ax.set(xlabel="latency (ms)", ylabel="fraction of requests", ylim=(0, 1.01))
    ax.legend(loc="lower right")
    yield Figure(
        "hardware_latency", "Latency: predicted against measured",
        "Empirical CDF of the latency measured with the bound devices in real time, and of "
        "the latency the calibrated simulation predicted for the same arrivals.", fig,
    )  # fmt: skip
