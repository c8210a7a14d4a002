"""Sweeps: the format's expansion, every variant validated through the loader, the event
budget, common random numbers across variants, and a failed run kept as a result."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from sim.experiment.campaign import sweep
from sim.experiment.design import DesignError, points
from sim.experiment.plan import Plan, SweepError, Variant, plan, read
from tests.helpers import ROOT, SCENARIOS, base, chain

SWEEPS = sorted((SCENARIOS / "sweeps").glob("*.yaml"))


def edgesim(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sim", *args], capture_output=True, text=True, cwd=cwd, check=False
    )


def test_grid_is_the_product_of_axes_in_file_order() -> None:
    """Two axes of 3 and 2 values give 6 points, the first axis varying slowest."""
    found = points({"a": [1, 2, 3], "b": ["x", "y"]})
    assert [(p["a"], p["b"]) for p in found] == [
        (1, "x"), (1, "y"), (2, "x"), (2, "y"), (3, "x"), (3, "y")
    ]  # fmt: skip


def test_ranges_keep_their_unit_and_include_both_ends() -> None:
    """A step range and a count range, with units, as the scenario would write them."""
    by_step = points({"bw": {"from": "10Mbps", "to": "50Mbps", "step": "10Mbps"}})
    assert [p["bw"] for p in by_step] == ["10Mbps", "20Mbps", "30Mbps", "40Mbps", "50Mbps"]
    by_count = points({"rate": {"from": "5/s", "to": "15/s", "count": 3}})
    assert [p["rate"] for p in by_count] == ["5/s", "10/s", "15/s"]
    whole = points({"slots": {"from": 1, "to": 4, "step": 1}})
    assert [p["slots"] for p in whole] == [1, 2, 3, 4]


def test_zip_groups_vary_together_and_multiply_with_the_grid() -> None:
    """Each zip group is one factor: 2 grid values × 3 zipped rows × 2 zipped rows."""
    found = points(
        {"g": [0, 1], "zip": [{"a": [1, 2, 3], "b": [4, 5, 6]}, {"c": [7, 8], "d": [9, 10]}]}
    )
    assert len(found) == 12
    assert all(p["b"] == p["a"] + 3 and p["d"] == p["c"] + 2 for p in found)


@pytest.mark.parametrize("kind", ["lhs", "sobol"])
def test_designs_fill_their_ranges_reproducibly(kind: str) -> None:
    """A design's samples lie in their ranges and repeat for a seed; a Latin hypercube puts
    exactly one sample in each of its n equal strata of every range."""
    section = {"design": {"kind": kind, "samples": 8, "seed": 3,
                          "ranges": {"x": {"from": "10Mbps", "to": "50Mbps"}, "y": {"from": 0.0, "to": 1.0}}}}  # fmt: skip
    found = points(section)
    assert found == points(section) and len(found) == 8
    x = np.array([float(p["x"].removesuffix("Mbps")) for p in found])
    y = np.array([p["y"] for p in found])
    assert ((x >= 10) & (x <= 50)).all() and ((y >= 0) & (y <= 1)).all()
    if kind == "lhs":
        assert sorted(np.floor((x - 10) / 5).astype(int)) == list(range(8))
        assert sorted(np.floor(y * 8).astype(int)) == list(range(8))
    other = section["design"] | {"seed": 4}
    assert points({"design": other}) != found


def test_design_problems_are_reported_together() -> None:
    """Mixed units, uneven zip groups, a Sobol count that is no power of two: all at once."""
    with pytest.raises(DesignError) as info:
        points({"x": {"from": 1, "to": "3Mbps", "count": 3}, "zip": {"a": [1, 2], "b": [3]},
                "design": {"kind": "sobol", "samples": 6, "ranges": {"z": {"from": 0, "to": 1}}}})  # fmt: skip
    assert [p.path for p in info.value.problems] == ["sweep.x", "sweep.zip", "sweep.design.samples"]


def test_variants_are_validated_by_the_loader_with_every_problem_named() -> None:
    """Wrong paths are named once with the valid keys there; each bad value is named with its
    variant's values; nothing else is reported."""
    section = {
        "devices.nope.slots": [1],
        "links.3.latency": [0],
        "pipelines.p.stages.0.service.mean": ["-5ms", "1ms", "x"],
    }
    with pytest.raises(SweepError) as info:
        plan(chain([0.01, 0.02]), section, file="t.yaml")
    lines = info.value.lines
    assert lines[0] == "t.yaml: devices.nope.slots: no key 'nope' in devices (valid: d0, d1)"
    assert lines[1].startswith("t.yaml: links.3.latency: links has 1 item, 0 to 0")
    assert (
        "variant 0 (" in lines[2]
        and "service.mean=-5ms" in lines[2]
        and "greater than 0" in lines[2]
    )
    assert "variant 2 (" in lines[3] and "expected a duration" in lines[3]
    assert len(lines) == 4


