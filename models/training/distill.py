"""Distilling a trained teacher into K NoNN students and training their aggregator.

1. The teacher's last feature map (the input of its global pooling, 64 filters for
   ``resnet8``) and its logits are computed with onnxruntime on the training split.
2. The filters are split into K balanced parts (``models.training.coactivation``).
3. Student k (``nonn_student``, the given width, ``features`` = part k's size) minimises
   ``CE_WEIGHT · cross-entropy(labels) + KD_WEIGHT · τ² · cross-entropy(teacher's soft
   labels at temperature τ) + FEATURE_WEIGHT · mean squared error(its pooled features,
   the teacher's pooled part-k activations, each filter divided by its standard deviation
   over the training split)``: Hinton et al.'s soft labels plus NoNN's
   "learn your part" (NoNN matches attention maps; matching the pooled activations, what
   the aggregator consumes, is our reading).
4. The aggregator (``nonn_aggregator``) is trained on the exported students' features of
   the training split under **whole-student dropout**: each epoch every sample's students
   are dropped independently with probability ``drop`` (their features zeroed), so it
   classifies with any subset (with ``drop`` = 0.5, every subset equally often).

Everything goes through ``models.training.loop.minimise`` (Adam, cosine decay, seeded
mini-batches) and the zoo builders, so the files are remade bit for bit on one machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import onnx
import optax
from onnx import helper

from models import data
from models.accuracy import outputs
from models.ensemble import CARD, DistillRecipe, Ensemble
from models.jaxnet import network, network_outputs, to_numpy
from models.notice import working
from models.profile import profile
from models.training import Recipe, obtain
from models.training.coactivation import partition
from models.training.loop import LIBRARIES, minimise
from models.zoo.small import nonn_aggregator, nonn_student

TEMPERATURE = 4.0
CE_WEIGHT, KD_WEIGHT, FEATURE_WEIGHT = 0.5, 0.5, 1.0


def teacher_outputs(model: onnx.ModelProto, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The teacher's pooled last-feature-map activations (N × F) and logits (N × classes)."""
    pool = [n for n in model.graph.node if n.op_type == "GlobalAveragePool"][-1]
    tapped = onnx.ModelProto()
    tapped.CopyFrom(model)
    fmap_info = helper.make_tensor_value_info(
        pool.input[0], onnx.TensorProto.FLOAT, [1, None, None, None]
    )
    tapped.graph.output.append(fmap_info)
    logits, fmap = outputs(tapped, images)[-2:]
    return fmap.mean(axis=(2, 3)), logits


def _student_loss(apply_all: Any) -> Any:
    def loss(
        p: Any, x: jax.Array, y: jax.Array, t_logits: jax.Array, t_feats: jax.Array
    ) -> jax.Array:
        feats, logits = apply_all(p, x)
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        soft = jax.nn.softmax(t_logits / TEMPERATURE)
        kd = optax.softmax_cross_entropy(logits / TEMPERATURE, soft).mean() * TEMPERATURE**2
        fm = jnp.mean((feats - t_feats) ** 2)
        total: jax.Array = CE_WEIGHT * ce + KD_WEIGHT * kd + FEATURE_WEIGHT * fm
        return total

    return loss


def distil_student(recipe: Recipe, arrays: tuple[np.ndarray, ...], classes: int) -> onnx.ModelProto:
    """One student trained on (images, labels, teacher logits, teacher part features)."""
    spec = dict(recipe.params)
    width, features = spec["width"], spec["features"]
    seeded = nonn_student(recipe.seed, classes, width, features)
    params, apply_all = network_outputs(seeded)
    params = minimise(params, _student_loss(apply_all), arrays, recipe)
    return nonn_student(recipe.seed, classes, width, features, weights=to_numpy(params))


def fit_aggregator(
    feats: list[np.ndarray], labels: np.ndarray, recipe: DistillRecipe, classes: int
) -> onnx.ModelProto:
    """The aggregator trained on the students' features under whole-student dropout."""
    width = sum(f.shape[1] for f in feats)
    params, apply = network(nonn_aggregator(recipe.seed, classes, width))
    rng = np.random.default_rng(recipe.seed)
    keep = rng.random((recipe.aggregator_epochs * len(labels), len(feats))) >= recipe.drop
    masks = np.repeat(keep, [f.shape[1] for f in feats], axis=1).astype(np.float32)
    joined = np.tile(np.concatenate(feats, axis=1), (recipe.aggregator_epochs, 1))
    ys = np.tile(labels, recipe.aggregator_epochs)

    def loss(p: Any, f: jax.Array, m: jax.Array, y: jax.Array) -> jax.Array:
        out = apply(p, f * m)
        value: jax.Array = optax.softmax_cross_entropy_with_integer_labels(out, y).mean()
        return value

    plan = Recipe("nonn_aggregator", (("features", width),), seed=recipe.seed, epochs=1)
    params = minimise(params, loss, (joined, masks, ys), plan)
    return nonn_aggregator(recipe.seed, classes, width, weights=to_numpy(params))


