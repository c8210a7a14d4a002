"""Early exits: the heads' layers by name, the exit each test sample takes at a confidence
threshold, whether it is right there, and the cache behind it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from models import data
from models.accuracy import Damage, correct, damaged, outputs
from models.exits import FINAL, ExitError, exit_table, heads
from models.training import COMMITTED, read

EXITS = read(COMMITTED / "resnet8_exits-mnist5k-seed0-e6.onnx")
MODEL = onnx.load(EXITS.onnx_path)


def test_heads_name_every_layer_once_in_graph_order() -> None:
    """The heads are exit1, exit2, final; their segments and own layers cover every node
    of the graph exactly once, and segments follow the execution order."""
    found = heads(MODEL)
    assert [h.name for h in found] == ["exit1", "exit2", FINAL]
    named = [n for h in found for n in (*h.segment, *h.layers)]
    assert sorted(named) == sorted(n.name for n in MODEL.graph.node)
    order = {n.name: i for i, n in enumerate(MODEL.graph.node)}
    backbone = [order[n] for h in found for n in h.segment]
    assert backbone == sorted(backbone)


@pytest.mark.parametrize("i", [0, 1, 2])
def test_up_to_exit_i_is_the_named_layers(i: int) -> None:
    """The sub-graph that computes head i's output (extracted by onnx from the input) is
    exactly the segments of heads 0 … i and head i's layers, and head i reads its tap."""
    found = heads(MODEL)
    sub = onnx.utils.Extractor(MODEL).extract_model(["input"], [found[i].output])
    needed = {n for h in found[: i + 1] for n in h.segment} | set(found[i].layers)
    assert {n.name for n in sub.graph.node} == needed
    assert found[i].tap in {x for n in sub.graph.node for x in n.output}


def _reference_exit(threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """The exit rule written out per sample, on onnxruntime's logits of every head."""
    test = data.load("mnist5k").test
    logits = outputs(MODEL, test.images)
    taken, right = [], []
    for s in range(len(test)):
        for i, head in enumerate(logits):
            p = np.exp(head[s] - head[s].max())
            if i == len(logits) - 1 or (p / p.sum()).max() >= threshold:
                taken.append(i)
                right.append(head[s].argmax() == test.labels[s])
                break
    return np.array(taken), np.array(right)


@pytest.mark.parametrize("threshold", [0.5, 0.9])
def test_each_sample_leaves_at_the_first_confident_head(threshold: float) -> None:
    """Exit taken and correctness per sample equal the rule applied sample by sample."""
    table = exit_table(EXITS, threshold)
    taken, right = _reference_exit(threshold)
    assert table.heads == ("exit1", "exit2", FINAL)
    assert table.taken.dtype.kind == "i" and table.correct.dtype == bool
    assert np.array_equal(table.taken, taken) and np.array_equal(table.correct, right)
    assert sum(table.rate(i) for i in range(3)) == pytest.approx(1.0)
    assert 0 < table.rate(0) < 1 and table.accuracy() == right.mean()


def test_extreme_thresholds_are_the_first_and_the_final_head() -> None:
    """θ = 0: every sample leaves at exit1, with exit1's test accuracy from the card; θ = 1:
    (almost) all at the final head, whose answers are the whole model's ``correct``."""
    first = exit_table(EXITS, 0.0)
    assert first.rate(0) == 1.0
    assert first.accuracy() == EXITS.card["head_test_accuracy"]["exit1.fc"]
    last = exit_table(EXITS, 1.0)
    at_final = last.taken == 2
    assert at_final.mean() > 0.95
    assert np.array_equal(last.correct[at_final], correct(EXITS)[at_final])


def test_a_higher_threshold_sends_more_samples_deeper() -> None:
    """Raising θ never moves a sample to an earlier exit, and the final head's share
    grows from θ = 0.5 to 0.99."""
    low, high = exit_table(EXITS, 0.5), exit_table(EXITS, 0.99)
    assert np.all(high.taken >= low.taken)
    assert high.rate(2) > low.rate(2)


@pytest.mark.parametrize("threshold", [-0.1, 1.5, float("nan")])
def test_threshold_outside_zero_one_is_refused(threshold: float) -> None:
    with pytest.raises(ExitError, match=r"threshold: must be within \[0, 1\]"):
        exit_table(EXITS, threshold)


def test_head_index_out_of_range_names_the_heads() -> None:
    with pytest.raises(ExitError, match=r"head 3 out of range \(0-2: \('exit1', 'exit2'"):
        exit_table(EXITS, 0.9).rate(3)


def test_exit_table_is_cached_per_model_file(tmp_path: Path) -> None:
    """A different file of the same name (exit1's last layer zeroed) is measured anew:
    nothing leaves early at a threshold a constant guess cannot reach."""
    before = exit_table(EXITS, 0.5)
    copy = tmp_path / EXITS.onnx_path.name
    onnx.save(damaged(MODEL, Damage.parse(["exit1.conv2:0-31"])), copy)
    copy.with_suffix(".json").write_text(EXITS.card_path.read_text())
    after = exit_table(read(copy), 0.5)
    assert before.rate(0) > 0.5 and after.rate(0) == 0.0
