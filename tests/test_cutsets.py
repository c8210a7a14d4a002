"""Cut sets of DAG models: every one of SSD's, and its backbone/heads split, chain back."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from models import cutsets as cs
from models import zoo
from models.cuts import cut_points
from models.profile import profile
from sim.problems import ScenarioError
from tests.helpers import ROOT, load_dict

HEADS = [f"head{i}" for i in range(6)]


@functools.cache
def ssd() -> tuple[onnx.ModelProto, cs.Flow, dict[str, np.ndarray], list[np.ndarray]]:
    model = zoo.load("ssd_mobilenet_v2")
    x = {"input": np.random.default_rng(7).standard_normal((1, 3, 300, 300)).astype(np.float32)}
    full = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return model, cs.flow(model), x, list(full.run(None, x))


def test_every_cut_set_of_ssd_determines_the_outputs() -> None:
    """Run node by node keeping only each cut set: the outputs are the model's (≤ 1e-4)."""
    model, f, x, full = ssd()
    out, sets = cs.states(model, f, x)
    assert len(sets) == len(model.graph.node) - 1
    assert max(len(c.tensors) for c in sets) == 12  # six heads' box and class outputs
    for a, b in zip(full, out, strict=True):
        assert np.abs(a - b).max() <= 1e-4


def test_backbone_and_heads_split_as_a_dag() -> None:
    """Backbone, one part per head, the concatenations: each edge carries its own tensors."""
    model, f, x, full = ssd()
    after = ["extra4.expand.relu6", *(f"{h}.cls.flat" for h in HEADS)]
    ps = cs.parts(f, after, ["backbone", *HEADS, "post"])
    links = cs.edges(f, ps)
    taps = ["b13.expand.relu6", "head.relu6", *(f"extra{i}.expand.relu6" for i in range(1, 5))]
    for head, tap in zip(HEADS, taps, strict=True):
        assert links[("backbone", head)] == (tap,)
        assert links[(head, "post")] == (f"{head}.box.flat", f"{head}.cls.flat")
    assert ("backbone", "post") not in links and links[("post", "")] == ("boxes", "scores")
    sizes = cs.edge_bytes(f, ps)
    assert sizes[("backbone", "head0")] == 19 * 19 * 576 * 4
    values = cs.run(ps, cs.extract(model, ps), x)
    for a, name in zip(full, f.outputs, strict=True):
        assert np.abs(a - values[name]).max() <= 1e-4


def test_inside_resnet_blocks_two_tensors_cross_and_suffice() -> None:
    """ResNet-56 split inside its residual blocks: the cut set there is the shortcut and
    the branch, and every cut set determines the outputs (≤ 1e-4)."""
    model = zoo.load("resnet56")
    f = cs.flow(model)
    x = {"input": np.random.default_rng(7).standard_normal((1, 3, 32, 32)).astype(np.float32)}
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (full,) = session.run(None, x)
    (out,), sets = cs.states(model, f, x)
    inside = next(c for c in sets if c.after == "s2.b3.conv1.relu")
    assert set(inside.tensors) == {"s2.b2.add.relu", "s2.b3.conv1.relu"}
    assert np.abs(full - out).max() <= 1e-4


def test_single_tensor_cuts_are_cut_sets_of_one() -> None:
    model = zoo.load("resnet56")
    singles = {c.tensors[0] for c in cs.cut_sets(cs.flow(model)) if len(c.tensors) == 1}
    assert {c.name for c in cut_points(model, profile(model))} == singles


def test_cli_lists_and_writes_cut_set_parts(tmp_path: Path) -> None:
    """`model cuts --sets` lists them; `partition --sets` writes parts and edges; a bad name exits 2."""

    def edgesim(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "sim", "model", *args],
                              capture_output=True, text=True, cwd=ROOT, check=False)  # fmt: skip

    done = edgesim("cuts", "ssd_mobilenet_v2", "--sets")
    assert done.returncode == 0 and "extra4.expand.relu6" in done.stdout
    done = edgesim("partition", "ssd_mobilenet_v2", "--sets", "--cuts", "extra4.expand.relu6",
                   "--out", str(tmp_path))  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = json.loads((tmp_path / "edges.json").read_text())
    middle = next(r for r in rows if r["from"] == "part0" and r["to"] == "part1")
    assert len(middle["tensors"]) == 6 and middle["bytes"] == 1408768
    done = edgesim("partition", "ssd_mobilenet_v2", "--sets", "--cuts", "scores",
                   "--out", str(tmp_path / "x"))  # fmt: skip
    assert done.returncode == 2 and "'scores'" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("bad", ["nope", "scores"])
