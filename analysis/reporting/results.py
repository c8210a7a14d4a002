"""Reading a results folder once, into plain tables, whatever wrote it.

A report reads only what commands leave on disk (never SimPy objects), so the same
page serves a run, a sweep, a hardware validation and an analytic comparison. Each
kind of folder is a :class:`Kind`, found by the file that marks it
(:data:`KINDS`, first match wins):

- ``validation.json``: ``edgesim hil validate`` (the measured run beside it, the
  prediction in ``predicted/``);
- ``sweep.json``: ``edgesim sweep`` (``variants.parquet``: per variant and metric, the
  mean and its 95 % interval);
- ``summary.json``: ``edgesim run`` (``requests.parquet`` or ``.csv``, ``timeline.csv``
  with failures; ``analytic.json``, the output of ``edgesim analyze --json``, when
  someone put it there);
- a ``.json`` file from ``edgesim analyze --compare --json``.

Anything missing is ``None``, and every figure asks only for what it draws.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

Tree = dict[str, Any]
REQUEST_COLUMNS = ("replication", "source", "priority", "measured", "arrival", "completion",
                   "status", "latency")  # fmt: skip


class ResultsError(Exception):
    """A folder or file that is not something ``edgesim report`` can read."""


@dataclass(frozen=True)
class Requests:
    """The requests table's columns used by the figures, as numpy arrays (one row each)."""

    replication: np.ndarray
    source: np.ndarray
    priority: np.ndarray
    measured: np.ndarray
    arrival: np.ndarray
    completion: np.ndarray
    status: np.ndarray
    latency: np.ndarray
    correct: np.ndarray | None = None  # 1/0 per request of a scored source, NaN otherwise

    def __repr__(self) -> str:
        return f"Requests({len(self.latency)} rows, sources={sorted(set(self.source))})"

    def finished(self) -> np.ndarray:
        """Rows measured (after warm-up) that delivered a result, on time or late."""
        done: np.ndarray = (self.measured == 1) & np.isin(self.status, ["ok", "late"])
        return done


@dataclass(frozen=True)
class Change:
    """One row of ``timeline.csv``: a component's state, or a detector's verdict."""

    replication: int
    time: float
    component: str
    kind: str
    state: str


@dataclass(frozen=True)
class Results:
    """Everything a report can draw from, read from one folder (see the module)."""

    root: Path
    kind: str
    title: str
    description: str = ""
    summary: Tree | None = None
    resolved: Tree | None = None
    resolved_text: str = ""
    requests: Requests | None = None
    timeline: list[Change] | None = None
    analytic: Tree | None = None
    validation: Tree | None = None
    predicted: Tree | None = None
    predicted_requests: Requests | None = None
    sweep: Tree | None = None
    variants: dict[str, np.ndarray] | None = None
    baseline: Results | None = field(default=None)

    def __repr__(self) -> str:
        parts = [n for n in ("summary", "requests", "timeline", "analytic", "validation",
                             "sweep", "baseline") if getattr(self, n) is not None]  # fmt: skip
        return f"Results({self.kind} {self.root}, with {', '.join(parts) or 'nothing'})"


@dataclass(frozen=True)
class Kind:
    """A kind of results folder: the file that marks it, and how to read it."""

    name: str
    marker: str
    read: Callable[[Path], Results]


def read(path: Path, baseline: Path | None = None) -> Results:
    """The results at ``path`` (a folder, or an ``analyze --json`` file), with the run at
    ``baseline`` to compare against; :class:`ResultsError` naming what is missing."""
    if path.is_file() and path.suffix == ".json":
        found = _analysis_file(path)
    elif path.is_dir():
        kind = next((k for k in KINDS if (path / k.marker).is_file()), None)
        if kind is None:
            markers = ", ".join(k.marker for k in KINDS)
            raise ResultsError(f"{path}: not a results folder (expected one of {markers})")
        found = kind.read(path)
    else:
        raise ResultsError(f"{path}: no such folder or .json file")
    if baseline is None:
        return found
    other = read(baseline)
    if other.summary is None:
        raise ResultsError(f"--baseline {baseline}: not a run's results folder (no summary.json)")
    return _with(found, baseline=other)


def _with(results: Results, **changes: Any) -> Results:
    from dataclasses import replace

    return replace(results, **changes)


