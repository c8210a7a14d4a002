"""The experiment layer's core: run specs, keys, executors, and parallel runs that give
exactly the records of a serial run."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sim.experiment.executors import EXECUTORS, InProcess, Processes, executor
from sim.experiment.runs import RunSpec, execute, variant_id
from sim.loader import from_dict, revised
from sim.run import run
from tests.helpers import SCENARIOS, chain

FAULTY = chain([0.02, 0.03], latency=0.001, horizon="20s", replications=4)
FAULTY["devices"]["d1"] = {
    "failure": {
        "ttf": {"kind": "exponential", "mean": "4s"},
        "ttr": {"kind": "exponential", "mean": "1s"},
    }
}
FAULTY["workload"][0]["arrivals"] = {"kind": "poisson", "rate": "30/s"}


def _same_records(a: list, b: list) -> None:
    assert [r.index for r in a] == [r.index for r in b]
    for x, y in zip(a, b, strict=True):
        for sx, sy in zip(x.sources, y.sources, strict=True):
            np.testing.assert_array_equal(sx.ids, sy.ids)
            np.testing.assert_array_equal(sx.status, sy.status)
            np.testing.assert_array_equal(sx.stamps, sy.stamps)
            np.testing.assert_array_equal(sx.pending, sy.pending)
        assert x.devices == y.devices
        assert x.faults == y.faults


def test_parallel_replications_are_the_serial_ones() -> None:
    s = from_dict(FAULTY)
    serial = run(s)
    parallel = run(s, workers=2)
    _same_records(serial, parallel)
    assert len({float(r.sources[0].stamps[0, -1]) for r in serial}) == 4  # they do differ


def test_run_workers_writes_the_serial_run_files(tmp_path: Path) -> None:
    """The whole command: `--workers 2` and `--workers 1` write the same results."""
    outs = []
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        subprocess.run(
            [sys.executable, "-m", "sim", "run", str(SCENARIOS / "quickstart.yaml"),
             "--replications", "3", "--horizon", "20s", "--workers", str(workers),
             "--out", str(out), "--format", "csv"],
            check=True, capture_output=True, timeout=300,
        )  # fmt: skip
        outs.append(out)
    one, two = (json.loads((o / "summary.json").read_text()) for o in outs)
    one.pop("run"), two.pop("run")
    assert one == two
    assert (outs[0] / "requests.csv").read_bytes() == (outs[1] / "requests.csv").read_bytes()


def test_executors_agree_result_for_result() -> None:
    s = from_dict(FAULTY)
    specs = [RunSpec(s, r, 7) for r in range(3)]
    with InProcess() as here, Processes(2) as pool:
        a = dict(here.map(execute, specs))
        b = dict(pool.map(execute, specs))
    assert sorted(a) == sorted(b) == [0, 1, 2]
    for i in a:
        assert a[i].ok and b[i].ok
        assert a[i].key == b[i].key == specs[i].key
        assert _nan_equal(a[i].metrics, b[i].metrics)
    assert a[0].metrics["throughput"] != a[1].metrics["throughput"]


def _nan_equal(x: dict[str, float], y: dict[str, float]) -> bool:
    return x.keys() == y.keys() and all(
        (math.isnan(x[k]) and math.isnan(y[k])) or x[k] == y[k] for k in x
    )


def test_a_failing_run_is_a_result_not_an_exception() -> None:
    s = from_dict(FAULTY)
    bad = RunSpec(s, -1, 7)  # a replication index no random stream accepts
    result = execute(bad)
    assert not result.ok
    assert result.error is not None and result.error.startswith("ValueError")
    assert result.metrics == {}
    assert execute(RunSpec(s, 0, 7)).ok


def test_keys_name_what_is_simulated() -> None:
    s = from_dict(FAULTY)
    assert variant_id(s) == variant_id(from_dict(FAULTY))
    # the scenario's own seed and replication count do not change what one run simulates
    assert variant_id(revised(s, "x", seed=99, replications=9)) == variant_id(s)
    faster = dict(
        FAULTY, workload=[dict(FAULTY["workload"][0], arrivals={"kind": "poisson", "rate": "31/s"})]
    )
    assert variant_id(from_dict(faster)) != variant_id(s)
    spec = RunSpec(s, 2, 5)
    assert spec.key == f"{variant_id(s)}-s5-r2"
    assert RunSpec(s, 2, 6).key != spec.key


def test_unknown_executor_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="known: " + ", ".join(EXECUTORS)):
        executor("threads")
    with pytest.raises(ValueError, match="no scheduler"):
        executor("processes", 2, "tcp://127.0.0.1:8786")


def test_python_api_runs_a_dict_like_the_command() -> None:
    from sim.experiment import load
    from sim.experiment import run as api_run

    result = api_run(FAULTY, replications=2, workers=2)
    serial = run(load(FAULTY), replications=2)
    _same_records(list(result.replications), serial)
    assert result.summary["throughput"]["mean"] > 0
    table = result.metrics()
    assert set(table.column_names) == {"replication", "metric", "value"}
    assert "throughput" in table.column("metric").to_pylist()


def test_a_run_says_whether_its_latency_has_a_steady_state() -> None:
    """Sweep tables carry the offered load, so an overloaded variant's latency is marked."""
    from sim.loader import load

    calm = execute(RunSpec(load(SCENARIOS / "quickstart.yaml"), 0, 1)).metrics
    hot = execute(RunSpec(load(SCENARIOS / "reference" / "saturated.yaml"), 0, 1)).metrics
    assert (
        calm["load.stable"] == 1.0
        and max(v for k, v in calm.items() if k.startswith("load.offered")) < 1
    )
    assert (
        hot["load.stable"] == 0.0
        and max(v for k, v in hot.items() if k.startswith("load.offered")) > 1
    )


def _dies_on_one(i: int) -> int:
    if i == 1:
        os._exit(3)  # the worker process dies under the item, as when killed or out of memory
    return i * 10


def _raises_on_one(i: int) -> int:
    if i == 1:
        raise RuntimeError("boom")
    return i * 10


def test_a_worker_that_dies_gives_its_items_their_fallback() -> None:
    """A run that kills its worker is a failed result, not the end of the sweep: every item
    is yielded exactly once, the one that died with the fallback."""
    with Processes(2) as pool:
        got = dict(pool.map(_dies_on_one, list(range(6)), fallback=lambda i, e: -i))
    assert sorted(got) == list(range(6))
    assert got[1] == -1
    assert all(v in (i * 10, -i) for i, v in got.items())
    with InProcess() as here:
        assert dict(here.map(_raises_on_one, [0, 1, 2], fallback=lambda i, e: -1)) == {
            0: 0,
            1: -1,
            2: 20,
        }
        with pytest.raises(RuntimeError):
            dict(here.map(_raises_on_one, [0, 1, 2]))


def test_lost_runs_are_failed_results_with_their_key() -> None:
    from sim.experiment.runs import lost

    spec = RunSpec(from_dict(FAULTY), 3, 9)
    result = lost(spec, OSError("killed"))
    assert not result.ok and result.key == spec.key and "worker died" in (result.error or "")
    other = RunSpec(from_dict(FAULTY), 3, 9, records="all", out="/tmp/elsewhere")
    assert other.key == spec.key and other.task != spec.task
