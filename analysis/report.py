"""Presenting results: the summary table, and the files a run leaves in its output folder.

A run's folder holds ``summary.json`` (the figures, with the seed and the
resolved scenario's name, and a ``run`` section with the only non-reproducible
values: when it ran and for how long), ``requests.parquet`` or ``requests.csv``
(one row per finished request of every replication, :mod:`analysis.tables`) with
``events.parquet`` or ``events.csv`` beside it (every event, :mod:`analysis.events`), and
``scenario.resolved.yaml`` (the scenario as
simulated, catalog figures merged in, so a run can be repeated exactly).
Every file is written to a temporary name and renamed into place: an
interrupted run leaves complete files or none.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from rich.console import Console
from rich.table import Table

from analysis.summary import Tree
from sim.records import Replication

DISPLAY = {"s": ("ms", 1e3), "1/s": ("/s", 1.0), "J": ("J", 1.0), "": ("", 1.0)}  # SI -> shown


def table(summary: Tree, title: str) -> list[Table]:
    """Rich tables of the headline figures, devices, media, sources and warnings."""
    load = summary.get("load")
    if load is not None and not load["stable"]:
        title += f" (UNSTABLE: bottleneck {load['bottleneck']})"
    tables = [_main_table(summary, title), _devices_table(summary["devices"])]
    if summary["media"]:
        tables.append(_media_table(summary["media"], summary["links"]))
    tables.append(_sources_table(summary["sources"]))
    if "faults" in summary:
        tables.append(_faults_table(summary["faults"]))
    if "accuracy" in summary:
        tables.append(_accuracy_table(summary["accuracy"]))
    if "overhead" in summary:
        tables.append(_overhead_table(summary["overhead"]))
    if summary.get("warnings"):
        tables.append(_warnings_table(summary["warnings"]))
    return tables


def _main_table(summary: Tree, title: str) -> Table:
    main = Table(title=title, title_justify="left")
    main.add_column("metric")
    main.add_column("mean", justify="right")
    main.add_column("95% interval", justify="right")
    for key, label, unit in (
        ("throughput", "throughput", "/s"),
        ("success_ratio", "success ratio", ""),
        ("deadline_miss", "deadline miss", ""),
        ("energy_per_inference", "energy per inference", "J"),
    ):
        main.add_row(label, *_cells(summary[key], unit))
    for key, cell in summary["latency"].items():
        main.add_row(f"latency {key}", *_cells(cell, "ms", 1e3))
    req = summary["requests"]
    kinds = ("ok", "late", "failed", "dropped", "in_flight")
    main.add_row(
        "requests ok / late / failed / dropped / in flight",
        " / ".join(_fmt(req[k]["mean"], "") for k in kinds),
        "",
    )
    return main


def _devices_table(devices: Tree) -> Table:
    t = Table(title="devices", title_justify="left")
    for col in ("device", "utilisation", "served", "energy J"):
        t.add_column(col, justify="left" if col == "device" else "right")
    for name, d in devices.items():
        t.add_row(
            name,
            _fmt(d["utilisation"]["mean"], ""),
            _fmt(d["served"]["mean"], ""),
            _fmt(d["energy"]["mean"], ""),
        )
    return t


def _media_table(media: Tree, links: Tree) -> Table:
    """One row per medium: a shared channel once, with the links that take turns on it."""
    t = Table(title="links", title_justify="left")
    for col in ("medium", "links", "utilisation", "MB carried"):
        t.add_column(col, justify="right" if col in ("utilisation", "MB carried") else "left")
    for name, m in media.items():
        carried = [links[k]["bytes"]["mean"] for k in m["links"]]
        total = None if None in carried else sum(carried)
        t.add_row(
            name, ", ".join(m["links"]), _fmt(m["utilisation"]["mean"], ""), _fmt(total, "", 1e-6)
        )
    return t


def _sources_table(sources: Tree) -> Table:
    t = Table(title="sources", title_justify="left")
    for col in ("source", "throughput /s", "latency mean ms", "p95 ms", "deadline miss"):
        t.add_column(col, justify="left" if col == "source" else "right")
    for name, src in sources.items():
        t.add_row(
            name,
            _fmt(src["throughput"]["mean"], ""),
            _cells(src["latency_mean"], "", 1e3)[0],
            _cells(src["latency_p95"], "", 1e3)[0],
            _fmt(src["deadline_miss"]["mean"], ""),
        )
    return t


def _accuracy_table(acc: Tree) -> Table:
    """Correct answers over answered and over finished requests, overall and around failures."""
    t = Table(title="accuracy (trained model, test samples)", title_justify="left")
    for col in ("requests", "over answered", "95% interval", "over all", "95% interval "):
        t.add_column(col, justify="left" if col == "requests" else "right")
    for label, cells in (("all", acc), ("during failures", acc["inside"]),
                         ("outside failures", acc["outside"])):  # fmt: skip
        t.add_row(label, *_cells(cells["answered"], ""), *_cells(cells["all"], ""))
    return t


def _warnings_table(warnings: Sequence[Tree]) -> Table:
    t = Table(title="warnings", title_justify="left", title_style="bold yellow")
    t.add_column("warning")
    t.add_column("detail")
    for w in warnings:
        t.add_row(w["code"], w["message"])
    return t


def _overhead_table(o: Tree) -> Table:
    t = Table(title="fault-tolerance overhead when nothing fails", title_justify="left")
    for col in ("figure", "with policy", "without", "difference", "relative"):
        t.add_column(col, justify="left" if col == "figure" else "right")
    scale = {"latency_mean": 1e3, "latency_p95": 1e3}
    for name, f in o.items():
        k = scale.get(name, 1.0)
        rel = f["relative"]
        rel = "-" if rel is None or math.isnan(rel) else f"{rel * 100:+.2f} %"
        label = name.replace("_", " ") + (" ms" if k != 1.0 else "")
        t.add_row(
            label,
            _fmt(f["with_policy"], "", k),
            _fmt(f["without"], "", k),
            _fmt(f["difference"], "", k),
            rel,
        )
    return t


def _faults_table(f: Tree) -> Table:
    t = Table(title="failures", title_justify="left")
    t.add_column("metric")
    t.add_column("mean", justify="right")
    t.add_column("95% interval", justify="right")
    t.add_row("service availability", *_cells(f["availability"], ""))
    t.add_row("failures in window", *_cells(f["failures"], ""))
    t.add_row("failovers", *_cells(f["failovers"], ""))
    t.add_row("repartitions", *_cells(f["repartitions"], ""))
    t.add_row("detection delay", *_cells(f["detection_delay"]["mean"], "ms", 1e3))
    t.add_row("detection delay max", *_cells(f["detection_delay"]["max"], "ms", 1e3))
    t.add_row("time to recover", *_cells(f["time_to_recover"], "ms", 1e3))
    t.add_row("latency during failures", *_cells(f["latency_inside"], "ms", 1e3))
    t.add_row("latency otherwise", *_cells(f["latency_outside"], "ms", 1e3))
    t.add_row("deadline miss during failures", *_cells(f["deadline_miss_inside"], ""))
    t.add_row("deadline miss otherwise", *_cells(f["deadline_miss_outside"], ""))
    t.add_row("misses caused by failures", *_cells(f["misses_due_to_failures"], ""))
    return t


def show(summary: Tree, title: str, console: Console | None = None) -> None:
    console = console or Console()
    for t in table(summary, title):
        console.print(t)


def _cells(cell: dict[str, Any], unit: str, scale: float = 1.0) -> tuple[str, str]:
    """Mean and interval; "unstable" for a figure withheld because a station is overloaded."""
    if "transient" in cell:
        return "unstable", ""
    ci = cell["ci95"]
    band = "" if ci is None else f"[{_fmt(ci[0], '', scale)}, {_fmt(ci[1], '', scale)}]"
    return _fmt(cell["mean"], unit, scale), band


def _fmt(value: float | str | None, unit: str, scale: float = 1.0) -> str:
    """A number to four significant figures with its unit; "-" for none; a word as it is."""
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    v = value * scale
    text = f"{v:.0f}" if 1e4 <= abs(v) < 1e15 else f"{v:.4g}"  # counts whole, not 1.9e+04
    return f"{text} {unit}".strip()


def show_analytic(figures: Tree, console: Console | None = None) -> None:
    """The analytic figures, each with its method; with ``comparison``, side by side."""
    console = console or Console()
    if "comparison" in figures:
        t = Table(title=f"{figures['scenario']}: analytic vs simulated", title_justify="left")
        for col in ("figure", "analytic", "simulated", "95% interval", "rel. diff", "inside"):
            t.add_column(col, justify="left" if col == "figure" else "right")
        for row in figures["comparison"]:
            ci = row["ci95"]
            rel = row["relative_difference"]
            unit, scale = DISPLAY[row["unit"]]
            t.add_row(
                row["figure"],
                _fmt(row["analytic"], unit, scale),
                _fmt(row["simulated"], unit, scale),
                "" if ci is None else f"[{_fmt(ci[0], '', scale)}, {_fmt(ci[1], '', scale)}]",
                "-" if rel is None else f"{rel * 100:+.1f} %",
                {True: "yes", False: "no", None: "-"}[row["inside_ci"]],
            )
        console.print(t)
        console.print("methods: edgesim analyze FILE (without --compare) or --json")
        return
    t = Table(title=f"{figures['scenario']}: analytic ({figures['states']} states, "
              f"{figures['wall_seconds'] * 1e3:.1f} ms)", title_justify="left")  # fmt: skip
    for col in ("figure", "value", "method"):
        t.add_column(col, justify="right" if col == "value" else "left")
    for key, unit in (
        ("availability", ""), ("success_ratio", ""), ("dropped", ""), ("transfer_failed", ""),
        ("throughput", "/s"), ("energy_per_inference", "J"),
    ):  # fmt: skip
        t.add_row(key.replace("_", " "), _fmt(figures[key]["value"], unit), figures[key]["method"])
    for key, fig in figures["latency"].items():
        t.add_row(f"latency {key}", _fmt(fig["value"], "ms", 1e3), fig["method"])
    for name, fig in figures["utilisation"].items():
        t.add_row(f"utilisation {name}", _fmt(fig["value"], ""), fig["method"])
    for name, fig in figures["components"].items():
        t.add_row(f"availability {name}", _fmt(fig["value"], ""), fig["method"])
    console.print(t)
    for effect in figures.get("neglected", ()):
        console.print(f"neglected: {effect}")


def show_plan(options: Sequence[Any], best: Any, objective: str, name: str) -> None:
    """The split options, best marked."""
    t = Table(title=f"{name}: split options (best by {objective} marked *)", title_justify="left")
    for col in ("", "cut after", "latency ms", "p95 ms", "endpoint ms", "endpoint J", "kB sent"):
        t.add_column(col, justify="left" if col in ("", "cut after") else "right")
    for o in options:
        t.add_row(
            "*" if o is best else "",
            " | ".join(o.cuts),
            _fmt(o.latency, "", 1e3),
            _fmt(o.p95, "", 1e3),
            _fmt(o.endpoint_seconds, "", 1e3),
            _fmt(o.endpoint_energy, ""),
            _fmt(o.bytes_sent, "", 1e-3),
        )
    Console().print(t)


def show_placement(plans: Sequence[Any], objective: str, name: str) -> None:
    """Placement candidates, best first (marked *)."""
    t = Table(title=f"{name}: placements (best by {objective} marked *)", title_justify="left")
    cols = ("", "parts", "unloaded ms", "latency ms", "p95 ms", "endpoint ms", "endpoint J",
            "kB sent")  # fmt: skip
    for col in cols:
        t.add_column(col, justify="left" if col in ("", "parts") else "right")
    for i, p in enumerate(plans):
        t.add_row(
            "*" if i == 0 else "",
            p.label.replace(" | ", "\n"),
            _fmt(p.unloaded, "", 1e3),
            _fmt(p.latency, "", 1e3),
            _fmt(p.p95, "", 1e3),
            _fmt(p.endpoint_seconds, "", 1e3),
            _fmt(p.endpoint_energy, ""),
            _fmt(p.bytes_sent, "", 1e-3),
        )
    Console().print(t)


def show_validation(result: Tree) -> None:
    """Predicted against measured, per metric, with the tolerance verdict."""
    t = Table(title=f"{result['scenario']}: prediction vs hardware", title_justify="left")
    for col in ("metric", "predicted", "measured", "error", "tolerance", "within"):
        t.add_column(col, justify="left" if col == "metric" else "right")
    for row in result["rows"]:
        scale = 1.0 if row["metric"] == "throughput" else 1e3
        unit = "/s" if scale == 1.0 else "ms"
        t.add_row(
            row["metric"],
            _fmt(row["predicted"], unit, scale),
            _fmt(row["measured"], unit, scale),
            f"{row['error'] * 100:+.1f} %",
            _fmt(row["tolerance"], "ms", 1e3)
            if row.get("absolute")
            else f"{row['tolerance'] * 100:.0f} %",
            "yes" if row["within"] else "no",
        )
    Console().print(t)


# -- files -----------------------------------------------------------------


def write(
    out: Path, summary: dict[str, Any], resolved: dict[str, Any], reps: Sequence[Replication],
    requests: bool = True, fmt: str = "parquet",
) -> None:  # fmt: skip
    """Write the run's files into ``out`` (created if missing), each atomically.

    With ``requests``, also every finished request as ``requests.<fmt>``
    (:data:`analysis.tables.WRITERS`: parquet or csv) and every event as ``events.<fmt>``."""
    from analysis.events import write_events
    from analysis.tables import filename, write_requests

    name = filename(fmt)  # an unknown format is refused before anything is written
    out.mkdir(parents=True, exist_ok=True)
    _atomic(out / "summary.json", dumps(summary) + "\n")
    _atomic(out / "scenario.resolved.yaml", yaml.safe_dump(resolved, sort_keys=False))
    if requests:
        write_requests(out / name, reps, fmt)
        write_events(out / f"events.{fmt}", reps, fmt)
    if any(r.faults is not None for r in reps):
        _atomic(out / "timeline.csv", timeline_csv(reps))


def timeline_csv(reps: Sequence[Replication]) -> str:
    """Every change of a component's state, and every detector's verdict, in time order."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(
        ["replication", "time", "component", "kind", "state", "cause", "observer", "delay"]
    )
    for rep in reps:
        if rep.faults is None:
            continue
        rows = [
            (c.time, c.component, c.kind, c.state, c.cause, "", "") for c in rep.faults.timeline
        ] + [
            (d.time, d.device, "detection", d.state, "heartbeat", d.observer, repr(d.delay))
            for d in rep.faults.declarations
        ]
        writer.writerows([rep.index, repr(row[0]), *row[1:]] for row in sorted(rows, key=_time))
    return buf.getvalue()


def _time(row: tuple[Any, ...]) -> float:
    return float(row[0])


def jsonable(value: Any) -> Any:
    """``value`` as strict JSON data: NaN and ±infinity become null (JSON has neither),
    numpy numbers plain ones, tuples lists."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    return value


def dumps(value: Any) -> str:
    """Strict, indented JSON of ``value`` (see :func:`jsonable`)."""
    return json.dumps(jsonable(value), indent=2, allow_nan=False)


def _atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it into place."""
    from analysis.tables import atomic

    with atomic(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
