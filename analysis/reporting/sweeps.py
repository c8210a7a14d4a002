"""Figures of a sweep: each metric against each swept factor, a heat map over two
numeric factors, and accuracy against failures where the runs report accuracy.

They read ``variants.parquet`` (per variant and metric: the mean over replications and
its 95 % interval). A *factor* is a set of swept paths that change together (a
``zip:`` of several paths is one factor); a path with one value is no factor. Against
each factor, one line per combination of the other factors' levels, so no line mixes
variants; a design that is not a grid (Latin hypercube) is drawn as points.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import product
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.ticker import EngFormatter

from analysis.reporting.figure import Figure, canvas
from analysis.reporting.results import Results

if TYPE_CHECKING:
    from matplotlib.axes import Axes

TABLE = ("variant", "metric", "mean", "ci95_low", "ci95_high", "n")
METRICS = ("throughput", "latency.mean", "latency.p95", "deadline_miss", "success_ratio",
           "energy_per_inference", "faults.availability")  # fmt: skip
SCALE = {"latency.mean": ("ms", 1e3), "latency.p95": ("ms", 1e3)}
MAX_LINES = 10


@dataclass(frozen=True)
class Factor:
    """Swept paths that change together, with each variant's level."""

    name: str
    levels: dict[str, object]  # variant -> value (a number, or a label)
    numeric: bool

    def __repr__(self) -> str:
        return f"Factor({self.name!r}, {len(set(self.levels.values()))} levels)"

    def ordered(self) -> list[object]:
        return sorted(set(self.levels.values()), key=_order)


@dataclass(frozen=True)
class Table:
    """Per variant and metric: mean and interval, and the variants' factors."""

    factors: list[Factor]
    cells: dict[tuple[str, str], tuple[float, float, float]]  # (variant, metric) -> m, lo, hi

    def metrics(self) -> list[str]:
        have = {m for _, m in self.cells}
        extra = sorted(m for m in have if m == "accuracy" or m.startswith("accuracy."))
        return [m for m in METRICS if m in have and self._finite(m)] + extra

    def _finite(self, metric: str) -> bool:
        return any(np.isfinite(v[0]) for (_, m), v in self.cells.items() if m == metric)


def table(results: Results) -> Table | None:
    """The sweep's variants table, its factors found; None without one."""
    cols = results.variants
    if cols is None or not len(cols.get("variant", ())):
        return None
    variants = [str(v) for v in cols["variant"]]
    paths = [c for c in cols if c not in TABLE]
    groups: dict[tuple[object, ...], list[str]] = {}
    for path in paths:
        per = dict(zip(variants, cols[path].tolist(), strict=True))
        pattern: tuple[object, ...] = tuple(_pattern([per[v] for v in sorted(per)]))
        distinct = len(set(pattern))
        if distinct == len(per):  # every variant its own level (a Latin hypercube): no zip
            pattern = (path,)
        if distinct > 1:
            groups.setdefault(pattern, []).append(path)
    factors = []
    for members in groups.values():
        first = members[0]
        per = dict(zip(variants, cols[first].tolist(), strict=True))
        numeric = all(isinstance(v, int | float) for v in per.values())
        levels: dict[str, object] = per if numeric else {k: _label(v) for k, v in per.items()}
        more = f" (+{len(members) - 1})" if len(members) > 1 else ""
        factors.append(Factor(first + more, levels, numeric))
    cells = {(v, str(m)): (float(a), float(lo), float(hi)) for v, m, a, lo, hi in zip(
        variants, cols["metric"], cols["mean"], cols["ci95_low"], cols["ci95_high"],
        strict=True)}  # fmt: skip
    return Table(factors, cells)


def _order(value: object) -> tuple[int, float, str]:
    """Numbers in numeric order, before labels in text order."""
    if isinstance(value, int | float):
        return 0, float(value), ""
    return 1, 0.0, str(value)


def _pattern(values: list[object]) -> list[int]:
    """Which variants share a value: the same list for paths swept together (those of
    a ``zip:``; paths whose every variant has its own value are never taken for one)."""
    seen: dict[str, int] = {}
    return [seen.setdefault(repr(v), len(seen)) for v in values]


def _label(value: object) -> str:
    """A short label for a swept value (JSON text of a list or a mapping)."""
    try:
        data = json.loads(str(value))
    except json.JSONDecodeError:
        return str(value)
    if isinstance(data, list):
        return "–".join(str(x) for x in data)
    if isinstance(data, dict):
        return " ".join(f"{k}={data[k]}" for k in ("kind", "rate", "times") if k in data)[:28]
    return str(data)


def _axis(metric: str) -> tuple[str, float]:
    unit, scale = SCALE.get(metric, ("", 1.0))
    return metric + (f" ({unit})" if unit else ""), scale


