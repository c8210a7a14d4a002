"""Spread of test accuracy over training seeds for the committed recipes.

    .venv/bin/python bench/train_seeds.py [--seeds 0-4] [--recipe resnet8 …] [--ensembles 3 …]

Each committed recipe (``bench/train_committed.py``'s ``RECIPES``) is trained once per seed
into a scratch folder (the split stays fixed: only the initial weights and the order of the
mini-batches change) and its test accuracy measured with onnxruntime on the 1,000 test
images. Prints one line per run and, per recipe, the mean, the sample standard deviation,
the range, and the 95 % Wilson interval of one run for comparison: a seed's spread wider
than one run's interval means the single committed figure understates the uncertainty.
A model with early exits also prints each head's accuracy. ``--ensembles K …`` does the same
for the distilled RoCoIn ensembles of K students (the teacher stays the committed one; the
seed changes the Louvain partition, the students and the aggregator): the all-students
accuracy and the worst single student's.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.train_committed import ENSEMBLES, RECIPES
from models.accuracy import wilson
from models.ensemble import DistillRecipe, subsets, table
from models.training import Recipe
from models.training.distill import distill
from models.training.loop import train


def _seeds(text: str) -> list[int]:
    first, _, last = text.partition("-")
    return list(range(int(first), int(last or first) + 1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=_seeds, default=_seeds("0-4"), help="e.g. 0-4")
    parser.add_argument("--recipe", nargs="*", help="recipe keys' architecture prefix")
    parser.add_argument("--ensembles", nargs="*", type=int, default=[], metavar="K")
    args = parser.parse_args()
    chosen = args.recipe if args.recipe is not None or not args.ensembles else ["none"]
    recipes = [r for r in RECIPES if not chosen or r.key.startswith(tuple(chosen))]
    with tempfile.TemporaryDirectory() as scratch:
        for ens in (e for e in ENSEMBLES if e.students in args.ensembles):
            _ensemble_spread(ens, args.seeds, Path(scratch))
        for recipe in recipes:
            _recipe_spread(recipe, args.seeds, Path(scratch))
    return 0


def _recipe_spread(recipe: Recipe, seeds: list[int], scratch: Path) -> None:
    scores = []
    for seed in seeds:
        card = train(replace(recipe, seed=seed), scratch).card
        scores.append(card["test_accuracy"])
        heads = " / ".join(f"{v * 100:.1f}" for v in card.get("head_test_accuracy", {}).values())
        print(f"{card['name']}: {card['test_accuracy'] * 100:.1f} % {heads}", flush=True)
    n = card["test_samples"]
    mean = statistics.fmean(scores)
    sd = statistics.stdev(scores) if len(scores) > 1 else 0.0
    low, high = wilson(round(mean * n), n)
    print(
        f"{recipe.key.replace('-seed0', '')}: {len(scores)} seeds, mean "
        f"{mean * 100:.2f} %, sd {sd * 100:.2f} points, range "
        f"{min(scores) * 100:.1f}–{max(scores) * 100:.1f} %; one run's 95 % interval "
        f"at the mean {low * 100:.1f}–{high * 100:.1f} %",
        flush=True,
    )


def _ensemble_spread(ens: DistillRecipe, seeds: list[int], scratch: Path) -> None:
    full, worst = [], []
    for seed in seeds:
        rows = table(distill(replace(ens, seed=seed), scratch))
        full.append(rows[0].accuracy)
        singles = [
            r for r, alive in zip(rows, subsets(ens.students), strict=True) if len(alive) == 1
        ]
        worst.append(min(r.accuracy for r in singles))
        print(f"K={ens.students} seed {seed}: all {full[-1] * 100:.1f} %, worst single student "
              f"{worst[-1] * 100:.1f} %", flush=True)  # fmt: skip
    print(
        f"K={ens.students}: {len(seeds)} seeds, all students mean {statistics.fmean(full) * 100:.2f} "
        f"%, range {min(full) * 100:.1f}–{max(full) * 100:.1f} %; worst single student "
        f"{min(worst) * 100:.1f}–{max(worst) * 100:.1f} %",
        flush=True,
    )


if __name__ == "__main__":
    raise SystemExit(main())
