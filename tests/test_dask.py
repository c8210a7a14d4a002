"""The Dask executor: a local cluster gives a serial sweep's results, and a real cluster on
loopback loses a worker mid-sweep without losing or repeating a run."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from sim.experiment.campaign import sweep
from sim.experiment.plan import Plan, plan
from sim.experiment.runs import RunResult
from tests.helpers import ROOT, chain

DASK = str(Path(sys.executable).with_name("dask"))
PATIENCE = 180.0  # seconds: generous, for a busy two-core machine


def _plan(variants: int, horizon: str = "5s") -> Plan:
    rates = list(range(20, 20 + 10 * variants, 10))
    return plan(chain([0.002, 0.003], horizon=horizon), {"workload.0.arrivals.rate": rates},
                replications=2)  # fmt: skip


def _same(a: dict[str, float], b: dict[str, float]) -> bool:
    return a.keys() == b.keys() and all(
        (math.isnan(x) and math.isnan(b[k])) or x == b[k] for k, x in a.items()
    )


def _by_key(results: tuple[RunResult, ...]) -> dict[str, dict[str, float]]:
    return {r.key: r.metrics for r in results}


def test_local_cluster_gives_the_serial_results() -> None:
    """The default executor (a LocalCluster of two single-threaded workers) returns, run for
    run, the metrics of the in-process executor."""
    p = _plan(3, horizon="2s")
    serial = _by_key(sweep(p, executor="inprocess").results)
    local = sweep(p, executor="dask", workers=2).results
    assert [r.ok for r in local] == [True] * 6
    assert all(_same(serial[r.key], r.metrics) for r in local)


def _spawn(*args: str) -> subprocess.Popen[bytes]:
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    return subprocess.Popen([DASK, *args], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[str, list[subprocess.Popen[bytes]]]]:
    """A `dask scheduler` and two `dask worker` processes (no nanny, one thread) on loopback."""
    info = tmp_path / "scheduler.json"
    procs = [_spawn("scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                    "--scheduler-file", str(info))]  # fmt: skip
    try:
        deadline = time.monotonic() + PATIENCE
        while not info.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        address = json.loads(info.read_text())["address"]
        workers = [_spawn("worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard",
                          "--name", f"w{i}") for i in range(2)]  # fmt: skip
        procs += workers
        from distributed import Client

        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=PATIENCE)
        yield address, workers
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)


@pytest.mark.slow
def test_killing_a_worker_mid_sweep_loses_and_repeats_nothing(
    cluster: tuple[str, list[subprocess.Popen[bytes]]], tmp_path: Path
) -> None:
    """40 runs on a two-worker cluster; one worker is SIGKILLed after the first 8 results.
    Every run arrives exactly once, one result file each, with the serial sweep's metrics."""
    address, workers = cluster
    p = _plan(20)
    arrivals: Counter[str] = Counter()

    def on_result(result: RunResult, done: int, total: int) -> None:
        arrivals[result.key] += 1
        if done == 8:
            os.kill(workers[0].pid, signal.SIGKILL)

    out = tmp_path / "sweep"
    result = sweep(p, out=out, executor="dask", scheduler=address, on_result=on_result)
    assert workers[0].wait(timeout=PATIENCE) == -signal.SIGKILL
    assert p.runs == 40 and len(result.results) == 40 and all(r.ok for r in result.results)
    assert set(arrivals.values()) == {1} and len(arrivals) == 40
    assert sorted(f.stem for f in (out / "runs").glob("*.json")) == sorted(arrivals)
    serial = _by_key(sweep(p, executor="inprocess").results)
    assert all(_same(serial[r.key], r.metrics) for r in result.results)
