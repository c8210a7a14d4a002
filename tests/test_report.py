"""Outputs a program can read: strict JSON, a summary.json that matches its schema, files
with the user's umask, a shared medium shown once, comparisons in the units of a run."""

from __future__ import annotations

import io
import json
import math
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rich.console import Console

from analysis import report
from analysis.compare import analytic_vs_simulated, inside
from analysis.schema import Summary, schema_text
from analysis.summary import summary
from sim import run
from tests.helpers import ROOT, SCENARIOS, base, crash_recover, load_dict
from tests.test_scenarios import edgesim


def text(tree: dict[str, Any], title: str = "t") -> str:
    console = Console(file=io.StringIO(), width=200)
    report.show(tree, title, console)
    out = console.file.getvalue()
    assert isinstance(out, str)
    return out


def two_cameras() -> dict[str, Any]:
    """Two cameras sending 1 kB results over links that take turns on one Wi-Fi medium."""
    raw = base(horizon="5s", warmup="1s")
    raw["devices"] = {"cam0": {}, "cam1": {}, "srv": {}}
    raw["links"] = [
        {"ends": [c, "srv"], "bandwidth": "1Mbps", "latency": "1ms", "shared": "wifi"}
        for c in ("cam0", "cam1")
    ]
    raw["workload"] = [
        {"name": c, "at": c, "pipeline": "p", "arrivals": {"kind": "periodic", "rate": "20/s"}}
        for c in ("cam0", "cam1")
    ]
    raw["pipelines"]["p"]["stages"][0]["on"] = "srv"
    return raw


def test_jsonable_is_strict_json() -> None:
    """Infinity and NaN become null, numpy numbers plain ones: json.dumps(allow_nan=False)
    accepts the result."""
    value = {"a": math.inf, "b": -math.inf, "c": math.nan, "d": np.float64(1.5), "e": (1, 2)}
    strict = json.loads(json.dumps(report.jsonable(value), allow_nan=False))
    assert strict == {"a": None, "b": None, "c": None, "d": 1.5, "e": [1, 2]}


@pytest.fixture
def umask() -> Iterator[None]:
    old = os.umask(0o027)
    yield
    os.umask(old)


def test_files_are_written_with_the_users_umask(tmp_path: Path, umask: None) -> None:
    """With umask 027 every file of a run is rw-r----- (not the temporary file's rw-------)."""
    raw = base(horizon="5s", warmup="1s")
    raw["devices"]["dev"].update(crash_recover(2, 1))
    reps = run(load_dict(raw))
    report.write(tmp_path, summary(reps), {"name": "tiny"}, reps)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["events.parquet", "requests.parquet", "scenario.resolved.yaml", "summary.json",
                     "timeline.csv"]  # fmt: skip
    for p in tmp_path.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o640, p.name


def test_a_shared_medium_is_one_row_listing_its_links() -> None:
    """Two links on one Wi-Fi medium: one medium entry in summary.json and one table row,
    with both links named; the medium carries what both links carry."""
    tree = summary(run(load_dict(two_cameras())))
    assert list(tree["media"]) == ["wifi"]
    assert tree["media"]["wifi"]["links"] == ["cam0-srv", "cam1-srv"]
    rows = [line for line in text(tree).splitlines() if "wifi" in line]
    assert len(rows) == 1 and "cam0-srv, cam1-srv" in rows[0]
    carried = sum(tree["links"][k]["bytes"]["mean"] for k in ("cam0-srv", "cam1-srv"))
    assert f"{carried * 1e-6:.4g}" in rows[0]


def test_an_unstable_run_prints_no_latency_figure() -> None:
    """The saturated reference: latency rows read "unstable", the title names the bottleneck,
    and the transient mean latency appears nowhere in the table."""
    from sim import load

    s = load(SCENARIOS / "reference" / "saturated.yaml")
    tree = summary(run(s), s)
    out = text(tree)
    assert "UNSTABLE: bottleneck edge" in out
    latency_rows = [line for line in out.splitlines() if line.startswith("│ latency")]
    assert latency_rows and all("unstable" in line for line in latency_rows)
    transient = tree["latency"]["mean"]["transient"]["mean"] * 1e3
    assert f"{transient:.4g}" not in out
    assert "unstable" in out.split("warnings")[-1]


