"""Bad scenarios: one test per class of mistake, each naming the field at fault."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from sim.loader import ScenarioError
from tests.helpers import ROOT, base, load_dict, served_by


def problems(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        load_dict(raw)
    return str(info.value).splitlines()


def test_misspelt_key_is_named() -> None:
    """An unknown key is reported at its dotted path."""
    raw = base()
    raw["horizn"] = "5s"
    assert problems(raw) == ["test.yaml: horizn: unknown key (got '5s')"]


def test_unknown_device_type_lists_the_catalog() -> None:
    """A misspelt catalog type names the valid types."""
    lines = problems(base(devices={"dev": {"type": "jetson-nono"}}))
    assert lines == [
        "test.yaml: devices.dev.type: unknown device type 'jetson-nono' (known: edge-cpu, "
        "edge-gpu-t4, jetson-nano, jetson-orin-nano, jetson-xavier-nx, rpi4, rpi5)"
    ]


def test_negative_rate_is_named() -> None:
    """A negative arrival rate is out of range at workload[0].arrivals.rate."""
    raw = base()
    raw["workload"][0]["arrivals"]["rate"] = "-3/s"
    assert problems(raw) == [
        "test.yaml: workload[0].arrivals.rate: Input should be greater than 0 (got -3.0)"
    ]


def test_stage_on_missing_device_names_known_devices() -> None:
    """A stage placed on an undefined device lists the defined ones."""
    raw = base()
    raw["pipelines"]["p"]["stages"][0]["on"] = "gpu9"
    assert problems(raw) == [
        "test.yaml: pipelines.p.stages[0].on: unknown device 'gpu9' (known: dev)"
    ]


def test_empty_workload_is_an_error() -> None:
    """A scenario with no sources has nothing to simulate."""
    assert "test.yaml: workload: " in problems(base(workload=[]))[0]


def test_unknown_distribution_kind_lists_the_kinds() -> None:
    """A distribution kind outside the set is rejected with the set listed."""
    raw = base()
    raw["pipelines"]["p"]["stages"][0]["service"] = {"kind": "pareto", "shape": 2}
    (line,) = problems(raw)
    assert line.startswith("test.yaml: pipelines.p.stages[0].service: ")
    assert "'exponential'" in line and "'pareto'" in line


def test_bad_unit_names_the_units() -> None:
    """A quantity with an unknown unit says which units are accepted."""
    (line,) = problems(base(horizon="10 fortnights"))
    assert line.startswith("test.yaml: horizon: expected a duration such as '5ms' (units: s,")


def test_every_problem_is_reported_at_once() -> None:
    """Several mistakes give several lines, not just the first."""
    raw = base(horizon=-1, seed="x")
    raw["devices"]["dev"]["slots"] = 0
    assert len(problems(raw)) == 3


def test_model_layers_must_exist_and_cover_the_model() -> None:
    """Stages name real layers and together run every layer once, in order."""
    model = {
        "input_bytes": 10,
        "layers": [
            {"name": n, "op": "conv", "flops": 1e6, "output_bytes": 10} for n in ("a", "b", "c")
        ],
    }
    dev = {"gflops": 1, "mem_bandwidth": "1GB/s"}
    raw = base(model=model, devices={"dev": dev})
    raw["pipelines"]["p"]["stages"] = [{"layers": ["a", "x"], "on": "dev"}]
    assert "unknown layer 'x'" in problems(raw)[0]
    raw["pipelines"]["p"]["stages"] = [{"layers": ["a", "b"], "on": "dev"}]
    assert "'c' onward runs nowhere" in problems(raw)[0]
    raw["pipelines"]["p"]["stages"] = [
        {"layers": ["a", "a"], "on": "dev"},
        {"layers": ["c", "c"], "on": "dev"},
    ]
    assert "must start at layer 'b'" in problems(raw)[0]


def test_partition_too_big_for_device_memory() -> None:
    """Weights plus the largest activation must fit in the device's memory."""
    model = {
        "input_bytes": 1000,
        "layers": [
            {"name": "a", "op": "gemm", "flops": 1, "weight_bytes": "2MB", "output_bytes": 1}
        ],
    }
    raw = base(model=model, devices={"dev": {"type": "rpi4", "memory": "1MB"}})
    raw["pipelines"]["p"]["stages"] = [{"on": "dev"}]
    (line,) = problems(raw)
    assert line.startswith(
        "test.yaml: devices.dev.memory: too small for its stages: they need 2.0 MB"
    )