def test_a_field_the_document_omits_can_be_swept() -> None:
    """A key the scenario format knows but the file leaves out (a queue limit) is set."""
    p = plan(base(), {"devices.dev.queue_limit": [1, 5]})
    assert [v.scenario.devices["dev"].queue_limit for v in p.variants] == [1, 5]
    assert [dict(v.params) for v in p.variants] == [
        {"devices.dev.queue_limit": 1},
        {"devices.dev.queue_limit": 5},
    ]


def test_swept_values_are_tabled_as_simulated() -> None:
    """Quantities with units become SI numbers in the table (10Mbps -> 1e7)."""
    p = plan(chain([0.01, 0.02]), {"links.0.bandwidth": ["10Mbps", "2MB/s"]})
    assert [dict(v.params)["links.0.bandwidth"] for v in p.variants] == [1e7, 1.6e7]


def test_set_options_make_the_same_plan_as_a_sweep_file(tmp_path: Path) -> None:
    """`--set` values read as YAML flow items; several make a grid, ranges included."""
    scenario = tmp_path / "s.yaml"
    scenario.write_text(yaml.safe_dump(chain([0.01, 0.02])))
    file = tmp_path / "sweep.yaml"
    file.write_text(yaml.safe_dump({"scenario": "s.yaml", "replications": 2, "sweep": {
        "links.0.bandwidth": ["10Mbps", "20Mbps"], "workload.0.arrivals.rate": {"from": 5, "to": 15, "step": 5}}}))  # fmt: skip
    from_file = read(file)
    sets = [
        "links.0.bandwidth=10Mbps,20Mbps",
        "workload.0.arrivals.rate={from: 5, to: 15, step: 5}",
    ]
    from_cli = read(scenario, sets, replications=2)
    assert [v.id for v in from_cli.variants] == [v.id for v in from_file.variants]
    assert len(from_file.variants) == 6 and from_file.replications == 2


def test_cli_reports_every_variant_problem_and_exits_2(tmp_path: Path) -> None:
    """`edgesim sweep` refuses before running anything: exit 2, no traceback, nothing written."""
    out = tmp_path / "out"
    done = edgesim("sweep", str(SCENARIOS / "quickstart.yaml"), "--out", str(out), "--executor", "inprocess",
                   "--set", "links.0.bandwidth=0Mbps,-1Mbps", "--set", "devices.nx.speed=1")  # fmt: skip
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 3 and "Traceback" not in done.stderr
    assert "devices.nx.speed: no key 'speed' in devices.nx (valid: type, " in lines[0]
    assert (
        "variant 0 (links.0.bandwidth=0Mbps" in lines[1]
        and "variant 1 (links.0.bandwidth=-1Mbps" in lines[2]
    )
    assert not out.exists()


def test_a_sweep_over_the_event_budget_is_refused() -> None:
    """The sum of the variants' estimated events passes the limit: refused, naming the way out."""
    with pytest.raises(SweepError, match=r"over the limit of 1e\+08.*or pass --force"):
        sweep(
            chain([0.001], horizon="2d"),
            {"workload.0.arrivals.rate": [200, 400]},
            executor="inprocess",
        )


CRN_SCENARIO: dict[str, Any] = base(
    horizon="20s",
    model={"layers": [{"name": "a", "op": "conv", "flops": 1e8, "output_bytes": 1000},
                      {"name": "b", "op": "conv", "flops": 2e8, "output_bytes": 100}], "input_bytes": 1000},
    devices={n: {"gflops": 20, "mem_bandwidth": "10GB/s", "service_noise": {"kind": "lognormal", "mean": 1, "cv": 0.3}} for n in ("d0", "d1")},
    links=[{"ends": ["d0", "d1"], "bandwidth": "1Gbps", "latency": "1ms"}],
    pipelines={"p": {"stages": [{"layers": ["a", "a"], "on": "d0"}, {"layers": ["b", "b"], "on": "d1"}]}},
    workload=[{"name": "src", "at": "d0", "pipeline": "p", "arrivals": {"kind": "poisson", "rate": 30}}],
)  # fmt: skip