def test_a_degenerate_interval_holds_values_within_a_tenth_of_a_percent() -> None:
    """A zero-width interval (a deterministic figure) holds a value within 0.1 % of its mean."""
    assert inside(0.12, 0.12, [0.12, 0.12])
    assert inside(0.12 * 1.0009, 0.12, [0.12, 0.12])
    assert not inside(0.12 * 1.002, 0.12, [0.12, 0.12])
    assert not inside(0.13, 0.12, [0.11, 0.125])


def test_compare_shows_latency_in_milliseconds() -> None:
    """analyze --compare on the deterministic reference (three replications): latency rows
    in ms, like run, and the exact 120 ms counted inside its zero-width interval."""
    from analysis.analytic import analyze
    from sim import load

    s = load(SCENARIOS / "reference" / "deterministic.yaml").model_copy(update={"replications": 3})
    figures = analyze(s)
    figures["wall_seconds"] = 0.0
    figures["comparison"] = analytic_vs_simulated(figures, summary(run(s), s))
    console = Console(file=io.StringIO(), width=200)
    report.show_analytic(figures, console)
    row = next(line for line in console.file.getvalue().splitlines() if "latency mean" in line)
    assert row.count("120 ms") == 2 and "yes" in row
    mean_row = next(r for r in figures["comparison"] if r["figure"] == "latency mean")
    assert mean_row["unit"] == "s" and mean_row["inside_ci"] is True


def test_a_real_runs_summary_matches_the_schema(tmp_path: Path) -> None:
    """edgesim run with failures writes a summary.json that the summary model accepts
    (no unknown or missing keys), and strict JSON."""
    raw = base(horizon="20s", warmup="1s", replications=2)
    raw["devices"]["dev"].update(crash_recover(3, 1))
    raw["workload"][0]["deadline"] = "50ms"
    scenario = tmp_path / "s.yaml"
    scenario.write_text(json.dumps(raw))
    done = edgesim("run", str(scenario), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    data = json.loads(
        (tmp_path / "out" / "summary.json").read_text(),
        parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}"),
    )
    parsed = Summary.model_validate(data)
    assert parsed.faults is not None and parsed.deadline_miss.mean is not None


def test_an_unstable_summary_matches_the_schema() -> None:
    """A summary with load, warnings and transient latency cells fits the schema too."""
    raw = base(horizon="10s", warmup="1s")
    raw["pipelines"]["p"]["stages"][0]["service"]["value"] = "60ms"
    s = load_dict(raw)
    tree = report.jsonable({"scenario": s.name, **summary(run(s), s)})
    parsed = Summary.model_validate(tree)
    assert parsed.load is not None and not parsed.load.stable
    assert parsed.latency.mean.transient is not None


def test_the_exported_schema_is_current() -> None:
    """docs/summary.schema.json is what the models export (python -m analysis.schema FILE)."""
    assert (ROOT / "docs" / "summary.schema.json").read_text() == schema_text()


def test_requests_csv_lists_each_requests_lost_attempts(tmp_path: Path) -> None:
    """A lossy link: every completed row's latency is its loss-free latency plus
    lost_attempts × the retransmit timeout, so the column carries the engine's count."""
    import csv

    from analysis.tables import write_requests

    lossy = {"ends": ["src", "dev"], "bandwidth": 1e15, "latency": "10ms", "loss": 0.3,
             "retransmit_timeout": "100ms", "max_retransmits": 5}  # fmt: skip
    raw = base(devices={"src": {}, "dev": {}}, links=[lossy], horizon="200s")
    raw["workload"][0].update(at="src", arrivals={"kind": "periodic", "rate": "1/s"})
    (rep,) = run(load_dict(raw), replications=1)
    rows = list(csv.DictReader(write_requests(tmp_path / "r.csv", [rep], "csv").open()))
    done = [r for r in rows if r["status"] == "ok"]
    lost = [int(r["lost_attempts"]) for r in done]
    assert len(done) > 50 and sum(lost) > 10
    loss_free = float(next(r["latency"] for r, n in zip(done, lost, strict=True) if n == 0))
    for r, n in zip(done, lost, strict=True):
        assert float(r["latency"]) == pytest.approx(loss_free + n * 0.100, abs=1e-9)
