"""The sweep directory: one result file per finished run, resumable, and tidy tables.

Layout of ``DIR``::

    sweep.json            what this sweep is (variants, seed, replications, records)
    runs/KEY.json         one finished run: its metrics, or its error
    records/KEY/          a run's request file (``--records all``)
    results.parquet       the long table: run, variant, each swept path, replication,
                          seed, metric, value
    variants.parquet      per variant and metric: mean, ci95_low, ci95_high, n
    runs.parquet          per run: ok, error, wall and CPU seconds

A result file is written by the client when the run's result arrives, to a temporary
name and renamed into place, so it is there whole or not at all, once per key. A rerun
of the same sweep skips every key with a successful result file and runs the rest
again (failed runs too); a different sweep into the same folder is refused unless
``force``. The tables are rebuilt from the result files at the end of every run of the
sweep, so an interrupted sweep's tables appear when it is resumed.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from sim.experiment.runs import RunResult

MANIFEST = "sweep.json"
TABLES = ("results", "variants", "runs")


class StoreError(Exception):
    """A folder that cannot hold this sweep (it names the folder and what to do)."""


def _same_sweep(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """The same sweep, perhaps with another replication count: runs are keyed by their
    replication index, so more replications add runs and fewer leave some unused."""
    ignored = ("replications",)
    return {k: v for k, v in old.items() if k not in ignored} == {
        k: v for k, v in new.items() if k not in ignored
    }


class Store:
    """The results of one sweep in a folder (see the module docstring)."""

    def __init__(self, root: Path, manifest: dict[str, Any], force: bool = False) -> None:
        self.root = root.resolve()
        self.runs = self.root / "runs"
        self._open(manifest, force)

    def _open(self, manifest: dict[str, Any], force: bool) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(f"--out: {self.root} is a file, not a folder")
        mine = self.root / MANIFEST
        if self.root.is_dir() and any(self.root.iterdir()) and not mine.exists():
            raise StoreError(f"--out: {self.root} holds files that are not a sweep's; "
                             "choose another folder")  # fmt: skip
        if mine.exists() and not _same_sweep(_read(mine), manifest):
            if not force:
                raise StoreError(f"--out: {self.root} holds a different sweep; choose another "
                                 "folder, or pass --force to replace its results")  # fmt: skip
            for part in ("runs", "records"):
                shutil.rmtree(self.root / part, ignore_errors=True)
        try:
            self.runs.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"--out: cannot write in {self.root} ({exc.strerror})") from None
        atomic(mine, json.dumps(manifest, indent=2, sort_keys=True))
        for stale in self.runs.glob(".*.tmp"):  # left by a client killed mid-write
            stale.unlink(missing_ok=True)

    def records(self, key: str) -> str:
        """The folder for run ``key``'s record files."""
        return str(self.root / "records" / key)

    def done(self) -> dict[str, RunResult]:
        """Every run with a result file, by key."""
        found = (from_json(_read(p)) for p in self.runs.glob("*.json"))
        return {r.key: r for r in found}

    def save(self, result: RunResult) -> None:
        """Write ``result``'s file (whole, or not at all)."""
        atomic(self.runs / f"{result.key}.json", json.dumps(to_json(result), allow_nan=False))

    def write_tables(self, results: Sequence[RunResult], fmt: str = "parquet") -> list[Path]:
        """Write the three tables of ``results``; return their paths."""
        out = []
        for name, table in zip(TABLES, tables(results), strict=True):
            path = self.root / f"{name}.{fmt}"
            _write_table(path, table, fmt)
            out.append(path)
        return out

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r}, {sum(1 for _ in self.runs.glob('*.json'))} runs)"


def atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file renamed into place."""
    tmp = path.parent / f".{path.name}.{os.getpid()}.tmp"
    with tmp.open("w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def to_json(r: RunResult) -> dict[str, Any]:
    """A result as JSON (NaN metrics as null)."""
    return {
        "key": r.key, "variant": r.variant, "params": [list(p) for p in r.params],
        "replication": r.replication, "seed": r.seed, "error": r.error,
        "metrics": {k: None if math.isnan(v) else v for k, v in r.metrics.items()},
        "files": list(r.files), "wall": r.wall, "cpu": r.cpu,
    }  # fmt: skip


def from_json(d: dict[str, Any]) -> RunResult:
    """The result a :func:`to_json` document holds."""
    return RunResult(
        key=d["key"], variant=d["variant"], params=tuple((p, v) for p, v in d["params"]),
        replication=d["replication"], seed=d["seed"], error=d["error"],
        metrics={k: math.nan if v is None else float(v) for k, v in d["metrics"].items()},
        files=tuple(d["files"]), wall=d["wall"], cpu=d["cpu"],
    )  # fmt: skip


def tables(results: Sequence[RunResult]) -> tuple[Any, Any, Any]:
    """The long results table, the per-variant summary and the per-run table (pyarrow)."""
    import pyarrow as pa

    params = _param_columns(results)
    ok = [r for r in results if r.ok]
    names = ["run", "variant", *params, "replication", "seed", "metric", "value"]
    long: dict[str, list[Any]] = {name: [] for name in names}
    for r in ok:
        values = _params(r, params)
        for metric, value in r.metrics.items():
            row = [r.key, r.variant, *values, r.replication, r.seed, metric, value]
            for column, cell in zip(long, row, strict=True):
                long[column].append(cell)
    return (
        pa.table(long, schema=_schema(long, params)),
        pa.table(_summary(ok, params), schema=None),
        pa.table(_runs(results, params)),
    )


def _param_columns(results: Iterable[RunResult]) -> dict[str, bool]:
    """Each swept path, and whether its column is numeric (else text)."""
    columns: dict[str, bool] = {}
    for r in results:
        for path, value in r.params:
            number = isinstance(value, int | float) and not isinstance(value, bool)
            columns[path] = columns.get(path, True) and number
    return columns


def _params(r: RunResult, columns: dict[str, bool]) -> list[Any]:
    given = dict(r.params)
    return [_cell(given.get(p), numeric) for p, numeric in columns.items()]


def _cell(value: Any, numeric: bool) -> Any:
    if value is None or numeric:
        return value
    return value if isinstance(value, str) else json.dumps(value)


def _schema(long: dict[str, list[Any]], params: dict[str, bool]) -> Any:
    import pyarrow as pa

    fixed = {"run": pa.string(), "variant": pa.string(), "replication": pa.int64(),
             "seed": pa.int64(), "metric": pa.string(), "value": pa.float64()}  # fmt: skip
    kinds = {p: pa.float64() if numeric else pa.string() for p, numeric in params.items()}
    return pa.schema([(name, fixed.get(name) or kinds[name]) for name in long])


def _summary(ok: Sequence[RunResult], params: dict[str, bool]) -> dict[str, list[Any]]:
    from analysis.stats import interval  # the CLI's composition root allows it; lazily here

    groups: dict[str, list[RunResult]] = {}
    for r in ok:
        groups.setdefault(r.variant, []).append(r)
    out: dict[str, list[Any]] = {"variant": [], **{p: [] for p in params}, "metric": [],
                                 "mean": [], "ci95_low": [], "ci95_high": [], "n": []}  # fmt: skip
    for variant, runs in groups.items():
        values = _params(runs[0], params)
        for metric in runs[0].metrics:
            est = interval([r.metrics.get(metric, math.nan) for r in runs])
            row = [variant, *values, metric, est.mean, est.low, est.high, est.n]
            for column, cell in zip(out, row, strict=True):
                out[column].append(cell)
    return out


def _runs(results: Sequence[RunResult], params: dict[str, bool]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {"run": [], "variant": [], **{p: [] for p in params},
                                 "replication": [], "seed": [], "ok": [], "error": [],
                                 "wall": [], "cpu": []}  # fmt: skip
    for r in results:
        error = None if r.error is None else r.error.splitlines()[0]
        row = [r.key, r.variant, *_params(r, params), r.replication, r.seed, r.ok, error,
               r.wall, r.cpu]  # fmt: skip
        for column, cell in zip(out, row, strict=True):
            out[column].append(cell)
    return out


def _write_table(path: Path, table: Any, fmt: str) -> None:
    tmp = path.parent / f".{path.name}.{os.getpid()}.tmp"
    if fmt == "csv":
        from pyarrow import csv

        csv.write_csv(table, tmp)
    else:
        import pyarrow.parquet as pq

        pq.write_table(table, tmp)
    os.replace(tmp, path)


def _read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))