def distill(recipe: DistillRecipe, folder: Path) -> Ensemble:
    """Distil ``recipe`` and write its folder ``KEY/`` into ``folder`` (whole or not at all)."""
    started = time.perf_counter()
    teacher = obtain(recipe.teacher)
    splits = data.load(teacher.card["dataset"])
    classes = splits.dataset.classes
    t_model = onnx.load(teacher.onnx_path)
    t_feats, t_logits = teacher_outputs(t_model, splits.train.images)
    parts = partition(t_feats, recipe.students, recipe.seed)
    scale = t_feats.std(axis=0)
    scale[scale == 0] = 1.0
    t_feats = t_feats / scale
    test_feats = teacher_outputs(t_model, splits.test.images)[0] / scale
    students, cards, train_feats = [], [], []
    with working(f"distilling {recipe.key}", len(parts.parts) + 1) as step:
        for k, part in enumerate(parts.parts):
            plan = Recipe(
                "nonn_student",
                (("features", len(part)), ("width", recipe.width)),
                splits.dataset.name,
                recipe.seed + k,
                recipe.epochs,
            )
            arrays = (splits.train.images, splits.train.labels, t_logits, t_feats[:, list(part)])
            student = distil_student(plan, arrays, classes)
            students.append(student)
            train_feats.append(outputs(student, splits.train.images)[0])
            cards.append(_student_card(student, splits.test, test_feats[:, list(part)], part))
            step(k + 1, f"student {k + 1} of {len(parts.parts)}")
        aggregator = fit_aggregator(train_feats, splits.train.labels, recipe, classes)
        step(len(parts.parts) + 1, "aggregator")
    joined = np.concatenate([outputs(m, splits.test.images)[0] for m in students], axis=1)
    guess = outputs(aggregator, joined)[-1].argmax(axis=1)
    card = {
        "name": recipe.key,
        "students": recipe.students,
        "width": recipe.width,
        "teacher": teacher.name,
        "teacher_sha256": teacher.card["onnx_sha256"],
        "teacher_test_accuracy": teacher.card["test_accuracy"],
        "dataset": splits.dataset.name,
        "split": splits.describe(),
        "seed": recipe.seed,
        "epochs": recipe.epochs,
        "aggregator_epochs": recipe.aggregator_epochs,
        "whole_student_dropout": recipe.drop,
        "loss": f"{CE_WEIGHT} CE + {KD_WEIGHT} τ² KD (τ = {TEMPERATURE})"
        f" + {FEATURE_WEIGHT} MSE(part)",
        "partition": [list(p) for p in parts.parts],
        "communities": [list(c) for c in parts.communities],
        "modularity": parts.modularity,
        "per_student": cards,
        "test_accuracy": float(np.mean(guess == splits.test.labels)),
        "train_seconds": round(time.perf_counter() - started, 1),
        "versions": {lib: version(lib) for lib in LIBRARIES},
    }
    return _write(folder / recipe.key, students, aggregator, card)


def _student_card(
    student: onnx.ModelProto, test: data.Split, target: np.ndarray, part: tuple[int, ...]
) -> dict[str, Any]:
    feats, logits = outputs(student, test.images)
    params, apply_all = network_outputs(student)
    jax_outs = apply_all(params, jnp.asarray(test.images))
    residual = ((feats - target) ** 2).sum()
    spread = ((target - target.mean(axis=0)) ** 2).sum()
    prof = profile(student)
    return {
        "features": len(part),
        "own_classifier_test_accuracy": float(np.mean(logits.argmax(axis=1) == test.labels)),
        "part_r2_on_test": float(1 - residual / spread),
        "onnx_vs_jax_max_abs_diff": max(
            float(np.abs(a - np.asarray(b)).max())
            for a, b in zip((feats, logits), jax_outs, strict=True)
        ),
        "parameters": prof.parameters,
        "macs": prof.macs,
        "onnx_sha256": hashlib.sha256(student.SerializeToString()).hexdigest(),
    }


def _write(
    target: Path, students: list[onnx.ModelProto], aggregator: onnx.ModelProto, card: dict[str, Any]
) -> Ensemble:
    scratch = target.with_name(f"{target.name}.tmp{os.getpid()}")
    scratch.mkdir(parents=True, exist_ok=True)
    for k, student in enumerate(students):
        (scratch / f"student{k}.onnx").write_bytes(student.SerializeToString())
    (scratch / "aggregator.onnx").write_bytes(aggregator.SerializeToString())
    (scratch / CARD).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    if target.exists():
        shutil.rmtree(target)
    os.replace(scratch, target)
    return Ensemble(target, card)
