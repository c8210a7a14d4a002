"""RoCoIn students: NoNN's balanced filter partition, students distilled to their part, an
aggregator that classifies with any subset (whole-student dropout), the subset table with
missing students zeroed, its cache and its command."""

from __future__ import annotations

import argparse
import hashlib
import shutil
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import onnx
import pytest

from models import ModelError, data
from models.accuracy import Damage, damaged, outputs
from models.distill_commands import register
from models.ensemble import DistillRecipe, correct, features, read, subsets, table
from models.jaxnet import network_outputs
from models.training import COMMITTED, Recipe, obtain
from models.training.coactivation import balance, partition
from models.training.distill import fit_aggregator, teacher_outputs

K2 = read(COMMITTED / DistillRecipe(2).key)
K3 = read(COMMITTED / DistillRecipe(3).key)
TEST = data.load("mnist5k").test


def _planted(groups: int, size: int, seed: int = 0) -> np.ndarray:
    """Activations of groups × size filters: a group's filters fire on its own images."""
    rng = np.random.default_rng(seed)
    owner = rng.integers(0, groups, 2000)
    base = (owner[:, None] == np.repeat(np.arange(groups), size)[None, :]).astype(np.float64)
    return base * rng.uniform(0.5, 1.5, base.shape) + rng.uniform(0, 0.05, base.shape)


def test_louvain_finds_planted_groups_and_keeps_them_whole() -> None:
    """Four planted groups of 16 filters: K = 4 gives exactly the groups, K = 2 two whole
    groups per part."""
    groups = [tuple(range(16 * g, 16 * g + 16)) for g in range(4)]
    four = partition(_planted(4, 16), 4, seed=0)
    assert sorted(four.parts) == groups and four.modularity > 0.5
    two = partition(_planted(4, 16), 2, seed=0)
    assert all(sum(set(g) <= set(p) for g in groups) == 2 for p in two.parts)


def test_balance_splits_a_community_too_large_for_its_part() -> None:
    """Communities of 10, 1 and 1 filters into 3 parts: 4 / 4 / 4, disjoint, covering all,
    the big community's most connected filters kept together in the first part; 14
    filters into 3 parts: 5 / 5 / 4."""
    weights = np.zeros((12, 12))
    weights[:4, :10] = weights[:10, :4] = 1.0
    np.fill_diagonal(weights, 0.0)
    parts = balance([tuple(range(10)), (10,), (11,)], weights, 3)
    assert sorted(len(p) for p in parts) == [4, 4, 4]
    assert sorted(f for p in parts for f in p) == list(range(12))
    assert parts[0] == (0, 1, 2, 3)
    uneven = balance([tuple(range(12)), (12,), (13,)], np.zeros((14, 14)), 3)
    assert sorted(len(p) for p in uneven) == [4, 5, 5]


@pytest.mark.parametrize("k", [2, 3, 4])
def test_committed_partitions_are_balanced_and_disjoint(k: int) -> None:
    parts = read(COMMITTED / DistillRecipe(k).key).card["partition"]
    assert sorted(f for p in parts for f in p) == list(range(64))
    assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_students_learnt_their_own_part() -> None:
    """Each student's features follow the teacher's filters of its own part (mean
    per-filter correlation on the test split > 0.4) and not the other part's (< 0.1)."""
    teacher = onnx.load(obtain(Recipe("resnet8")).onnx_path)
    target, _ = teacher_outputs(teacher, TEST.images)
    parts = K2.card["partition"]

    def corr(a: np.ndarray, b: np.ndarray) -> float:
        za = (a - a.mean(0)) / (a.std(0) + 1e-9)
        zb = (b - b.mean(0)) / (b.std(0) + 1e-9)
        return float((za * zb).mean(0).mean())

    for k in (0, 1):
        own, other = (corr(features(K2, k), target[:, parts[j]]) for j in (k, 1 - k))
        assert own > 0.4 and other < 0.1


def test_all_students_score_the_card_and_none_is_one_class() -> None:
    assert correct(K3, frozenset({0, 1, 2})).mean() == K3.card["test_accuracy"]
    assert correct(K3, frozenset()).mean() == pytest.approx(0.1)


def test_missing_students_are_zeroed_at_the_aggregator() -> None:
    """Students 0 and 2 alive: the answer is the aggregator's on their features with
    student 1's zeroed, each model run here with onnxruntime."""
    feats = [outputs(onnx.load(K3.student(k)), TEST.images)[0] for k in range(3)]
    feats[1] = np.zeros_like(feats[1])
    logits = outputs(onnx.load(K3.aggregator), np.concatenate(feats, axis=1))[-1]
    assert np.array_equal(correct(K3, frozenset({0, 2})), logits.argmax(axis=1) == TEST.labels)


