"""Trained zoo models: what to train (a recipe), where the result lives, and its card.

A ``Recipe`` names a zoo architecture, its parameters, a packaged dataset
(``models.data``), the training seed and the epochs; its ``key`` names the files. A
trained model is an ONNX file written by the zoo's own builder with the trained weights,
beside a JSON card (dataset, split, seed, epochs, accuracy, library versions). ``obtain``
finds it in ``models/trained/`` (the few committed ones, remade by
``bench/train_committed.py``) or in the cache (``$EDGESIM_CACHE/trained``), and trains it
only when neither has it, which needs the ``edgesim[train]`` extra (JAX and optax).

This module imports neither JAX nor onnxruntime: looking a model up is cheap.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models import ModelError

COMMITTED = Path(__file__).resolve().parent.parent / "trained"
"""Trained models kept in the repository (small ones that tests and examples use)."""

DEFAULT_EPOCHS = {"resnet8": 6, "cnn_student": 8, "resnet8_exits": 6}
"""Epochs per architecture when a recipe does not say: enough to pass 95 % on mnist5k."""

OUTPUT_WEIGHTS = {"resnet8_exits": (0.4, 0.7, 1.0)}
"""Architectures trained on several outputs at once (early exits, jointly): the weight of
each head's cross-entropy in the loss, in graph order. Others train their last output."""


class TrainingError(ModelError):
    """A model that cannot be trained here, with the reason (e.g. JAX not installed)."""


@dataclass(frozen=True, slots=True)
class Recipe:
    """What to train: architecture, its integer parameters, dataset, seed, epochs, batch."""

    arch: str
    params: tuple[tuple[str, int], ...] = ()
    dataset: str = "mnist5k"
    seed: int = 0
    epochs: int = 0
    batch: int = 64
    learning_rate: float = 3e-3

    def __post_init__(self) -> None:
        if self.epochs <= 0:
            object.__setattr__(self, "epochs", DEFAULT_EPOCHS.get(self.arch, 6))
        object.__setattr__(self, "params", tuple(sorted(self.params)))

    @property
    def key(self) -> str:
        """The file stem, e.g. ``cnn_student-width8-mnist5k-seed0-e6``."""
        suffix = "".join(f"-{k}{v}" for k, v in self.params)
        return f"{self.arch}{suffix}-{self.dataset}-seed{self.seed}-e{self.epochs}"


@dataclass(frozen=True, slots=True)
class Trained:
    """A trained model on disk: its ONNX file and its card."""

    onnx_path: Path
    card: dict[str, Any]

    @property
    def name(self) -> str:
        return self.onnx_path.stem

    @property
    def card_path(self) -> Path:
        return self.onnx_path.with_suffix(".json")

    def __repr__(self) -> str:
        return f"Trained({self.name}, test accuracy {self.card.get('test_accuracy')})"


def cache_dir() -> Path:
    from models.zoo import cache_dir as zoo_cache

    return zoo_cache() / "trained"


def read(onnx_path: Path) -> Trained:
    """A trained model from its ONNX file (the card is the ``.json`` beside it)."""
    card = onnx_path.with_suffix(".json")
    if not card.exists():
        raise TrainingError(f"{onnx_path}: no card {card.name} beside it (not a trained model)")
    return Trained(onnx_path, json.loads(card.read_text(encoding="utf-8")))


def find(recipe: Recipe) -> Trained | None:
    """The committed or cached model of ``recipe``, if there is one."""
    for folder in (COMMITTED, cache_dir()):
        path = folder / f"{recipe.key}.onnx"
        if path.exists() and path.with_suffix(".json").exists():
            return read(path)
    return None


def obtain(recipe: Recipe, folder: Path | None = None) -> Trained:
    """The trained model of ``recipe``: found, or trained now and cached (or put in
    ``folder``)."""
    found = find(recipe) if folder is None else None
    if found is not None:
        return found
    try:
        from models.training.loop import train
    except ImportError as exc:
        raise TrainingError(
            f"training {recipe.key} needs JAX and optax (pip install 'edgesim[train]'): {exc}"
        ) from None
    return train(recipe, folder or cache_dir())
