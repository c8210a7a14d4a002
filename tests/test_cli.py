"""The command line against hostile input: every case exits 2 with a line naming the field.

The corpus below holds one scenario file per class of bad input (``CORPUS``). Each is
run through ``edgesim validate`` and ``edgesim run`` as a real process with a timeout,
so a hang, a crash or a traceback fails the test as surely as a wrong message.
Then the results folder, the options and the output stream.
"""

from __future__ import annotations

import json
import math
import os
import re
import string
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import ROOT, base

TIMEOUT = 120
"""Seconds any one command may take: generous, but a hang fails instead of stalling."""

BOMB = "".join(
    f"{x}: &{x} [{', '.join([f'*{p}'] * 9 if p else ['lol'] * 9)}]\n"
    for p, x in zip(["", *"abcdefgh"], "abcdefghi", strict=True)
)


TEMPLATE = string.Template("""\
name: tiny
horizon: $horizon
devices:
  dev: $device
pipelines:
  p:
    stages:
      - {on: dev, service: $service}
workload:
  - {name: src, at: dev, pipeline: p, arrivals: $arrivals}
$more""")


def _scenario(**fields: str) -> str:
    """The helpers' tiny scenario as YAML text, with some fields written otherwise."""
    defaults = {
        "horizon": "10s",
        "device": "{}",
        "service": "{kind: deterministic, value: 10ms}",
        "arrivals": "{kind: periodic, rate: 20/s}",
        "more": "",
    }
    return TEMPLATE.substitute(defaults | fields)


HEARTBEATS = """\
name: beats
horizon: 10s
fault_tolerance: {policy: retry, timeout: 1s, heartbeat: 1ns}
devices: {cam: {}, srv: {}}
links: [{ends: [cam, srv], bandwidth: 1Gbps}]
pipelines: {p: {stages: [{on: srv, service: {kind: deterministic, value: 1ms}}]}}
workload: [{name: s, at: cam, pipeline: p, arrivals: {kind: poisson, rate: 1}}]
"""
ZERO = "{kind: deterministic, value: 0}"
TINY = "{kind: exponential, mean: 1ns}"

# name: (file text or bytes, extra files, what the one line must contain)
CORPUS: dict[str, tuple[str | bytes, dict[str, bytes], str]] = {
    "not-onnx": (
        _scenario(device="{type: rpi4}", service="null", more="model: {onnx: model.onnx}\n"),
        {"model.onnx": b"this is not a protobuf\xff\xff"},
        ": model.onnx: not an ONNX model file",
    ),
    "empty-file": ("", {}, ": the file is empty"),
    "top-level-list": ("- name: tiny\n", {}, ": a scenario is a mapping of keys (got"),
    "deep-nesting": ("name: " + "[" * 10000 + "]" * 10000 + "\n", {}, "nested more than 64"),
    "not-utf8": (b"name: caf\xe9\nhorizon: 1s\n", {}, ": not UTF-8 text (byte 0xe9 at offset 9)"),
    "alias-bomb": (BOMB, {}, "expands to more than 1,000,000 values"),
    "alias-cycle": ("name: &a [*a]\n", {}, ": name[0]: line 1: an alias of a collection inside"),
    "duplicate-key": (
        _scenario(more="horizon: 20s\n"),
        {},
        ": horizon: line 11: key given twice (first at line 2)",
    ),
    "duplicate-device": (
        _scenario(device="{slots: 1, slots: 2}"),
        {},
        ": devices.dev.slots: line 4: key given twice (first at line 4)",
    ),
    "infinite-cv": (
        _scenario(service="{kind: gamma, mean: 10ms, cv: .inf}"),
        {},
        ": pipelines.p.stages[0].service.cv: Input should be a finite number (got inf)",
    ),
    "nan-mean": (
        _scenario(service="{kind: exponential, mean: .nan}"),
        {},
        ": pipelines.p.stages[0].service.mean: a duration must be finite",
    ),
    "horizon-1e300": (
        _scenario(horizon="1e300"),
        {},
        ": horizon: a duration must be at most 1e+12 s",
    ),
    "rate-1e12": (
        _scenario(arrivals="{kind: poisson, rate: 1e12}"),
        {},
        ": workload[0].arrivals.rate: the run would process about 4e+13 events",
    ),
    "zero-ttf-and-ttr": (
        _scenario(device=f"{{failure: {{ttf: {ZERO}, ttr: {ZERO}}}}}"),
        {},
        ": devices.dev.failure: a failure cycle must last: ttf and ttr are both zero",
    ),
    "tiny-ttf-and-ttr": (
        _scenario(device=f"{{failure: {{ttf: {TINY}, ttr: {TINY}}}}}"),
        {},
        ": devices.dev.failure: the run would process about 1e+10 events",
    ),
    "jitter-1e300": (
        _scenario(
            arrivals="{kind: periodic, rate: 1, jitter: {kind: deterministic, value: 1e300}}"
        ),
        {},
        ": workload[0].arrivals.jitter.value: a duration must be at most 1e+12 s",
    ),
    "weibull-overflow": (
        _scenario(service="{kind: weibull, shape: 0.001, scale: 1s}"),
        {},
        ": pipelines.p.stages[0].service: parameters too extreme",
    ),
    "heartbeat-1ns": (
        HEARTBEATS,
        {},
        ": fault_tolerance.heartbeat: the run would process about",
    ),
}