def test_transfer_without_route_is_an_error() -> None:
    """Two devices with no path between them cannot exchange tensors."""
    raw = base(devices={"dev": {}, "other": {}})
    raw["workload"][0]["at"] = "other"
    assert problems(raw) == [
        "test.yaml: workload[0]: no route from 'other' to 'dev': add a link",
        "test.yaml: workload[0]: no route from 'dev' to 'other': add a link",
    ]


def test_warmup_must_be_shorter_than_horizon() -> None:
    """A warm-up as long as the run leaves nothing to measure."""
    assert problems(base(warmup="20s"))[0].startswith("test.yaml: warmup: must be shorter")


def test_stage_needs_service_without_a_model() -> None:
    """Without a model there is nothing to cost, so each stage needs its own service time."""
    raw = base()
    del raw["pipelines"]["p"]["stages"][0]["service"]
    assert "required when the scenario has no model" in problems(raw)[0]


def _cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sim", *args], capture_output=True, text=True, cwd=cwd, check=False
    )


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda r: r.update(horizn="5s"), "horizn: unknown key"),
        (lambda r: r["devices"]["dev"].update(type="jetson-nono"), "devices.dev.type: unknown"),
        (lambda r: r["workload"][0]["arrivals"].update(rate=-3), "workload[0].arrivals.rate"),
    ],
    ids=["misspelt-key", "unknown-type", "negative-rate"],
)
def test_cli_exits_2_with_one_line_and_no_traceback(
    tmp_path: Path, mutate: Any, field: str
) -> None:
    """The command line reports a bad scenario in one line on stderr, exit status 2."""
    raw = base()
    mutate(raw)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    for command in (["validate", str(path)], ["run", str(path), "--out", str(tmp_path / "o")]):
        done = _cli(*command)
        assert done.returncode == 2
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"{path}: {field}")
        assert "Traceback" not in done.stderr
    assert not (tmp_path / "o").exists(), "a rejected scenario writes nothing"


