"""Distilled students and their aggregator: accuracy for every subset of surviving students.

A RoCoIn ensemble (``models.training.distill`` makes one) is K ``nonn_student`` models,
student k trained on part k of the teacher's last filters, and a ``nonn_aggregator``
classifying the concatenation of their pooled features. When students are lost (their
device group failed or timed out) the aggregator classifies with the others: **the missing
students' features are zeroed**, which is what it was trained for (whole-student dropout).

``correct(ensemble, alive)`` is the per-test-sample answer the simulation looks up for a
request served by the students in ``alive``; ``table(ensemble)`` is every subset's
accuracy with its 95 % Wilson interval. Both are measured with onnxruntime (the students
once each on the test split, the aggregator once per subset) and cached under
``$EDGESIM_CACHE/accuracy/``, keyed by the hash of all the ensemble's files.

An ensemble is a folder ``KEY/`` (``student0.onnx`` …, ``aggregator.onnx`` and the card
``ensemble.json``), found in ``models/trained/`` (committed) or the cache, and distilled
only when neither has it (that needs the ``edgesim[train]`` extra). This module imports
neither JAX nor, until it measures, onnxruntime.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from models import ModelError
from models.accuracy import Row, outputs
from models.data import load
from models.training import COMMITTED, Recipe, TrainingError, cache_dir


@dataclass(frozen=True, slots=True)
class DistillRecipe:
    """What to distil: K students of one width from a trained teacher, seeds and epochs."""

    students: int
    width: int = 8
    teacher: Recipe = field(default_factory=lambda: Recipe("resnet8"))
    seed: int = 0
    epochs: int = 16
    aggregator_epochs: int = 10
    drop: float = 0.5

    @property
    def key(self) -> str:
        """The folder name, e.g. ``nonn-k3-width8-resnet8-mnist5k-seed0-e6-seed0-e16``."""
        own = f"seed{self.seed}-e{self.epochs}"
        return f"nonn-k{self.students}-width{self.width}-{self.teacher.key}-{own}"


@dataclass(frozen=True, slots=True)
class Ensemble:
    """Distilled students and their aggregator on disk, with the card."""

    folder: Path
    card: dict[str, Any]

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def size(self) -> int:
        """K, the number of students."""
        return int(self.card["students"])

    def student(self, k: int) -> Path:
        return self.folder / f"student{k}.onnx"

    @property
    def aggregator(self) -> Path:
        return self.folder / "aggregator.onnx"

    def __repr__(self) -> str:
        return f"Ensemble({self.name}, all students {self.card.get('test_accuracy')})"


CARD = "ensemble.json"


def read(folder: Path) -> Ensemble:
    """An ensemble from its folder (refused if the card is missing)."""
    card = folder / CARD
    if not card.exists():
        raise TrainingError(f"{folder}: no {CARD} (not a distilled ensemble)")
    return Ensemble(folder, json.loads(card.read_text(encoding="utf-8")))


def obtain(recipe: DistillRecipe, folder: Path | None = None) -> Ensemble:
    """The ensemble of ``recipe``: committed, cached, or distilled now (into ``folder``)."""
    if folder is None:
        for place in (COMMITTED, cache_dir()):
            if (place / recipe.key / CARD).exists():
                return read(place / recipe.key)
    try:
        from models.training.distill import distill
    except ImportError as exc:
        raise TrainingError(
            f"distilling {recipe.key} needs JAX and optax (pip install 'edgesim[train]'): {exc}"
        ) from None
    return distill(recipe, folder or cache_dir())


def _check(ensemble: Ensemble, alive: frozenset[int]) -> None:
    bad = sorted(k for k in alive if not 0 <= k < ensemble.size)
    if bad:
        raise ModelError(
            f"alive: {ensemble.name} has students 0-{ensemble.size - 1} (got {bad[0]})"
        )


def correct(ensemble: Ensemble, alive: frozenset[int]) -> np.ndarray:
    """Per test sample: does the aggregator, with only ``alive`` students' features (the
    others zeroed), classify it correctly? (cached)"""
    _check(ensemble, alive)
    target = results_dir(ensemble) / f"alive-{'-'.join(map(str, sorted(alive))) or 'none'}.npy"
    if target.exists():
        cached: np.ndarray = np.load(target)
        return cached
    feats = [features(ensemble, k) for k in range(ensemble.size)]
    kept = [f if k in alive else np.zeros_like(f) for k, f in enumerate(feats)]
    joined = np.concatenate(kept, axis=1)
    labels = load(ensemble.card["dataset"]).test.labels
    hits: np.ndarray = outputs(onnx.load(ensemble.aggregator), joined)[-1].argmax(axis=1) == labels
    _save(target, hits)
    return hits


def features(ensemble: Ensemble, k: int) -> np.ndarray:
    """Student k's pooled features on the test split (N × its part's size; cached)."""
    target = results_dir(ensemble) / f"features{k}.npy"
    if target.exists():
        cached: np.ndarray = np.load(target)
        return cached
    test = load(ensemble.card["dataset"]).test
    out = outputs(onnx.load(ensemble.student(k)), test.images)[0]
    _save(target, out)
    return out


def subsets(k: int) -> list[frozenset[int]]:
    """Every subset of ``k`` students, the full set first, then by size downwards."""
    return [frozenset(c) for size in range(k, -1, -1) for c in combinations(range(k), size)]


def table(ensemble: Ensemble) -> list[Row]:
    """The subset table: the aggregator's accuracy for every subset of live students."""
    rows = []
    for alive in subsets(ensemble.size):
        hits = correct(ensemble, alive)
        label = "students " + (",".join(map(str, sorted(alive))) or "none")
        rows.append(Row(ensemble.name, label, int(hits.sum()), len(hits)))
    return rows


def results_dir(ensemble: Ensemble) -> Path:
    """Where the per-subset tables of ``ensemble`` are cached (keyed by its files)."""
    from models.zoo import cache_dir as zoo_cache

    digest = hashlib.sha256()
    for path in sorted(ensemble.folder.glob("*.onnx")):
        digest.update(path.read_bytes())
    return zoo_cache() / "accuracy" / f"{ensemble.name}-{digest.hexdigest()[:16]}"


def _save(target: Path, value: np.ndarray) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".tmp{os.getpid()}.npy")
    np.save(tmp, value)
    os.replace(tmp, target)
