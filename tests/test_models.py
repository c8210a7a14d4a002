"""The model zoo, per-layer profiles, cut points and partitions."""

from __future__ import annotations

import functools
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from models import zoo
from models.cuts import cut_points
from models.partition import chain_outputs, partitions
from models.profile import ModelError, ModelProfile, profile
from tests.helpers import ROOT


@functools.cache
def built(name: str) -> tuple[onnx.ModelProto, ModelProfile]:
    params = {"seq": 8} if name == "gpt2" else {}
    model = zoo.load(name, **params)
    return model, profile(model)


# Published multiply-accumulate counts (batch 1) and parameter counts, with their source.
PUBLISHED = [
    (
        "mobilenet_v2",
        "macs",
        300e6,
        "Sandler et al. 2018, MobileNetV2, Table 3 (300 M multiply-adds)",
    ),
    (
        "resnet18",
        "macs",
        1.8e9,
        "He et al. 2016, Table 1 (1.8 × 10⁹ FLOPs, counted as multiply-adds)",
    ),
    (
        "resnet50",
        "macs",
        4.1e9,
        "torchvision/ptflops figure for ResNet-50 (4.1 G MACs); the paper's 3.8 × 10⁹ leaves out the shortcut projections' share",
    ),
    (
        "resnet56",
        "macs",
        125e6,
        "He et al. 2016 CIFAR ResNet-56 as commonly reported (125 M MACs, 0.85 M parameters)",
    ),
    ("gpt2", "parameters", 124e6, "Radford et al. 2019, GPT-2 small (124 M parameters)"),
]


@pytest.mark.parametrize(
    ("name", "what", "published", "source"), PUBLISHED, ids=[p[0] for p in PUBLISHED]
)
def test_counts_match_the_published_figures(
    name: str, what: str, published: float, source: str
) -> None:
    """Within 3 % of the published figure (the source is beside each)."""
    _, prof = built(name)
    value = prof.macs if what == "macs" else prof.parameters
    assert abs(value - published) / published <= 0.03, (
        f"{name}: {value:,} vs {published:,.0f} ({source})"
    )


def test_flops_are_twice_the_macs_for_products() -> None:
    """Conv, gemm and attention layers count 2 FLOPs per multiply-accumulate."""
    _, prof = built("resnet18")
    for layer in prof.layers:
        if layer.op in ("conv", "depthwise", "gemm", "attention"):
            assert layer.flops == 2 * layer.macs


def test_op_classes() -> None:
    """MobileNetV2 has depthwise layers, GPT-2 gemm and attention layers, ResNets none of those."""
    classes = {
        name: {layer.op for layer in built(name)[1].layers}
        for name in ("mobilenet_v2", "resnet56", "gpt2")
    }
    assert "depthwise" in classes["mobilenet_v2"]
    assert {"gemm", "attention"} <= classes["gpt2"]
    assert "depthwise" not in classes["resnet56"] and "attention" not in classes["resnet56"]


def test_no_cut_inside_a_residual_block() -> None:
    """ResNet-18 cuts fall only between blocks: no cut is named after a conv inside a block."""
    model, prof = built("resnet18")
    names = [c.name for c in cut_points(model, prof)]
    assert "s2.b1.add.relu" in names
    assert not [n for n in names if ".conv" in n or ".down" in n]


def _feeds(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    from models.measure import feeds

    return feeds(session)


@pytest.mark.parametrize("name", sorted(zoo.BUILDERS))
def test_chained_partitions_equal_the_full_model(name: str) -> None:
    """Cutting at a quarter, half and three quarters: the chain's output is the model's (≤ 1e-4)."""
    model, prof = built(name)
    cuts = cut_points(model, prof)
    chosen = [cuts[len(cuts) * q // 4].name for q in (1, 2, 3)]
    x = _feeds(model)
    full = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, x
    )
    chain = chain_outputs(partitions(model, chosen), x)
    assert len(full) == len(chain)
    for a, b in zip(full, chain, strict=True):
        assert np.abs(a - b).max() <= 1e-4


def test_unknown_dimension_is_named() -> None:
    """A symbolic batch dimension is refused with the tensor and the dimension named."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="r")], "g", [x], [y])
    with pytest.raises(ModelError, match=r"'x' has an unknown dimension 0 \(batch\)"):
        profile(helper.make_model(graph))


def test_cli_inspect_and_cuts_and_partition(tmp_path: object) -> None:
    """`edgesim model inspect/cuts/partition` work on a zoo name; a wrong cut exits 2."""

    def edgesim(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "sim", "model", *args],
                              capture_output=True, text=True, cwd=ROOT, check=False)  # fmt: skip

    done = edgesim("inspect", "resnet56")
    assert done.returncode == 0 and "125.7 M MACs" in done.stdout and "s3.b9.add" in done.stdout
    done = edgesim("partition", "resnet56", "--cuts", "s2.b1.add.relu", "--out", str(tmp_path))
    assert done.returncode == 0 and done.stdout.count(".onnx") == 2
    done = edgesim("partition", "resnet56", "--cuts", "s2.b1.conv1", "--out", str(tmp_path))
    assert (
        done.returncode == 2 and "not a cut point" in done.stderr and "Traceback" not in done.stderr
    )
