"""Resuming a sweep: `edgesim sweep` killed (SIGKILL, or Ctrl-C) after some runs finished,
then rerun, loses and repeats nothing and gives the uninterrupted sweep's table."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.helpers import ROOT, chain

RUNS = 24
PATIENCE = 300.0  # seconds: generous, for a busy two-core machine


def _files(tmp_path: Path) -> Path:
    """A scenario and a sweep file of 12 variants × 2 replications, each run a few tenths
    of a second."""
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(chain([0.002, 0.003], horizon="20s")))
    sweep = {"scenario": "s.yaml", "replications": 2,
             "sweep": {"workload.0.arrivals.rate": {"from": 50, "to": 160, "step": 10}}}  # fmt: skip
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(sweep))
    return tmp_path / "sweep.yaml"


def _command(file: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "sim", "sweep", str(file), "--out", str(out),
            "--executor", "inprocess", *extra]  # fmt: skip


def _run(file: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_command(file, out, *extra), capture_output=True, text=True, cwd=ROOT,
                          check=False, timeout=PATIENCE)  # fmt: skip


def _interrupt(file: Path, out: Path, sig: signal.Signals, after: int) -> int:
    """Start the sweep, send ``sig`` once ``after`` result files exist; its exit status."""
    proc = subprocess.Popen(_command(file, out), cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + PATIENCE
        while len(list((out / "runs").glob("*.json"))) < after and proc.poll() is None:
            assert time.monotonic() < deadline, "no runs finished in time"
            time.sleep(0.05)
        proc.send_signal(sig)
        return proc.wait(timeout=PATIENCE)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _table(out: Path) -> pd.DataFrame:
    table = pd.read_parquet(out / "results.parquet")
    return table.sort_values(["run", "metric"]).reset_index(drop=True)


def _stamps(out: Path) -> dict[str, tuple[int, int]]:
    return {p.stem: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (out / "runs").glob("*.json")}


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_an_interrupted_sweep_resumes_without_losing_or_repeating_a_run(
    tmp_path: Path, sig: signal.Signals
) -> None:
    """Interrupted after 4 results: the rerun runs only the missing ones (the finished
    runs' files untouched), and the table equals an uninterrupted sweep's, row for row."""
    file = _files(tmp_path)
    whole = _run(file, tmp_path / "whole")
    assert whole.returncode == 0, whole.stderr
    out = tmp_path / "cut"
    code = _interrupt(file, out, sig, after=4)
    assert code == (-signal.SIGKILL if sig == signal.SIGKILL else 130)
    before = _stamps(out)
    assert 4 <= len(before) < RUNS, "the sweep finished before it was interrupted"
    again = _run(file, out)
    assert again.returncode == 0, again.stderr
    assert f"{RUNS} runs ({len(before)} done before)" in again.stdout
    after = _stamps(out)
    assert len(after) == RUNS and {k: after[k] for k in before} == before
    assert not list((out / "runs").glob(".*"))  # no temporary file left behind
    pd.testing.assert_frame_equal(_table(out), _table(tmp_path / "whole"))
    assert not _table(out).duplicated(["run", "metric"]).any()


def test_a_different_sweep_into_the_same_folder_is_refused_unless_forced(tmp_path: Path) -> None:
    """More replications of the same sweep run only the new ones; another sweep's folder
    (another seed) is refused, exit 2 naming --force; with --force it is replaced."""
    file = _files(tmp_path)
    out = tmp_path / "out"
    assert _run(file, out, "--replications", "1").returncode == 0
    first = _stamps(out)
    more = _run(file, out)  # the file's 2 replications: the second is added
    assert more.returncode == 0, more.stderr
    assert f"{RUNS} runs ({RUNS // 2} done before)" in more.stdout
    assert {k: v for k, v in _stamps(out).items() if k in first} == first
    refused = _run(file, out, "--seed", "99")
    assert refused.returncode == 2 and "holds a different sweep" in refused.stderr
    assert "Traceback" not in refused.stderr
    forced = _run(file, out, "--seed", "99", "--force")
    assert forced.returncode == 0, forced.stderr
    assert len(list((out / "runs").glob("*.json"))) == RUNS
    assert _table(out)["replication"].nunique() == 2
    assert set(_table(out)["seed"]) == {99}
