"""Training a zoo architecture with JAX and optax, and writing it through the zoo builder.

The builder makes the seeded network (its initial weights are the zoo's), ``models.jaxnet``
turns that graph into a JAX function, Adam with a cosine-decayed step size minimises the
cross-entropy over mini-batches drawn by a generator seeded with the recipe's seed, and
the trained parameters go back through the builder (``weights=``). The card records the
validation accuracy after every epoch, the test accuracy measured with onnxruntime on the
exported file, the largest difference between that file and the JAX forward pass on the
test split, and the library versions: retraining on another platform is expected to
reproduce the accuracy, not the bits.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import onnx
import optax

from models import data
from models.accuracy import outputs
from models.jaxnet import Params, network_outputs, to_numpy
from models.notice import Step, working
from models.profile import profile
from models.training import OUTPUT_WEIGHTS, Recipe, Trained
from models.zoo import BUILDERS

LIBRARIES = ("jax", "jaxlib", "optax", "numpy", "onnx", "onnxruntime")


def build(recipe: Recipe, weights: dict[str, np.ndarray] | None = None) -> onnx.ModelProto:
    """The recipe's architecture from the zoo builder, sized for its dataset."""
    spec = data.dataset(recipe.dataset)
    channels, size, _ = spec.shape
    return BUILDERS[recipe.arch](
        seed=recipe.seed,
        classes=spec.classes,
        channels=channels,
        size=size,
        weights=weights,
        **dict(recipe.params),
    )


def fit(
    recipe: Recipe, splits: data.Splits, step: Step | None = None
) -> tuple[Params, list[float]]:
    """Trained parameters and the validation accuracy (final classifier) after each epoch.

    The loss is the cross-entropy of the final classifier or, for an architecture with
    early exits, the ``OUTPUT_WEIGHTS``-weighted sum over its heads (joint training)."""
    params, apply_all = network_outputs(build(recipe))
    weights = OUTPUT_WEIGHTS.get(recipe.arch, (1.0,))

    def loss(p: Params, x: jax.Array, y: jax.Array) -> jax.Array:
        heads = apply_all(p, x)[-len(weights) :]
        terms = [
            w * optax.softmax_cross_entropy_with_integer_labels(out, y).mean()
            for w, out in zip(weights, heads, strict=True)
        ]
        total: jax.Array = sum(terms[1:], terms[0])
        return total

    predict = jax.jit(lambda p, x: jnp.argmax(apply_all(p, x)[-1], axis=1))
    history: list[float] = []

    def validate(p: Params) -> None:
        guess = np.asarray(predict(p, jnp.asarray(splits.validation.images)))
        history.append(float(np.mean(guess == splits.validation.labels)))
        if step is not None:
            step(len(history), f"validation accuracy {history[-1] * 100:.1f} %")

    arrays = (splits.train.images, splits.train.labels)
    return minimise(params, loss, arrays, recipe, validate), history


def minimise(
    params: Params,
    loss: Callable[..., jax.Array],
    arrays: tuple[np.ndarray, ...],
    recipe: Recipe,
    after_epoch: Callable[[Params], None] | None = None,
) -> Params:
    """Adam with a cosine-decayed step size on ``loss(params, *batch)``, over mini-batches
    of ``arrays`` (rows drawn without replacement each epoch by a generator seeded with the
    recipe's seed): the one optimiser every trained model here goes through."""
    steps_per_epoch = len(arrays[0]) // recipe.batch
    schedule = optax.cosine_decay_schedule(recipe.learning_rate, recipe.epochs * steps_per_epoch)
    optimiser = optax.adam(schedule)
    state = optimiser.init(params)

    @jax.jit
    def step(p: Params, s: Any, *batch: jax.Array) -> tuple[Params, Any]:
        grads = jax.grad(loss)(p, *batch)
        updates, s = optimiser.update(grads, s, p)
        return optax.apply_updates(p, updates), s

    rng = np.random.default_rng(recipe.seed)
    device = [jnp.asarray(a) for a in arrays]
    for _ in range(recipe.epochs):
        order = rng.permutation(len(arrays[0]))[: steps_per_epoch * recipe.batch]
        for rows in order.reshape(steps_per_epoch, recipe.batch):
            params, state = step(params, state, *(a[rows] for a in device))
        if after_epoch is not None:
            after_epoch(params)
    return params


def train(recipe: Recipe, folder: Path) -> Trained:
    """Train ``recipe``, write ``KEY.onnx`` and ``KEY.json`` into ``folder`` (whole files)."""
    splits = data.load(recipe.dataset)
    started = time.perf_counter()
    with working(f"training {recipe.key}", recipe.epochs) as step:
        params, history = fit(recipe, splits, step)
    seconds = time.perf_counter() - started
    model = build(recipe, to_numpy(params))
    _, apply_all = network_outputs(model)
    onnx_outs = outputs(model, splits.test.images)
    jax_outs = [np.asarray(o) for o in jax.jit(apply_all)(params, jnp.asarray(splits.test.images))]
    exported = onnx_outs[-1]
    prof = profile(model)
    card = {
        "name": recipe.key,
        "architecture": recipe.arch,
        "params": dict(recipe.params),
        "dataset": recipe.dataset,
        "dataset_licence": splits.dataset.licence,
        "split": splits.describe(),
        "split_seed": data.SPLIT_SEED,
        "seed": recipe.seed,
        "epochs": recipe.epochs,
        "batch": recipe.batch,
        "optimiser": f"adam, cosine-decayed step size from {recipe.learning_rate}",
        "validation_accuracy": history,
        "test_accuracy": float(np.mean(exported.argmax(axis=1) == splits.test.labels)),
        "test_samples": len(splits.test),
        "onnx_vs_jax_max_abs_diff": max(
            float(np.abs(a - b).max()) for a, b in zip(onnx_outs, jax_outs, strict=True)
        ),
        "parameters": prof.parameters,
        "macs": prof.macs,
        "train_seconds": round(seconds, 1),
        "versions": {lib: version(lib) for lib in LIBRARIES}
        | {"python": platform.python_version()},
        "onnx_sha256": hashlib.sha256(model.SerializeToString()).hexdigest(),
    }
    if len(onnx_outs) > 1:
        card["head_test_accuracy"] = {
            o.name: float(np.mean(a.argmax(axis=1) == splits.test.labels))
            for o, a in zip(model.graph.output, onnx_outs, strict=True)
        }
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{recipe.key}.onnx"
    _write(target, model.SerializeToString())
    _write(target.with_suffix(".json"), (json.dumps(card, indent=2) + "\n").encode())
    return Trained(target, card)


def _write(target: Path, payload: bytes) -> None:
    tmp = target.with_suffix(f"{target.suffix}.tmp{os.getpid()}")
    tmp.write_bytes(payload)
    os.replace(tmp, target)