def _json(path: Path) -> Tree:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ResultsError(f"{path}: cannot be read as JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ResultsError(f"{path}: expected a JSON object")
    return data


def _run(path: Path) -> Results:
    summary = _json(path / "summary.json")
    text = _text(path / "scenario.resolved.yaml")
    resolved = yaml.safe_load(text) if text else None
    resolved = resolved if isinstance(resolved, dict) else None
    analytic = _json(path / "analytic.json") if (path / "analytic.json").is_file() else None
    return Results(
        root=path, kind="run", title=str(summary.get("scenario", path.name)),
        description=str((resolved or {}).get("description", "")), summary=summary,
        resolved=resolved, resolved_text=text, requests=_requests(path),
        timeline=_timeline(path / "timeline.csv"), analytic=analytic,
    )  # fmt: skip


def _validation(path: Path) -> Results:
    measured = _run(path)
    predicted = path / "predicted" / "summary.json"
    return _with(
        measured, kind="validation", validation=_json(path / "validation.json"),
        predicted=_json(predicted) if predicted.is_file() else None,
        predicted_requests=_requests(path / "predicted"),
    )  # fmt: skip


def _sweep(path: Path) -> Results:
    manifest = _json(path / "sweep.json")
    table = path / "variants.parquet"
    variants = _columns(table) if table.is_file() else None
    count = len(manifest.get("variants", {}))
    return Results(
        root=path, kind="sweep", title=path.name, sweep=manifest, variants=variants,
        description=f"{count} variants × {manifest.get('replications')} replications, "
        f"seed {manifest.get('seed')}",
    )  # fmt: skip


def _analysis_file(path: Path) -> Results:
    figures = _json(path)
    if "comparison" not in figures and "latency" not in figures:
        raise ResultsError(f"{path}: not the output of edgesim analyze --json")
    return Results(root=path, kind="analysis", title=str(figures.get("scenario", path.stem)),
                   analytic=figures)  # fmt: skip


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def _columns(path: Path, names: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """A parquet or CSV table's columns as numpy arrays (strings as object arrays)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.ParquetFile(path).read(columns=list(names) if names else None)
    else:
        import pyarrow.csv as pcsv

        table = pcsv.read_csv(path, convert_options=pcsv.ConvertOptions(
            include_columns=list(names) if names else None))  # fmt: skip
    out: dict[str, np.ndarray] = {}
    for name in table.column_names:
        col = table.column(name)
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            col = pc.dictionary_encode(col)
        arr = col.combine_chunks()
        if pa.types.is_dictionary(arr.type):
            labels = np.array([*arr.dictionary.to_pylist(), None], dtype=object)
            index = arr.indices.fill_null(len(labels) - 1).to_numpy(zero_copy_only=False)
            out[name] = labels[index]
        else:
            out[name] = np.asarray(arr.to_numpy(zero_copy_only=False))
    return out


def _requests(path: Path) -> Requests | None:
    file = next((path / f for f in ("requests.parquet", "requests.csv") if (path / f).is_file()),
                None)  # fmt: skip
    if file is None:
        return None
    scored = "correct" in _names(file)
    cols = _columns(file, (*REQUEST_COLUMNS, "correct") if scored else REQUEST_COLUMNS)
    floats = {n: np.asarray(cols[n], dtype=float) for n in ("arrival", "completion", "latency")}
    if scored:  # nulls (sources not scored) as NaN
        floats["correct"] = np.array([np.nan if v is None else float(v) for v in cols["correct"]])
    return Requests(
        replication=np.asarray(cols["replication"], dtype=int),
        source=np.asarray(cols["source"], dtype=object).astype(str),
        priority=np.asarray(cols["priority"], dtype=int),
        measured=np.asarray(cols["measured"], dtype=int),
        status=np.asarray(cols["status"], dtype=object).astype(str), **floats,
    )  # fmt: skip


def _names(path: Path) -> list[str]:
    """A requests file's column names, without reading its rows."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    with path.open(encoding="utf-8") as f:
        return f.readline().strip().split(",")


def _timeline(path: Path) -> list[Change] | None:
    if not path.is_file():
        return None
    with path.open(encoding="utf-8", newline="") as f:
        return [
            Change(int(r["replication"]), float(r["time"]), r["component"], r["kind"], r["state"])
            for r in csv.DictReader(f)
        ]


KINDS = (
    Kind("validation", "validation.json", _validation),
    Kind("sweep", "sweep.json", _sweep),
    Kind("run", "summary.json", _run),
)
