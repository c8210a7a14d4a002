"""Accuracy under damage: zeroed channels measured with onnxruntime on the test split, the
per-sample table the simulation looks up, its cache, its interval and its command."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from scipy.stats import binomtest

from models import ModelError
from models.accuracy import Damage, DamageError, correct, damaged, layer_channels, table, wilson
from models.train_commands import register
from models.training import COMMITTED, read

STUDENT = read(COMMITTED / "cnn_student-width8-mnist5k-seed0-e8.onnx")


def test_intact_model_scores_its_card() -> None:
    """The per-sample table of the intact model averages to the card's test accuracy."""
    hits = correct(STUDENT)
    assert hits.dtype == bool and hits.shape == (STUDENT.card["test_samples"],)
    assert hits.mean() == STUDENT.card["test_accuracy"]


def test_zeroing_every_feature_leaves_one_class() -> None:
    """With all of the last convolution's channels zeroed the pooled features are 0, the
    classifier answers with its bias alone: one class for every image, 10 % on the balanced
    test split."""
    everything = Damage.parse(
        [f"conv4:0-{layer_channels(onnx.load(STUDENT.onnx_path))['conv4'] - 1}"]
    )
    assert correct(STUDENT, everything).mean() == pytest.approx(0.1)


def test_zeroed_channels_are_zero_rows_and_nothing_else() -> None:
    """The damaged copy differs from the model exactly in the named rows of that layer's
    weight and bias, which are zero."""
    model = onnx.load(STUDENT.onnx_path)
    before = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    after = {
        t.name: numpy_helper.to_array(t)
        for t in damaged(model, Damage.parse(["conv2:1,3-4"])).graph.initializer
    }
    rows = [1, 3, 4]
    for name in ("conv2.weight", "conv2.bias"):
        assert np.all(after[name][rows] == 0) and np.any(before[name][rows] != 0)
        keep = np.setdiff1d(np.arange(len(before[name])), rows)
        assert np.array_equal(after[name][keep], before[name][keep])
    assert all(np.array_equal(before[k], after[k]) for k in before if not k.startswith("conv2."))


def test_losing_channels_costs_accuracy_beyond_the_interval() -> None:
    """Half the channels of the widest layer lost: the damaged accuracy lies below the
    intact model's 95 % interval."""
    intact, half = table(STUDENT, [Damage.parse(["conv4:0-31"])])
    assert half.damage == "conv4:0-31"
    assert half.accuracy < intact.interval[0]


def test_damage_is_cached_per_model_file(tmp_path: Path) -> None:
    """The same file elsewhere reads the cache; a different file of the same name is
    measured anew."""
    damage = Damage.parse(["conv3:0-3"])
    first = correct(STUDENT, damage)
    copy = tmp_path / STUDENT.onnx_path.name
    model = onnx.load(STUDENT.onnx_path)
    onnx.save(model, copy)
    copy.with_suffix(".json").write_text(STUDENT.card_path.read_text())
    assert np.array_equal(correct(read(copy), damage), first)
    other = damaged(model, Damage.parse(["conv4:0-63"]))
    onnx.save(other, copy)
    assert correct(read(copy), damage).mean() == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["conv2"], r"'conv2' is not LAYER:CHANNELS"),
        (["conv2:a"], r"'conv2:a' is not LAYER:CHANNELS"),
        (["nope:1"], r"no layer 'nope' \(layers: conv1, conv2, conv3, conv4, fc\)"),
        (["conv1:8"], r"conv1 has channels 0-7 \(got 8\)"),
        (["conv1:5-2"], r"'5-2' runs backwards \(write 2-5\)"),
        (["conv1:0-99999999999"], r"channel 99999999999 is beyond any layer"),  # never expanded
    ],
)
def test_bad_damage_is_refused_with_the_choices(items: list[str], message: str) -> None:
    with pytest.raises(DamageError, match=message):
        damaged(onnx.load(STUDENT.onnx_path), Damage.parse(items))


def test_damage_keys_merge_and_name_files() -> None:
    """Items on one layer merge and print as ranges; the key is short, file-safe and the
    same for the same channels however they are written."""
    a = Damage.parse(["conv2:3-4", "conv1:0", "conv2:1,5"])
    b = Damage.parse(["conv1:0", "conv2:1,3,4,5"])
    assert a == b and str(a) == "conv1:0 conv2:1,3-5" and Damage.parse(str(a).split()) == a
    assert a.key == b.key != Damage.parse(["conv2:1"]).key and len(a.key) == 21
    assert Damage().key == "intact" and len(Damage.parse(["conv4:0-63"] * 9).key) == 21


@pytest.mark.parametrize(("hits", "n"), [(0, 10), (3, 10), (944, 1000), (1000, 1000)])
def test_wilson_interval_matches_scipy(hits: int, n: int) -> None:
    low, high = wilson(hits, n)
    ref = binomtest(hits, n).proportion_ci(method="wilson")
    assert low == pytest.approx(ref.low, abs=1e-12) and high == pytest.approx(ref.high, abs=1e-12)


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="verb", required=True))
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


def test_accuracy_command_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    """`accuracy cnn_student --width 8 --zero …` prints the intact row and one per damage."""
    assert (
        _run("accuracy", "cnn_student", "--width", "8", "--zero", "conv4:0-63", "conv1:0+conv2:0")
        == 0
    )
    out = capsys.readouterr().out
    assert f"{STUDENT.card['test_accuracy'] * 100:.1f}" in out
    assert "conv4:0-63" in out and "conv1:0 conv2:0" in out and "100/1000" in out


def test_unknown_architecture_is_a_model_error_naming_the_choices() -> None:
    """A wrong MODEL is a ModelError (the CLI prints it on one line and exits 2) that names
    the trainable architectures."""
    with pytest.raises(
        ModelError,
        match=r"^model: 'resnet9' is not a trainable architecture "
        r"\(cnn_student, resnet8, resnet8_exits\)$",
    ):
        _run("accuracy", "resnet9")