def against_factors(results: Results) -> Iterator[Figure]:
    """For each factor, every metric against it, one line per level of the others."""
    t = table(results)
    if t is None or not t.factors or not t.metrics():
        return
    for x in t.factors:
        others = [f for f in t.factors if f is not x]
        combos = list(product(*(f.ordered() for f in others)))[:MAX_LINES]
        grid = len({tuple(f.levels[v] for f in t.factors) for v in x.levels}) == np.prod(
            [len(f.ordered()) for f in t.factors])  # fmt: skip
        metrics = t.metrics()
        fig, axes = canvas(-(-len(metrics) // 2), 2, height=2.4)
        for ax, metric in zip(axes, metrics, strict=False):
            label, scale = _axis(metric)
            for i, combo in enumerate(combos):
                chosen = [v for v in x.levels if all(
                    f.levels[v] == c for f, c in zip(others, combo, strict=True))]  # fmt: skip
                _line(ax, t, x, chosen, metric, scale, f"C{i}", _name(others, combo), grid)
            ax.set(ylabel=label, xlabel=x.name if x.numeric else "")
            if x.numeric:
                ax.xaxis.set_major_formatter(EngFormatter())
            if not x.numeric:
                ax.set_xticks(range(len(x.ordered())), [str(v) for v in x.ordered()])
        for ax in axes[len(metrics) :]:
            ax.set_visible(False)
        if others and grid:
            handles, labels = axes[0].get_legend_handles_labels()
            fig.legend(handles, labels, loc="outside lower center", ncols=2, fontsize=7)
        yield Figure(
            f"sweep_{_slug(x.name)}", f"Against {x.name}",
            f"Each metric against {x.name}: mean over replications, 95 % interval as a band "
            "(error bars for categories)"
            + (f", one line per level of {', '.join(f.name for f in others)}." if others
               and grid else "."), fig,
        )  # fmt: skip


def _line(ax: Axes, t: Table, x: Factor, chosen: list[str], metric: str, scale: float,
          colour: str, name: str, grid: bool) -> None:  # fmt: skip
    """One line (or, off a grid, points) of ``metric`` over the ``chosen`` variants."""
    order = x.ordered()
    pts = sorted((order.index(x.levels[v]), x.levels[v], *t.cells[(v, metric)])
                 for v in chosen if (v, metric) in t.cells)  # fmt: skip
    if not pts:
        return
    pos = np.array([p[1] if x.numeric else p[0] for p in pts], dtype=float)
    mean, low, high = (np.array([p[k] for p in pts]) * scale for k in (2, 3, 4))
    style = "-o" if grid else "o"
    ax.plot(pos, mean, style, color=colour, ms=3, label=name or None)
    if x.numeric and grid:
        ax.fill_between(pos, low, high, color=colour, alpha=0.2, lw=0)
    else:
        err = [np.maximum(mean - low, 0), np.maximum(high - mean, 0)]
        ax.errorbar(pos, mean, yerr=err, fmt="none", color=colour, capsize=2)


def _name(factors: list[Factor], combo: tuple[object, ...]) -> str:
    return ", ".join(f"{f.name.split(' ')[0].split('.')[-1]}={level(c)}" for f, c in
                     zip(factors, combo, strict=True))  # fmt: skip


def level(value: object) -> str:
    """A level as a label: large numbers in engineering notation (20 M, 48.7 M)."""
    if isinstance(value, int | float) and abs(value) < 1e4:
        return f"{value:.4g}"
    if isinstance(value, int | float):
        return EngFormatter(places=None)(float(value)).replace("\u2009", " ").strip()
    return str(value)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text.split(" ")[0]).strip("_")


def heat_maps(results: Results) -> Iterator[Figure]:
    """The headline metrics over a full grid of two numeric factors (and no others)."""
    t = table(results)
    if t is None or len(t.factors) != 2 or not all(f.numeric for f in t.factors):
        return
    fx, fy = t.factors
    xs, ys = fx.ordered(), fy.ordered()
    at = {(fx.levels[v], fy.levels[v]): v for v in fx.levels}
    if len(at) != len(xs) * len(ys):
        return
    metrics = [m for m in ("latency.mean", "throughput", "deadline_miss") if m in t.metrics()]
    fig, axes = canvas(1, len(metrics), height=3.0)
    for ax, metric in zip(axes, metrics, strict=True):
        label, scale = _axis(metric)
        grid = np.array([[t.cells.get((at[(x, y)], metric), (np.nan,))[0] * scale for x in xs]
                         for y in ys])  # fmt: skip
        image = ax.imshow(grid, origin="lower", aspect="auto", cmap="viridis")
        ax.set_xticks(range(len(xs)), [level(v) for v in xs])
        ax.set_yticks(range(len(ys)), [level(v) for v in ys])
        ax.set(xlabel=fx.name, ylabel=fy.name, title=label)
        ax.grid(False)
        fig.colorbar(image, ax=ax)
    yield Figure(
        "sweep_heat_map", f"{fx.name} × {fy.name}",
        "Mean over replications of each variant of the two-factor grid.", fig,
    )  # fmt: skip


def accuracy_vs_failures(results: Results) -> Iterator[Figure]:
    """Accuracy against the failures in the measured window, one point per variant."""
    t = table(results)
    if t is None:
        return
    accuracy = [m for m in t.metrics() if m.startswith("accuracy")]
    if not accuracy or "faults.failures" not in {m for _, m in t.cells}:
        return
    fig, (ax,) = canvas(height=3.0)
    variants = sorted({v for v, _ in t.cells})
    for i, metric in enumerate(accuracy):
        pts = [(t.cells[(v, "faults.failures")], t.cells[(v, metric)]) for v in variants
               if (v, metric) in t.cells and (v, "faults.failures") in t.cells]  # fmt: skip
        f, a = (np.array([p[k] for p in pts]) for k in (0, 1))
        ax.errorbar(f[:, 0], a[:, 0], yerr=[a[:, 0] - a[:, 1], a[:, 2] - a[:, 0]], fmt="o",
                    color=f"C{i}", capsize=2, label=metric)  # fmt: skip
    ax.set(xlabel="failures in the measured window", ylabel="accuracy")
    ax.legend()
    yield Figure(
        "accuracy_vs_failures", "Accuracy against failures",
        "Each variant's accuracy (mean, 95 % interval) against its mean number of failures.",
        fig,
    )  # fmt: skip