def edgesim(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """``edgesim ARGS`` as its own process (``python -m sim``), bounded by TIMEOUT."""
    return subprocess.run(
        [sys.executable, "-m", "sim", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
        timeout=TIMEOUT,
    )


def _write_case(tmp_path: Path, name: str) -> Path:
    text, extra, _ = CORPUS[name]
    for file, data in extra.items():
        (tmp_path / file).write_bytes(data)
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_bad_input_exits_2_naming_the_field(tmp_path: Path, name: str) -> None:
    """validate and run each print one line naming the field, exit 2, no traceback."""
    path = _write_case(tmp_path, name)
    want = CORPUS[name][2]
    for command in (["validate", str(path)], ["run", str(path), "--out", str(tmp_path / "o")]):
        done = edgesim(*command)
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr
        (line,) = done.stderr.strip().splitlines()
        assert line.startswith(str(path)) and want in line, line
    assert not (tmp_path / "o").exists(), "a refused scenario writes nothing"


def test_force_accepts_a_run_over_the_event_limit(tmp_path: Path) -> None:
    """--force lets validate pass a scenario refused only for its size."""
    path = _write_case(tmp_path, "rate-1e12")
    assert edgesim("validate", str(path)).returncode == 2
    done = edgesim("validate", "--force", str(path))
    assert done.returncode == 0 and ": ok (" in done.stdout


def test_readme_example_prints_both_problems(tmp_path: Path) -> None:
    """The README's two-error example is this command's real output: the device type
    is checked although the workload failed the first pass."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Using it") :]
    block = re.search(r"```\n(\$ edgesim validate bad.yaml\n.*?)```", section, re.S)
    assert block is not None, "README's Using it section shows the validate example"
    _, *shown = block.group(1).strip().splitlines()
    raw = base(devices={"cam0": {"type": "jetson-nono"}})
    raw["pipelines"]["p"]["stages"][0]["on"] = "cam0"
    raw["workload"][0].update(at="cam0")
    raw["workload"][0]["arrivals"]["rate"] = "-3/s"
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    done = edgesim("validate", "bad.yaml", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == shown


def _tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(_scenario(horizon="2s"))
    return path


@pytest.mark.parametrize("out", [".", "..", "taken/x"])
def test_out_that_cannot_become_a_results_folder_is_refused(tmp_path: Path, out: str) -> None:
    """The current folder, one above it, or a path below a file: refused before simulating
    with the option named, and nothing written (a results folder is renamed into place,
    which the current folder cannot be)."""
    work = tmp_path / "inside"
    work.mkdir()
    (work / "taken").write_text("mine")
    scenario = _tiny(tmp_path)
    done = edgesim("run", str(scenario), "--out", out, "--force", cwd=work)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("edgesim: --out: ")
    assert sorted(p.name for p in work.iterdir()) == ["taken"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inside", "tiny.yaml"]


def test_out_that_is_a_file_is_refused(tmp_path: Path) -> None:
    """An --out naming a file is refused before simulating, the file left alone."""
    target = tmp_path / "taken"
    target.write_text("mine")
    done = edgesim("run", str(_tiny(tmp_path)), "--out", str(target))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == f"edgesim: --out: {target} is a file, not a folder"
    assert target.read_text() == "mine"


def test_unwritable_out_is_refused(tmp_path: Path) -> None:
    """An --out that cannot be created (under a file) is refused before simulating, the
    file that stands in the way named."""
    (tmp_path / "file").write_text("")
    out = tmp_path / "file" / "results"
    done = edgesim("run", str(_tiny(tmp_path)), "--out", str(out))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == (
        f"edgesim: --out: {tmp_path / 'file'} is a file, so {out} cannot be a folder"
    )


def test_existing_results_are_kept_unless_forced(tmp_path: Path) -> None:
    """A folder holding results is not overwritten; --force replaces it whole."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("earlier run")
    done = edgesim("run", str(_tiny(tmp_path)), "--out", str(out))
    assert done.returncode == 2
    assert "already holds results" in done.stderr and "--force" in done.stderr
    assert [p.name for p in out.iterdir()] == ["old.txt"]
    done = edgesim("run", str(_tiny(tmp_path)), "--out", str(out), "--force")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "events.parquet", "requests.parquet", "scenario.resolved.yaml", "summary.json",
    ]  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "tiny.yaml"], "no leftovers"


