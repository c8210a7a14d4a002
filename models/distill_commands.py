"""``edgesim model distill``: K NoNN students of a trained teacher and their subset table.

``distill --students K [--width W] [--seed S] [--epochs E] [--out DIR]`` finds the
ensemble (committed or cached) or distils it from the trained ``resnet8`` teacher
(``models.training.distill``), then prints its partition and the aggregator's test
accuracy for every subset of live students with its 95 % interval (``models.ensemble``).

Only the standard library is imported here: the work is imported when the command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(verbs: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``distill`` to the ``edgesim model`` subcommands."""
    p = verbs.add_parser("distill", help="distil the teacher into K students (RoCoIn / NoNN)")
    p.add_argument("--students", type=int, required=True, metavar="K")
    p.add_argument("--width", type=int, default=8, help="each student's width (default 8)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=16, help="student epochs (default 16)")
    p.add_argument("--out", type=Path, help="folder for the ensemble (default: cache)")
    p.set_defaults(handler=_distill)


MAX_STUDENTS = 8
"""More students than this would make the subset table (2^K rows) unreadable here."""


def _distill(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from models import ModelError
    from models.ensemble import DistillRecipe, obtain, table

    if not 2 <= args.students <= MAX_STUDENTS:
        raise ModelError(f"--students: must be within 2-{MAX_STUDENTS} (got {args.students})")
    for name in ("width", "epochs"):
        if getattr(args, name) < 1:
            raise ModelError(f"--{name}: must be positive (got {getattr(args, name)})")
    recipe = DistillRecipe(args.students, args.width, seed=args.seed, epochs=args.epochs)
    ensemble = obtain(recipe, args.out)
    card = ensemble.card
    sizes = "/".join(str(len(p)) for p in card["partition"])
    print(
        f"{ensemble.name}: {card['students']} students of width {card['width']} "
        f"from {card['teacher']} ({card['teacher_test_accuracy'] * 100:.1f} %); "
        f"filters {sizes} from {len(card['communities'])} Louvain communities "
        f"(modularity {card['modularity']:.3f})"
    )
    out = Table(title=f"{ensemble.name}: accuracy by live students", title_justify="left")
    for col in ("live", "correct", "accuracy %", "95 % interval"):
        out.add_column(col, justify="left" if col == "live" else "right")
    for row in table(ensemble):
        low, high = row.interval
        out.add_row(
            row.damage,
            f"{row.hits}/{row.n}",
            f"{row.accuracy * 100:.1f}",
            f"{low * 100:.1f} – {high * 100:.1f}",
        )
    Console().print(out)
    print(ensemble.folder)
    return 0
