"""``edgesim model train`` and ``edgesim model accuracy``: trained models and their damage table.

``train ARCH`` trains a zoo architecture on a packaged dataset (``models.training``) and
prints its card; ``accuracy MODEL [--zero LAYER:CHANNELS …]`` prints the test accuracy of
a trained model, intact and with the given channels zeroed, each with its 95 % interval.
MODEL is a trainable architecture (with the same recipe options as ``train``; trained
first if neither committed nor cached) or a trained ``.onnx`` file with its card beside it.

While a model is trained (not when it is found committed or cached), a line on stderr
says so: a spinner on a terminal, one line otherwise, nothing with ``--quiet``.

Only the standard library is imported here: the work is imported when a command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from models.training import Recipe, Trained


def register(verbs: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``train`` and ``accuracy`` to the ``edgesim model`` subcommands."""
    train = verbs.add_parser("train", help="train a zoo architecture on a packaged dataset")
    _recipe_options(train, "ARCH")
    train.add_argument("--out", type=Path, help="folder for the model and card (default: cache)")
    train.set_defaults(handler=_train)
    acc = verbs.add_parser("accuracy", help="test accuracy, intact and with channels zeroed")
    _recipe_options(acc, "MODEL")
    acc.add_argument(
        "--zero",
        nargs="+",
        default=[],
        metavar="LAYER:CHANNELS",
        help="one damage per item: channels zeroed, e.g. conv3:0-7 or conv3:0-7+conv2:1",
    )
    acc.set_defaults(handler=_accuracy)


def _recipe_options(p: argparse.ArgumentParser, metavar: str) -> None:
    p.add_argument("model", metavar=metavar)
    p.add_argument("--dataset", default="mnist5k")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=0, help="default: the architecture's")
    p.add_argument("--width", type=int, help="the architecture's width parameter")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")


def recipe(args: argparse.Namespace) -> Recipe:
    """The recipe the options describe; an unknown architecture or dataset is refused."""
    from models import ModelError
    from models.data import dataset
    from models.training import DEFAULT_EPOCHS, Recipe

    if args.model not in DEFAULT_EPOCHS:
        known = ", ".join(sorted(DEFAULT_EPOCHS))
        raise ModelError(f"model: {args.model!r} is not a trainable architecture ({known})")
    dataset(args.dataset)
    if args.epochs < 0 or (args.width is not None and args.width < 1):
        raise ModelError("--epochs and --width: must be positive")
    params = () if args.width is None else (("width", args.width),)
    return Recipe(args.model, params, args.dataset, args.seed, args.epochs)


def _train(args: argparse.Namespace) -> int:
    from models.training import obtain

    wanted = recipe(args)
    trained = obtain(wanted, args.out)  # says on stderr while it trains (models.notice)
    _print_card(trained)
    return 0


def _print_card(trained: Trained) -> None:
    card = trained.card
    print(
        f"{trained.name}: test accuracy {card['test_accuracy'] * 100:.1f} % "
        f"on {card['test_samples']} samples ({card['dataset']}, {card['split']}); "
        f"{card['parameters']:,} parameters, {card['macs'] / 1e6:.2f} M MACs; "
        f"ONNX vs JAX max |diff| {card['onnx_vs_jax_max_abs_diff']:.1e}"
    )
    print(trained.onnx_path)


def _trained(args: argparse.Namespace) -> Trained:
    from models.training import obtain, read

    if args.model.endswith(".onnx"):
        path = Path(args.model)
        if not path.exists():
            from models import ModelError

            raise ModelError(f"model: no file {path}")
        return read(path)

    wanted = recipe(args)
    return obtain(wanted)


def _accuracy(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from models.accuracy import Damage, table

    damages = [Damage.parse(item.split("+")) for item in args.zero]
    trained = _trained(args)
    out = Table(title=f"{trained.name}: accuracy on the test split", title_justify="left")
    for col in ("damage", "correct", "accuracy %", "95 % interval"):
        out.add_column(col, justify="left" if col == "damage" else "right")
    for row in table(trained, damages):
        low, high = row.interval
        out.add_row(
            row.damage,
            f"{row.hits}/{row.n}",
            f"{row.accuracy * 100:.1f}",
            f"{low * 100:.1f} – {high * 100:.1f}",
        )
    Console().print(out)
    return 0
