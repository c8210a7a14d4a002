"""Assembling the report: the figures drawn, the tables filled, one HTML file written.

The page is one file with everything inline (figures as SVG, the style sheet in a
``<style>`` element, no script, no font files, no network), so it opens offline, mails
as an attachment and prints (each figure kept on one page). It is rendered from the
Jinja2 template ``page.html.j2`` beside this module, written to a temporary name and
renamed into place; with a figures folder, each figure is also written there as PNG
and PDF for a paper.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from analysis.reporting import numbers
from analysis.reporting.families import FAMILIES
from analysis.reporting.figure import Figure
from analysis.reporting.results import Results

TEMPLATE = "page.html.j2"
DEVICE_COLUMNS = ("utilisation", "served", "energy_busy", "energy_idle", "energy")
SOURCE_COLUMNS = ("throughput", "latency_mean", "latency_p95", "success_ratio", "deadline_miss")


@dataclass
class Report:
    """What was written: the page, the figures' names and files, and how long it took."""

    page: Path
    figures: list[str]
    files: list[Path] = field(default_factory=list)
    seconds: float = 0.0

    def __repr__(self) -> str:
        return f"Report({self.page}, {len(self.figures)} figures, {self.seconds:.2f} s)"


def draw(results: Results) -> list[Figure]:
    """Every figure the results allow, in the families' order."""
    return [f for family in FAMILIES for f in family(results)]


def build(results: Results, out: Path, figures: Path | None = None) -> Report:
    """Draw the figures and write the page to ``out`` (and PNG/PDF into ``figures``)."""
    from analysis.tables import atomic

    clock = time.perf_counter()
    drawn = draw(results)
    files: list[Path] = []
    if figures is not None:
        figures.mkdir(parents=True, exist_ok=True)
        for f in drawn:
            files += f.save(figures)
    html = render(results, drawn)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic(out) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return Report(out, [f.name for f in drawn], files, time.perf_counter() - clock)


def render(results: Results, drawn: list[Figure]) -> str:
    """The page's HTML for ``results`` with the ``drawn`` figures."""
    from jinja2 import Environment, StrictUndefined
    from markupsafe import Markup

    text = resources.files("analysis.reporting").joinpath(TEMPLATE).read_text(encoding="utf-8")
    env = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True,
                      lstrip_blocks=True)  # fmt: skip
    env.filters["number"] = numbers.number
    return env.from_string(text).render(
        r=results,
        generated=datetime.now(UTC).isoformat(timespec="seconds"),
        parameters=parameters(results),
        figures=[
            {"name": f.name, "title": f.title, "caption": f.caption, "svg": Markup(f.svg())}
            for f in drawn
        ],
        **tables(results),
    )


def tables(results: Results) -> dict[str, Any]:
    """The page's tables, empty where the results have no such section."""
    s = results.summary or {}
    return {
        "headline": numbers.headline(s) if s else [],
        "faults": numbers.section(s, "faults"),
        "graphs": numbers.section(s, "graphs"),
        "devices": numbers.per_item(s, "devices", DEVICE_COLUMNS),
        "sources": numbers.per_item(s, "sources", SOURCE_COLUMNS),
        "warnings": s.get("warnings") or [],
        "validation": (results.validation or {}).get("rows", []),
        "comparison": (results.analytic or {}).get("comparison", []),
        "variants": _variants(results),
    }


def parameters(results: Results) -> list[tuple[str, str]]:
    """The run's key parameters, from the summary and the resolved scenario."""
    s, resolved = results.summary or {}, results.resolved or {}
    units = {"seed": "", "replications": "", "horizon": " s", "warmup": " s"}
    out = [(k, f"{s[k]:g}{unit}") for k, unit in units.items() if isinstance(s.get(k), int | float)]
    for section in ("devices", "links", "pipelines", "workload"):
        items = resolved.get(section)
        if isinstance(items, dict | list) and items:
            names = list(items) if isinstance(items, dict) else [
                str(i.get("name") or "–".join(i.get("ends", [])) if isinstance(i, dict) else i)
                for i in items]  # fmt: skip
            out.append((section, ", ".join(str(n) for n in names)))
    if results.sweep is not None:
        out += [(k, str(v)) for k, v in results.sweep.items() if k != "variants"]
    return out


def _variants(results: Results) -> list[tuple[str, str]]:
    """A sweep's factors and their levels."""
    from analysis.reporting.sweeps import level, table

    t = table(results)
    if t is None:
        return []
    return [(f.name, ", ".join(level(v) for v in f.ordered())) for f in t.factors]