def test_a_cut_set_after_no_layer_is_refused(bad: str) -> None:
    with pytest.raises(KeyError):
        cs.parts(ssd()[1], [bad])


def _graph(actors: dict[str, Any], model: Any = "ssd_mobilenet_v2") -> dict[str, Any]:
    return {
        "name": "parts", "horizon": "10s", "model": model,
        "devices": {"cam": {"type": "rpi4"}, "srv": {"type": "edge-cpu"}},
        "links": [{"ends": ["cam", "srv"], "bandwidth": "100Mbps"}],
        "graphs": {"g": {"sources": [{"name": "cam", "at": "cam",
                                      "arrivals": {"kind": "periodic", "rate": "1/s"}}],
                         "actors": actors}},
    }  # fmt: skip


BACKBONE = {"on": "cam", "part": ["stem", "b13.add"]}
REST = {"on": "cam", "after": ["front"], "part": ["b14.expand", "extra4.expand.relu6"]}


def test_the_loader_wires_each_parts_own_tensors() -> None:
    """A part with two successor parts sends each the tensors it takes; in all, both."""
    heads = {"on": "srv", "after": ["front", "rest"], "part": ["head0.box.dw", "scores"]}
    s = load_dict(_graph({"front": BACKBONE, "rest": REST, "heads": heads}))
    front = s.graphs["g"].actors["front"]  # type: ignore[index]
    assert front.sends == {"rest": 19 * 19 * 96 * 4, "heads": 19 * 19 * 576 * 4}
    assert front.output_bytes == 19 * 19 * (96 + 576) * 4


@pytest.mark.parametrize(
    ("actors", "model", "message"),
    [
        (
            {
                "front": BACKBONE,
                "rest": REST,
                "heads": {"on": "srv", "after": ["rest"], "part": ["head0.box.dw", "scores"]},
            },
            "ssd_mobilenet_v2",
            "graphs.g.actors.heads.part: needs 'b13.expand.relu6' (layer b13.expand.relu6), "
            "which none of its after actors runs",
        ),
        (
            {"front": dict(BACKBONE, layers=["stem", "stem"])},
            "ssd_mobilenet_v2",
            "graphs.g.actors.front.part: give part, layers or service: one of them",
        ),
        (
            {"front": dict(BACKBONE, part=["stem", "nope"])},
            "ssd_mobilenet_v2",
            "graphs.g.actors.front.part: unknown layer 'nope'",
        ),
        (
            {"front": dict(BACKBONE, sends={"heads": 10})},
            "ssd_mobilenet_v2",
            "graphs.g.actors.front.sends: names 'heads', which does not follow it",
        ),
        (
            {"front": {"on": "cam", "part": ["l0", "l0"]}},
            {
                "input_bytes": 10,
                "layers": [{"name": "l0", "op": "conv", "flops": 1, "output_bytes": 1}],
            },
            "graphs.g.actors.front.part: needs a zoo or ONNX model",
        ),
    ],
)
def test_a_bad_part_is_named(actors: dict[str, Any], model: Any, message: str) -> None:
    with pytest.raises(ScenarioError) as err:
        load_dict(_graph(actors, model))
    assert any(message in p.line("") for p in err.value.problems), err.value.problems


def test_a_parts_fifo_holds_only_the_tensors_it_takes() -> None:
    """The memory check counts each bounded FIFO's tokens at the bytes its producer sends
    that part: 100 places of the heads' two inputs fit where whole outputs would not."""
    heads = {
        "on": "srv",
        "after": ["front", "rest"],
        "part": ["head0.box.dw", "scores"],
        "fifo": 100,
    }
    raw = _graph({"front": BACKBONE, "rest": REST, "heads": heads})
    s = load_dict(raw)
    actors, table = s.graphs["g"].actors, s.table
    assert actors is not None and table is not None
    taken = sum((actors[p].sends or {})["heads"] for p in ("front", "rest"))
    whole = sum(actors[p].output_bytes or 0.0 for p in ("front", "rest"))
    start = [x.name for x in table.layers].index("head0.box.dw")
    weights = sum((x.weight_bytes for x in table.layers[start:]), 0.0)
    assert whole - taken == 19 * 19 * 96 * 4  # block 13's output goes to rest only
    raw["devices"]["srv"]["memory"] = weights + 100 * (taken + whole) / 2
    load_dict(raw)  # fits
    raw["devices"]["srv"]["memory"] = weights + 100 * taken - 1
    with pytest.raises(ScenarioError, match="too little memory for actors heads"):
        load_dict(raw)