def test_cli_reports_unreadable_and_malformed_files(tmp_path: Path) -> None:
    """A missing file and broken YAML are input errors too, with the line of the YAML error."""
    assert _cli("validate", str(tmp_path / "nope.yaml")).returncode == 2
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\ndevices: {a: [\n")
    done = _cli("validate", str(broken))
    assert done.returncode == 2 and "invalid YAML" in done.stderr and "line" in done.stderr


def test_user_catalog_adds_and_overrides_types(tmp_path: Path) -> None:
    """A catalog file named by the scenario adds device types; inline figures still win."""
    (tmp_path / "lab.yaml").write_text(
        "pi-lab:\n  source: measured in our lab\n  gflops: 12\n  mem_bandwidth: 4GB/s\n  slots: 2\n"
    )
    raw = base(catalog=["lab.yaml"], devices={"dev": {"type": "pi-lab", "slots": 3}})
    from sim.loader import from_dict

    dev = from_dict(raw, file="s.yaml", base=tmp_path).devices["dev"]
    assert (dev.gflops, dev.mem_bandwidth, dev.slots) == (12, 4e9, 3)
    raw["devices"]["dev"]["type"] = "pi-lba"
    with pytest.raises(ScenarioError, match=r"unknown device type 'pi-lba' \(known: .*pi-lab"):
        from_dict(raw, file="s.yaml", base=tmp_path)


def test_fault_modes_are_checked() -> None:
    """'slow' needs a delay, only 'slow' takes one, links only crash; modes are listed."""
    raw = base(
        failures=[
            {"at": "1s", "target": "srv", "mode": "slow"},
            {"at": "1s", "target": "srv", "mode": "hang", "delay": "1ms"},
            {"at": "1s", "target": "srv", "mode": "melt"},
        ]
    )
    got = "\n".join(problems(raw))
    assert "failures[0]: mode 'slow' needs a delay" in got
    assert "failures[1]: delay applies to mode 'slow' only" in got
    assert "failures[2].mode: Input should be 'crash', 'hang', 'drop' or 'slow'" in got
    link = served_by({"srv": {}}, {"on": "srv"})
    link["failures"] = [{"at": "1s", "target": "cam-srv", "mode": "hang"}]
    assert problems(link) == [
        "test.yaml: failures[0].mode: applies to devices only (valid for links: crash) (got 'hang')"
    ]


def test_meaning_is_checked_where_the_first_pass_failed_elsewhere() -> None:
    """A type error in one part does not hide the meaning problems of the others."""
    raw = base(devices={"dev": {"type": "jetson-nono"}})
    raw["workload"][0]["arrivals"]["rate"] = "-3/s"
    assert [line.split(": ")[1] for line in problems(raw)] == [
        "devices.dev.type",
        "workload[0].arrivals.rate",
    ]


def test_later_items_keep_their_index_when_an_earlier_one_failed() -> None:
    """With workload[0] set aside, workload[1]'s problem is still reported as workload[1]."""
    raw = base()
    second = {**copy.deepcopy(raw["workload"][0]), "name": "other", "pipeline": "nope"}
    raw["workload"][0]["arrivals"]["rate"] = "-3/s"
    raw["workload"].append(second)
    lines = problems(raw)
    assert len(lines) == 2
    assert lines[1].startswith("test.yaml: workload[1].pipeline: unknown pipeline 'nope'")


def test_consequences_of_a_failed_part_are_not_reported() -> None:
    """A stage on a device whose own entry failed is not also 'unknown device'."""
    raw = base(devices={"dev": {"slots": 0}, "spare": {}})
    assert problems(raw) == ["test.yaml: devices.dev.slots: Input should be greater than 0 (got 0)"]


def test_overrides_are_validated_like_the_file() -> None:
    """revised() checks a replaced key's type and the scenario's meaning."""
    from sim.loader import revised

    tiny = load_dict(base(warmup="2s"))
    assert revised(tiny, "t.yaml", horizon=5.0).horizon == 5.0
    with pytest.raises(ScenarioError, match=r"^t.yaml: horizon: Input should be greater than 0"):
        revised(tiny, "t.yaml", horizon=-1.0)
    with pytest.raises(ScenarioError, match=r"^t.yaml: warmup: must be shorter than the horizon"):
        revised(tiny, "t.yaml", horizon=1.0)


def test_merge_keys_may_be_overridden_but_plain_keys_not_repeated() -> None:
    """`<<: *base` then a key is an override; the same key twice is an error."""
    from sim.document import DocumentError, parse

    assert parse("a: &a {x: 1, y: 2}\nb: {<<: *a, x: 3}\n")["b"] == {"x": 3, "y": 2}
    with pytest.raises(DocumentError, match=r"^b.x: line 3: key given twice \(first at line 2\)"):
        parse("a: 1\nb: {x: 1,\n  x: 3}\n")


def test_event_estimate_counts_arrivals_stages_and_replications() -> None:
    """The estimate grows with rate × horizon × replications and with the stages."""
    from sim.budget import estimate

    one = estimate(load_dict(base()))  # 20/s × 10 s, one stage
    assert one == 200 * (1 + 2 + 1)
    assert estimate(load_dict(base(replications=3))) == 3 * one
    raw = base()
    raw["pipelines"]["p"]["stages"].append(dict(raw["pipelines"]["p"]["stages"][0]))
    assert estimate(load_dict(raw)) == 200 * (1 + 4 + 1)
