"""Training: fixed data splits, the builder as the one definition of an architecture, ONNX
export that agrees with the JAX forward pass, and retraining that reproduces the accuracy."""

from __future__ import annotations

from pathlib import Path

import jax.numpy as jnp
import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from models import data
from models.accuracy import logits, outputs
from models.jaxnet import network_outputs
from models.training import COMMITTED, Recipe, read
from models.training.loop import build, train
from models.zoo.graph import parameter_names

STUDENT = Recipe("cnn_student", (("width", 4),))
"""The committed model the suite retrains (about 5 s on one core)."""


def test_splits_are_disjoint_stratified_and_fixed() -> None:
    """The three splits cover the dataset once, keep each class's share, and are the same
    on every call (their seed is fixed)."""
    labels = np.repeat(np.arange(10), 50)[np.random.default_rng(1).permutation(500)]
    parts = data.split_indices(labels, (0.7, 0.1, 0.2))
    again = data.split_indices(labels, (0.7, 0.1, 0.2))
    assert all(np.array_equal(a, b) for a, b in zip(parts, again, strict=True))
    assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(500))
    for part, share in zip(parts, (0.7, 0.1, 0.2), strict=True):
        assert np.all(np.bincount(labels[part], minlength=10) == round(50 * share))


def test_packaged_dataset_loads_in_its_splits() -> None:
    """mnist5k comes from the installed package: 3,500 / 500 / 1,000 images in [0, 1]."""
    splits = data.load("mnist5k")
    assert [len(s) for s in (splits.train, splits.validation, splits.test)] == [3500, 500, 1000]
    assert splits.test.images.shape[1:] == (1, 28, 28)
    assert splits.train.images.min() >= 0.0 and splits.train.images.max() <= 1.0


def test_unknown_dataset_names_the_known_ones() -> None:
    with pytest.raises(
        data.DatasetError, match=r"unknown dataset 'cifar' \(known: digits, mnist5k\)"
    ):
        data.dataset("cifar")


def test_digits_loads_from_scikit_learn_in_fixed_stratified_splits() -> None:
    """digits: 1,797 8 × 8 images from scikit-learn's wheel, counts 0-16 scaled to [0, 1],
    the same images as ``load_digits`` and each class in every split in its share."""
    from sklearn.datasets import load_digits

    splits = data.load("digits")
    parts = (splits.train, splits.validation, splits.test)
    assert [len(s) for s in parts] == [1258, 179, 360]
    assert splits.test.images.shape[1:] == (1, 8, 8) and splits.train.images.max() == 1.0
    reference = load_digits()
    whole = np.concatenate([s.images.reshape(len(s), 64) for s in parts]) * 16
    assert np.array_equal(np.sort(whole, axis=0), np.sort(reference.data, axis=0))
    counts = np.bincount(splits.test.labels, minlength=10)
    assert np.all(np.abs(counts - np.bincount(reference.target) * 0.2) <= 1)


def test_builder_takes_the_given_weights() -> None:
    """Built with ``weights``, every parameter is the given array; a wrong shape is refused."""
    seeded = build(STUDENT)
    given = {
        t.name: np.full(numpy_helper.to_array(t).shape, i, np.float32)
        for i, t in enumerate(seeded.graph.initializer)
    }
    rebuilt = {t.name: numpy_helper.to_array(t) for t in build(STUDENT, given).graph.initializer}
    assert parameter_names(seeded) and all(
        np.array_equal(rebuilt[k], given[k]) for k in parameter_names(seeded)
    )
    given["conv1.bias"] = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match=r"conv1.bias has shape \(3,\), expected \(4,\)"):
        build(STUDENT, given)


@pytest.mark.parametrize("path", sorted(COMMITTED.glob("*.onnx")), ids=lambda p: p.stem)
def test_exported_onnx_agrees_with_the_jax_forward_pass(path: Path) -> None:
    """Each committed model: onnxruntime and the JAX function of the same graph give the
    same outputs on the test split (every head of a model with early exits; max |diff| ≤
    1e-4), and the card's accuracy is the file's final classifier's."""
    trained = read(path)
    model = onnx.load(path)
    params, apply_all = network_outputs(model)
    test = data.load(trained.card["dataset"]).test
    exported = outputs(model, test.images)
    jax_outs = apply_all(params, jnp.asarray(test.images))
    assert len(exported) == len(model.graph.output) == len(jax_outs)
    for onnx_out, jax_out in zip(exported, jax_outs, strict=True):
        assert np.abs(onnx_out - np.asarray(jax_out)).max() <= 1e-4
    assert np.mean(exported[-1].argmax(axis=1) == test.labels) == trained.card["test_accuracy"]


def test_retraining_reproduces_the_committed_accuracy(tmp_path: Path) -> None:
    """Training the committed student again from its recipe gives its test accuracy within
    0.5 points, and the card records what was trained."""
    committed = read(COMMITTED / f"{STUDENT.key}.onnx")
    again = train(STUDENT, tmp_path)
    assert abs(again.card["test_accuracy"] - committed.card["test_accuracy"]) <= 0.005
    assert again.card["onnx_vs_jax_max_abs_diff"] <= 1e-4
    assert (again.card["seed"], again.card["epochs"], again.card["params"]) == (0, 8, {"width": 4})
    assert set(again.card["versions"]) >= {"jax", "optax", "onnxruntime"}


def test_trained_weights_are_exported_not_the_seeded_ones() -> None:
    """The committed student classifies far above chance; the seeded network of the same
    recipe (the weights training started from) does not."""
    committed = read(COMMITTED / f"{STUDENT.key}.onnx")
    test = data.load("mnist5k").test
    seeded = np.mean(logits(build(STUDENT), test.images).argmax(axis=1) == test.labels)
    assert seeded < 0.3 and committed.card["test_accuracy"] > 0.8