def test_subset_table_has_every_subset_and_degrades_gracefully() -> None:
    """2^K rows, all students first; any single student still classifies above 85 %, and
    all of them together are within the best single student's reach or above."""
    rows = table(K3)
    assert len(rows) == 8 and rows[0].damage == "students 0,1,2" and rows[-1].n == len(TEST)
    singles = [r for r in rows if r.damage.count(",") == 0 and "none" not in r.damage]
    assert len(singles) == 3 and all(r.accuracy > 0.85 for r in singles)
    assert rows[0].accuracy >= max(r.interval[0] for r in singles)


def test_aggregator_retrains_bit_for_bit_and_dropout_is_what_lets_subsets_work() -> None:
    """Retrained from the committed students' features, the aggregator is the committed
    file; trained without whole-student dropout, a lone student does worse with it."""
    recipe = DistillRecipe(2)
    train = data.load("mnist5k").train
    feats = [outputs(onnx.load(K2.student(k)), train.images)[0] for k in range(2)]
    again = fit_aggregator(feats, train.labels, recipe, 10)
    digest = hashlib.sha256(again.SerializeToString()).hexdigest()
    assert digest == hashlib.sha256(K2.aggregator.read_bytes()).hexdigest()
    plain = fit_aggregator(feats, train.labels, DistillRecipe(2, drop=0.0), 10)
    test = [features(K2, k) for k in range(2)]
    alone = np.concatenate([test[0], np.zeros_like(test[1])], axis=1)
    dropped = np.mean(outputs(again, alone)[-1].argmax(axis=1) == TEST.labels)
    without = np.mean(outputs(plain, alone)[-1].argmax(axis=1) == TEST.labels)
    assert dropped > without + 0.05


def test_students_and_aggregator_onnx_agree_with_jax() -> None:
    """Each committed student's features and logits, and the aggregator's logits on their
    features: onnxruntime and JAX within 1e-4."""
    joined = np.concatenate([features(K3, k) for k in range(3)], axis=1)
    runs = [(K3.student(k), TEST.images) for k in range(3)] + [(K3.aggregator, joined)]
    for path, x in runs:
        model = onnx.load(path)
        params, apply_all = network_outputs(model)
        ours = outputs(model, x)
        theirs = apply_all(params, jnp.asarray(x))
        assert len(ours) == len(theirs) == len(model.graph.output)
        for a, b in zip(ours, theirs, strict=True):
            assert np.abs(a - np.asarray(b)).max() <= 1e-4


def test_subset_results_are_cached_per_ensemble_files(tmp_path: Path) -> None:
    """A copy of the folder reads the same cache; a copy whose aggregator is changed (every
    output zeroed: one class for all) is measured anew."""
    copy = tmp_path / K2.name
    shutil.copytree(K2.folder, copy)
    alive = frozenset({0})
    assert np.array_equal(correct(read(copy), alive), correct(K2, alive))
    model = damaged(onnx.load(copy / "aggregator.onnx"), Damage.parse(["fc:0-9"]))
    onnx.save(model, copy / "aggregator.onnx")
    assert correct(read(copy), alive).mean() == pytest.approx(0.1)


def test_unknown_student_is_refused_with_the_range() -> None:
    with pytest.raises(ModelError, match=r"alive: .* has students 0-2 \(got 3\)"):
        correct(K3, frozenset({0, 3}))


def test_subsets_run_from_all_to_none() -> None:
    assert subsets(2) == [frozenset({0, 1}), frozenset({0}), frozenset({1}), frozenset()]


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="verb", required=True))
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


def test_distill_command_prints_the_subset_table(capsys: pytest.CaptureFixture[str]) -> None:
    """`distill --students 2` finds the committed ensemble and prints its four subsets."""
    assert _run("distill", "--students", "2") == 0
    out = capsys.readouterr().out
    assert "Louvain" in out and "students 0,1" in out and "students none" in out
    assert f"{K2.card['test_accuracy'] * 100:.1f}" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--students", "1"], r"^--students: must be within 2-8 \(got 1\)$"),
        (["--students", "2", "--width", "0"], r"^--width: must be positive \(got 0\)$"),
    ],
)
def test_bad_distill_options_name_the_field(argv: list[str], message: str) -> None:
    with pytest.raises(ModelError, match=message):
        _run("distill", *argv)
