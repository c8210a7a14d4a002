"""The page's tables: every figure of ``summary.json`` with its 95 % interval.

The headline table walks the summary rather than listing keys, so a figure added to
``summary.json`` later (``accuracy``, say) appears without a change here; only the
sections with tables of their own (devices, links, sources, failures) and the run's
bookkeeping are left out of it. Each number cell carries the summary path it shows
(``data-key``) and the factor it was scaled by for display (``data-scale``), so that
what the page says can be checked against the file.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from analysis.reporting.results import Tree

OWN_TABLES = {"devices", "links", "media", "sources", "faults", "graphs", "overhead", "load",
              "warnings", "run", "scenario", "seed", "replications", "horizon", "warmup",
              "bindings"}  # fmt: skip
COUNTS = ("count", "served", "fired", "arrived", "failures", "failovers", "repartitions")
SECONDS = ("latency", "delay", "time_to_recover", "wait", "service", "transfer")


@dataclass(frozen=True)
class Number:
    """One shown number: its text, and the summary path and scale it came from."""

    text: str
    key: str
    scale: float


@dataclass(frozen=True)
class Row:
    """A table row: its label, the mean, and the interval's ends; ``unstable`` when the
    figure was withheld because a station is overloaded (the summary's ``transient``)."""

    label: str
    unit: str
    mean: Number | None
    low: Number | None
    high: Number | None
    unstable: bool = False


def number(value: Any, scale: float = 1.0) -> str:
    """A value to four significant figures; "-" for none or not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return "-"
    v = value * scale
    return f"{v:.0f}" if 1e4 <= abs(v) < 1e15 else f"{v:.4g}"


def _unit(path: str) -> tuple[str, float]:
    leaf = path.rsplit(".", 1)[-1]
    if leaf in COUNTS:
        return "", 1.0
    if any(word in path for word in SECONDS):
        return "ms", 1e3
    if leaf in ("throughput",):
        return "/s", 1.0
    if "energy" in path:
        return "J", 1.0
    return "", 1.0


def cells(tree: Any, prefix: str = "") -> Iterator[tuple[str, Tree]]:
    """Every ``{"mean": ..., "ci95": ...}`` cell under ``tree``, with its dotted path."""
    if not isinstance(tree, dict):
        return
    if "mean" in tree and "ci95" in tree:
        yield prefix, tree
        return
    for key, value in tree.items():
        yield from cells(value, f"{prefix}.{key}" if prefix else str(key))


def row(path: str, cell: Tree, label: str | None = None, root: str = "") -> Row:
    """The row of the cell at ``path`` (``root`` prefixes the key, for a subtree)."""
    unit, scale = _unit(path)
    key = f"{root}{path}"
    ci = cell.get("ci95") or [None, None]

    def shown(value: Any, leaf: str) -> Number | None:
        text = number(value, scale)
        return None if text == "-" else Number(text, f"{key}.{leaf}", scale)

    return Row(
        label or path.replace("_", " ").replace(".", " "), unit, shown(cell.get("mean"), "mean"),
        shown(ci[0], "ci95.0"),
        shown(ci[1], "ci95.1"),
        "transient" in cell,
    )  # fmt: skip


def headline(summary: Tree) -> list[Row]:
    """Every figure of the summary outside the sections with tables of their own."""
    rest = {k: v for k, v in summary.items() if k not in OWN_TABLES}
    return [row(path, cell) for path, cell in cells(rest)]


def section(summary: Tree, name: str) -> list[Row]:
    """The figures of one section (``faults``), keyed from the summary's root."""
    return [row(p, c, root=f"{name}.") for p, c in cells(summary.get(name))]


def per_item(summary: Tree, name: str, columns: tuple[str, ...]) -> list[tuple[str, list[Row]]]:
    """One row of cells per device or source: the ``columns`` of each item found."""
    out = []
    for item, tree in (summary.get(name) or {}).items():
        found = [row(c, tree[c], root=f"{name}.{item}.") for c in columns
                 if isinstance(tree.get(c), dict) and "mean" in tree[c]]  # fmt: skip
        out.append((str(item), found))
    return out