@pytest.mark.parametrize("verb", ["run", "validate"])
def test_hil_refuses_existing_results_before_connecting(tmp_path: Path, verb: str) -> None:
    """`hil run` and `hil validate` check --out before they reach for a device: the bound
    port is closed, yet the answer is about the folder, and the folder is left alone."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("earlier run")
    loopback = str(Path(__file__).parent.parent / "scenarios" / "hil" / "loopback.yaml")
    done = edgesim("hil", verb, loopback, "--bind", "srv=tcp://127.0.0.1:9", "--out", str(out))
    assert done.returncode == 2
    assert "--out" in done.stderr and "already holds results" in done.stderr
    assert "Traceback" not in done.stderr
    assert [p.name for p in out.iterdir()] == ["old.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"], "no leftovers"


@pytest.mark.parametrize(
    ("option", "value"),
    [("--seed", "abc"), ("--replications", "2.5"), ("--horizon", "soon"), ("--seed", "-1")],
)
def test_bad_option_value_names_the_option(tmp_path: Path, option: str, value: str) -> None:
    """A bad option value names the option as typed, not an internal function."""
    done = edgesim("run", str(_tiny(tmp_path)), option, value)
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"edgesim run: error: argument {option}: "), last
    assert "_natural" not in last and "_positive" not in last and "invalid" not in last


def test_horizon_option_is_checked_against_the_warmup(tmp_path: Path) -> None:
    """An override is validated like the file: a horizon within the warm-up is refused."""
    path = tmp_path / "w.yaml"
    path.write_text(_scenario(more="warmup: 5s\n"))
    done = edgesim("run", str(path), "--horizon", "2s", "--out", str(tmp_path / "o"))
    assert done.returncode == 2 and "--horizon" in done.stderr
    assert not (tmp_path / "o").exists()


def test_json_is_strict(tmp_path: Path) -> None:
    """--json prints JSON that a strict parser reads, even for a run with no request
    (whose latency figures have no value): no NaN, no Infinity."""
    path = tmp_path / "idle.yaml"
    path.write_text(_scenario(arrivals="{kind: trace, times: []}"))
    done = edgesim("run", str(path), "--json", "--out", str(tmp_path / "o"))
    assert done.returncode == 0, done.stderr

    def refuse(constant: str) -> None:
        raise ValueError(f"not strict JSON: {constant}")

    summary = json.loads(done.stdout, parse_constant=refuse)
    assert summary["scenario"] == "tiny"


def test_json_maps_what_json_lacks_to_null(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A figure that is NaN or infinite in the summary is printed as null by --json."""
    from sim import cli

    real = cli._summary
    monkeypatch.setattr(
        cli, "_summary", lambda *a: real(*a) | {"odd": [math.nan, math.inf, -math.inf]}
    )
    assert cli.main(["run", str(_tiny(tmp_path)), "--json", "--out", str(tmp_path / "o")]) == 0
    assert json.loads(capsys.readouterr().out)["odd"] == [None, None, None]


def test_closed_stdout_ends_quietly(tmp_path: Path) -> None:
    """`edgesim run --json | head` with the reader gone: exit 141, no traceback."""
    with subprocess.Popen(
        [sys.executable, "-m", "sim", "run", str(_tiny(tmp_path)), "--json"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "0"},
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # the reader leaves before the run prints anything
        err = proc.stderr.read()
        assert proc.wait(timeout=TIMEOUT) == 141
    assert err == ""
