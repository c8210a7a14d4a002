"""Every shipped scenario validates and runs; the schema and the outputs are as documented."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from sim import load, run
from sim.schema import schema_text
from tests.helpers import ROOT, SCENARIOS, assert_conserved

# sweep files name a scenario and what to vary; tests/test_sweep.py runs them
FILES = sorted(p for p in SCENARIOS.rglob("*.yaml") if not {"sweeps", "catalogs"} & set(p.parts))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SCENARIOS)))
def test_scenario_validates_and_runs_briefly(path: Path) -> None:
    """Each file loads cleanly and simulates a short horizon with completed requests, every
    arrival accounted for."""
    scenario = load(path)
    short = scenario.model_copy(update={"horizon": scenario.warmup + 3.0, "replications": 1})
    (rep,) = run(short)
    assert sum(len(s.ids) for s in rep.sources) > 0
    assert_conserved(short, rep)


def test_schema_file_is_current() -> None:
    """scenarios/scenario.schema.json is what `make schema` would write now."""
    assert (SCENARIOS / "scenario.schema.json").read_text() == schema_text(), "run `make schema`"


def edgesim(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sim", *args], capture_output=True, text=True, cwd=ROOT, check=False
    )


def test_run_writes_outputs_and_same_seed_gives_same_summary(tmp_path: Path) -> None:
    """Two runs with one seed write identical summary.json apart from the run section."""
    summaries = []
    for name in ("a", "b"):
        out = tmp_path / name
        done = edgesim(
            "run",
            str(SCENARIOS / "quickstart.yaml"),
            "--horizon",
            "8s",
            "--replications",
            "2",
            "--out",
            str(out),
        )
        assert done.returncode == 0, done.stderr
        assert {p.name for p in out.iterdir()} == {
            "summary.json",
            "requests.parquet",
            "events.parquet",
            "scenario.resolved.yaml",
        }
        summary = json.loads((out / "summary.json").read_text())
        summary.pop("run")
        summaries.append(summary)
    assert summaries[0] == summaries[1]
    assert summaries[0]["replications"] == 2 and summaries[0]["latency"]["mean"]["ci95"] is not None
    header = pq.read_schema(tmp_path / "a" / "requests.parquet").names
    assert header[:10] == ["replication", "id", "source", "pipeline", "priority", "measured",
                           "arrival", "completion", "status", "latency"]  # fmt: skip


def test_resolved_scenario_runs_again(tmp_path: Path) -> None:
    """scenario.resolved.yaml is itself a valid scenario that reproduces the summary."""
    out1, out2 = tmp_path / "one", tmp_path / "two"
    assert (
        edgesim(
            "run", str(SCENARIOS / "quickstart.yaml"), "--horizon", "8s", "--out", str(out1)
        ).returncode
        == 0
    )
    done = edgesim("run", str(out1 / "scenario.resolved.yaml"), "--out", str(out2))
    assert done.returncode == 0, done.stderr
    first, second = (json.loads((o / "summary.json").read_text()) for o in (out1, out2))
    first.pop("run"), second.pop("run")
    assert first == second


def test_json_flag_prints_summary(tmp_path: Path) -> None:
    """--json prints the summary on stdout as JSON."""
    done = edgesim(
        "run", str(SCENARIOS / "reference" / "deterministic.yaml"), "--json", "--out", str(tmp_path)
    )
    assert json.loads(done.stdout)["latency"]["mean"]["mean"] == pytest.approx(0.12)
