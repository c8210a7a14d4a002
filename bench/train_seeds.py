"""Spread of test accuracy over training seeds for the committed recipes.

    .venv/bin/python bench/train_seeds.py [--seeds 0-4] [--recipe resnet8 …]

Each committed recipe (``bench/train_committed.py``'s ``RECIPES``) is trained once per seed
into a scratch folder (the split stays fixed: only the initial weights and the order of the
mini-batches change) and its test accuracy measured with onnxruntime on the 1,000 test
images. Prints one line per run and, per recipe, the mean, the sample standard deviation,
the range, and the 95 % Wilson interval of one run for comparison: a seed's spread wider
than one run's interval means the single committed figure understates the uncertainty.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.train_committed import RECIPES
from models.accuracy import wilson
from models.training.loop import train


def _seeds(text: str) -> list[int]:
    first, _, last = text.partition("-")
    return list(range(int(first), int(last or first) + 1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=_seeds, default=_seeds("0-4"), help="e.g. 0-4")
    parser.add_argument("--recipe", nargs="*", help="recipe keys' architecture prefix")
    args = parser.parse_args()
    recipes = [r for r in RECIPES if not args.recipe or r.key.startswith(tuple(args.recipe))]
    with tempfile.TemporaryDirectory() as scratch:
        for recipe in recipes:
            scores = []
            for seed in args.seeds:
                card = train(replace(recipe, seed=seed), Path(scratch)).card
                scores.append(card["test_accuracy"])
                print(f"{card['name']}: {card['test_accuracy'] * 100:.1f} %", flush=True)
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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
