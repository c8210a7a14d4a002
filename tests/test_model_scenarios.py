"""Zoo and ONNX models in scenarios, device profiles, and the split planner."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import onnx
import pytest
import yaml

from analysis.planner import plan
from models import zoo
from sim import load, run
from sim.loader import ScenarioError
from tests.helpers import ROOT, SCENARIOS, base, load_dict


def split(model: Any, cut: str = "s2.b1.add.relu") -> dict[str, Any]:
    """A camera running ResNet-56 up to ``cut`` and a server running the rest."""
    return base(
        model=model,
        devices={"cam": {"type": "rpi4"}, "srv": {"type": "edge-cpu"}},
        links=[{"ends": ["cam", "srv"], "bandwidth": "100Mbps", "latency": "1ms"}],
        pipelines={
            "p": {
                "stages": [
                    {"layers": ["input", cut], "on": "cam"},
                    {"layers": [cut, "output"], "on": "srv"},
                ]
            }
        },
        workload=[
            {
                "name": "cam",
                "at": "cam",
                "pipeline": "p",
                "arrivals": {"kind": "periodic", "rate": "10/s"},
            }
        ],
    )


def test_zoo_model_stages_between_cut_points() -> None:
    """Cut points become layer ranges; the tensor that crosses is the cut's (32×16×16 fp32)."""
    s = load_dict(split("resnet56"))
    table = s.table
    assert table is not None and table.source == "zoo:resnet56"
    first, second = s.pipelines["p"].stages
    assert first.layers == ("stem", "s2.b1.add.relu") and second.layers[0] == "s2.b2.conv1"
    (rep,) = run(s)
    transfers = rep.sources[0].phases()["transfer1"]
    assert transfers.min() == pytest.approx(32 * 16 * 16 * 4 * 8 / 100e6 + 0.001, rel=1e-6)


def test_bad_cut_point_is_named_with_the_valid_ones() -> None:
    """A stage boundary inside a residual block is refused, naming the cut points to use."""
    with pytest.raises(
        ScenarioError,
        match=r"pipelines\.p\.stages\[0\]\.layers: 's2\.b1\.conv1' is not a cut point of zoo:resnet56 \(input, output, or one of stem",
    ):
        load_dict(split("resnet56", "s2.b1.conv1"))
    with pytest.raises(
        ScenarioError,
        match=r"model: unknown zoo model 'resnet57' \(known: cnn_student, gpt2, mobilenet_v2",
    ):
        load_dict(split("resnet57"))


def test_onnx_file_model(tmp_path: Path) -> None:
    """A user's ONNX file works like the zoo model it is."""
    onnx.save(zoo.load("resnet56"), tmp_path / "mine.onnx")
    raw = split({"onnx": "mine.onnx"})
    from sim.loader import from_dict

    s = from_dict(raw, file="s.yaml", base=tmp_path)
    reference = load_dict(split("resnet56")).table
    assert s.table is not None and reference is not None
    assert len(s.table.layers) == len(reference.layers)
    # the recorded source names the file wherever the planner or the bridge runs from
    assert s.table.source == f"onnx:{(tmp_path / 'mine.onnx').resolve()}"
    assert len(zoo.load_source(s.table.source).graph.node) == len(s.table.layers)


def test_zoo_parameters_are_kept_in_the_source() -> None:
    """A parametrised zoo model records its parameters, so its graph can be rebuilt alike."""
    assert zoo.source("gpt2", {"seq": 32}) == "zoo:gpt2?seq=32"
    assert zoo.source("resnet56", {}) == "zoo:resnet56"
    assert zoo.load_source("zoo:resnet56").graph.name == "resnet56"


def test_profile_replaces_the_roofline(tmp_path: Path) -> None:
    """`edgesim model profile` writes a profile; a device using it serves a stage in its layers' sum."""
    out = tmp_path / "me.json"
    done = subprocess.run([sys.executable, "-m", "sim", "model", "profile", "resnet56", "--runs", "5", "--out", str(out)],
                          capture_output=True, text=True, cwd=ROOT, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    profile = json.loads(out.read_text())
    raw = split("resnet56")
    raw["devices"]["cam"] = {"profile": str(out), "power_idle": 1, "power_busy": 2}
    (rep,) = run(load_dict(raw))
    s = load_dict(raw)
    span = s.pipelines["p"].stages[0].layer_range(s.table)
    names = [s.table.layers[i].name for i in span]  # type: ignore[union-attr]
    times = [profile["layers"][n]["median"] for n in names]
    expected = sum(times) + profile["overhead_per_kernel"] * sum(1 for t in times if t > 0)
    assert rep.sources[0].phases()["service0"] == pytest.approx(expected)


def test_profile_missing_layers_is_an_error(tmp_path: Path) -> None:
    """A profile of another model is refused, naming the first layer it lacks."""
    (tmp_path / "other.json").write_text(json.dumps({"layers": {"x": {"median": 0.001}}}))
    raw = split("resnet56")
    raw["devices"]["cam"] = {"profile": "other.json"}
    from sim.loader import from_dict

    with pytest.raises(ScenarioError, match=r"devices\.cam\.profile: has no time for layer 'stem'"):
        from_dict(raw, file="s.yaml", base=tmp_path)


def test_planner_covers_every_cut_and_moves_work_to_the_endpoint() -> None:
    """Every cut is an option; the endpoint's share grows with the cut; bytes are the cut's."""
    s = load(SCENARIOS / "quickstart.yaml")
    options = plan(s)
    assert options[0].cuts == ("input",) and options[-1].cuts == ("output",)
    seconds = [o.endpoint_seconds for o in options]
    assert seconds == sorted(seconds)
    assert options[-1].bytes_sent == 0 and options[0].bytes_sent == 3 * 224 * 224 * 4
    b5 = next(o for o in options if o.cuts == ("b5.add",))
    assert b5.bytes_sent == 32 * 28 * 28 * 4
    assert min(o.latency for o in options) < b5.latency * 1.01


def test_plan_cli(tmp_path: Path) -> None:
    """`edgesim plan` prints the options with the best marked, or JSON."""
    done = subprocess.run([sys.executable, "-m", "sim", "plan", str(SCENARIOS / "quickstart.yaml"), "--objective", "energy", "--json"],
                          capture_output=True, text=True, cwd=ROOT, check=False)  # fmt: skip
    rows = json.loads(done.stdout)
    best = [r for r in rows if r["best"]]
    assert len(best) == 1 and best[0]["cuts"] == ["input"], (
        "sending the raw frame costs the endpoint nothing"
    )


def test_quickstart_is_written_against_the_zoo() -> None:
    """The quick start names the zoo MobileNetV2 and splits it after block 5."""
    raw = yaml.safe_load((SCENARIOS / "quickstart.yaml").read_text())
    assert raw["model"] == "mobilenet_v2"