def test_a_faster_device_never_delays_any_request_in_the_paired_variant(tmp_path: Path) -> None:
    """Common random numbers: the variants see the same arrivals, request by request, and with
    d1 twice as fast every request the slow variant finished is finished, and none later."""
    result = sweep(CRN_SCENARIO, {"devices.d1.gflops": [10, 20]}, replications=2,
                   out=tmp_path / "crn", executor="inprocess", records="all")  # fmt: skip
    slow, fast = (
        [r for r in result.results if dict(r.params)["devices.d1.gflops"] == g] for g in (10, 20)
    )
    for a, b in zip(slow, fast, strict=True):
        ta, tb = (
            pq.read_table(r.files[0]).to_pandas().set_index("id").sort_index() for r in (a, b)
        )
        assert len(ta) > 400 and ta.index.isin(tb.index).all()
        tb = tb.loc[ta.index]
        assert np.array_equal(ta["arrival"], tb["arrival"])
        assert (tb["completion"] <= ta["completion"] + 1e-12).all()
        assert (tb["completion"] < ta["completion"]).mean() > 0.9


def test_a_failed_run_is_a_result_and_the_sweep_goes_on(tmp_path: Path) -> None:
    """A run whose execution raises (an unresolved model) is kept with its error; the others
    finish; the tables hold the good runs; a rerun tries the failed one again."""
    good = plan(chain([0.01], horizon="3s"), {"workload.0.arrivals.rate": [5, 10]}, replications=2)
    broken = good.variants[1].scenario.model_copy(update={"model": "mobilenet_v2"})
    bad = Variant("badbadbadbad", {"model": "unresolved"}, (("model", "unresolved"),), broken)
    mixed = Plan("t.yaml", (good.variants[0], bad), 2, 0)
    result = sweep(mixed, out=tmp_path / "s", executor="inprocess")
    assert [r.ok for r in result.results] == [True, True, False, False]
    assert all("not resolved" in (r.error or "") for r in result.failed)
    table = pq.read_table(tmp_path / "s" / "results.parquet").to_pandas()
    assert set(table["variant"]) == {good.variants[0].id}
    again = sweep(mixed, out=tmp_path / "s", executor="inprocess")
    assert again.skipped == 2 and len(again.failed) == 2


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.name)
def test_every_example_sweep_validates_and_runs_briefly(path: Path, tmp_path: Path) -> None:
    """Each shipped sweep file's variants validate and its first two run a short horizon."""
    p = read(path)
    assert p.variants
    short = [
        v.scenario.model_copy(update={"horizon": v.scenario.warmup + 1.0}) for v in p.variants[:2]
    ]
    brief = Plan(
        p.file,
        tuple(Variant(v.id, v.point, v.params, s) for v, s in zip(p.variants, short, strict=False)),
        1,
        p.seed,
    )
    result = sweep(brief, executor="inprocess")
    assert all(r.ok for r in result.results) and len(result.results) == len(short)


def test_the_tables_read_in_one_line_with_pandas_and_polars(tmp_path: Path) -> None:
    """docs/experiments.md's one-liners: both libraries read the same long table."""
    import pandas
    import polars

    sweep(chain([0.01], horizon="3s"), {"workload.0.arrivals.rate": [5, 10]}, replications=2,
          out=tmp_path / "s", executor="inprocess")  # fmt: skip
    by_pandas = pandas.read_parquet(tmp_path / "s" / "results.parquet")
    by_polars = polars.read_parquet(tmp_path / "s" / "results.parquet")
    assert by_pandas.shape == by_polars.shape and len(by_pandas) > 0
    np.testing.assert_array_equal(by_pandas["value"].to_numpy(), by_polars["value"].to_numpy())
    variants = pandas.read_parquet(tmp_path / "s" / "variants.parquet")
    assert variants["n"].max() == 2  # 0 where a figure is undefined in every replication


def test_a_sweep_too_large_or_varying_a_path_twice_is_refused_before_building() -> None:
    """The grid's size is checked before any variant is built (no memory blow-up), and a
    path in two factors (an axis and a zip group) is named rather than silently overridden."""
    huge = {"links.0.bandwidth": {"from": 1, "to": 1000, "step": 1},
            "workload.0.arrivals.rate": {"from": 1, "to": 1000, "step": 1}}  # fmt: skip
    with pytest.raises(DesignError, match=r"1000 x 1000 = 1000000 variants"):
        points(huge)
    with pytest.raises(DesignError, match=r"sweep\.horizon: is varied twice"):
        points({"horizon": ["1s", "2s"], "zip": {"horizon": ["3s", "4s"]}})
