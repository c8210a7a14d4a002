"""Remake the trained models committed in ``models/trained/`` and compare them with the
committed files.

    .venv/bin/python bench/train_committed.py           # retrain into a scratch folder, compare
    .venv/bin/python bench/train_committed.py --write   # retrain into models/trained/

For each recipe: the test accuracy of the committed card and of the retrained model, and
whether the ONNX files are identical bit for bit; then the same for each distilled ensemble
(its all-students accuracy and its students' and aggregator's files). The stated tolerance across platforms is
0.5 points of test accuracy (tests/test_training.py checks one recipe); on the machine that
made them the files are expected to be identical.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.ensemble import DistillRecipe
from models.ensemble import read as read_ensemble
from models.training import COMMITTED, Recipe, read
from models.training.distill import distill
from models.training.loop import train

RECIPES = (
    Recipe("resnet8"),
    Recipe("cnn_student", (("width", 4),)),
    Recipe("cnn_student", (("width", 8),)),
    Recipe("resnet8_exits"),
)
"""The models tests and examples use: the teacher, two students, the teacher with exits."""

ENSEMBLES = tuple(
    DistillRecipe(k) for k in (1, 2, 3, 4, 8)
)  # 1 and 8: the RoCoIn study's baselines
"""The distilled RoCoIn ensembles (of the committed teacher), width 8."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="write into models/trained/")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = COMMITTED if args.write else Path(scratch)
        worst = 0.0
        for recipe in RECIPES:
            committed = COMMITTED / f"{recipe.key}.onnx"
            old = read(committed) if committed.exists() else None
            new = train(recipe, folder)
            line = f"{recipe.key}: test accuracy {new.card['test_accuracy'] * 100:.1f} %"
            line += f", {new.card['train_seconds']} s"
            if old is not None and not args.write:
                gap = abs(new.card["test_accuracy"] - old.card["test_accuracy"]) * 100
                same = _sha(committed) == _sha(new.onnx_path)
                worst = max(worst, gap)
                line += f" (committed {old.card['test_accuracy'] * 100:.1f} %, "
                line += f"{'identical file' if same else 'different bits'})"
            print(line)
        for ens in ENSEMBLES:
            place = COMMITTED / ens.key
            before = read_ensemble(place) if place.exists() and not args.write else None
            made = distill(ens, folder)
            line = f"{ens.key}: all students {made.card['test_accuracy'] * 100:.1f} %"
            line += f", {made.card['train_seconds']} s"
            if before is not None:
                gap = abs(made.card["test_accuracy"] - before.card["test_accuracy"]) * 100
                same = all(
                    _sha(place / f.name) == _sha(f) for f in sorted(made.folder.glob("*.onnx"))
                )
                worst = max(worst, gap)
                line += f" (committed {before.card['test_accuracy'] * 100:.1f} %, "
                line += f"{'identical files' if same else 'different bits'})"
            print(line, flush=True)
    return 0 if worst <= 0.5 else 1


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


if __name__ == "__main__":
    raise SystemExit(main())
