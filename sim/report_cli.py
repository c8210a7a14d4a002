"""``edgesim report``: a results folder as one HTML page, and its figures for a paper.

    edgesim report DIR [--out FILE.html] [--figures DIR] [--baseline DIR]

DIR is what ``edgesim run``, ``sweep`` or ``hil validate`` wrote, or a JSON file from
``edgesim analyze --compare --json``. The page goes to ``DIR/report.html`` (beside a
JSON file: ``NAME.html``) unless ``--out`` says otherwise; ``--figures`` also writes
each figure as PNG and PDF; ``--baseline`` sets another run's figures beside this
one's. Exit status 0, or 2 (one line, nothing written) for a path that holds no
results. matplotlib is imported only here, never by ``run`` without ``--report``.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``report`` subcommand to ``edgesim``'s subparsers."""
    p = sub.add_parser("report", help="write a results folder as an HTML page with figures")
    p.add_argument("dir", type=Path, metavar="DIR",
                   help="a run, sweep or validation folder, or an analyze --json file")  # fmt: skip
    p.add_argument(
        "--out", type=Path, metavar="FILE.html", help="the page (default DIR/report.html)"
    )
    p.add_argument(
        "--figures", type=Path, metavar="DIR", help="also write each figure as PNG and PDF"
    )
    p.add_argument("--baseline", type=Path, metavar="DIR", help="a run to set beside this one")
    p.add_argument("--quiet", action="store_true", help="print nothing on success")
    p.set_defaults(handler=_report)


def default_page(path: Path) -> Path:
    """Where the page goes without ``--out``."""
    return path.with_suffix(".html") if path.is_file() else path / "report.html"


def _report(args: argparse.Namespace) -> int:
    written = report(args.dir, args.out, args.figures, args.baseline)
    if not args.quiet:
        print(f"report in {written}")
    return 0


def report(path: Path, out: Path | None = None, figures: Path | None = None,
           baseline: Path | None = None) -> Path:  # fmt: skip
    """Write the report of ``path``; the page's path. :class:`sim.cli.UsageError` for a
    path that holds no results (nothing is written then)."""
    from analysis.reporting.page import build
    from analysis.reporting.results import ResultsError, read
    from sim.cli import UsageError

    page = out if out is not None else default_page(path)
    if page.suffix != ".html":
        raise UsageError(f"--out: the page must be an .html file (got {page})")
    try:
        results = read(path, baseline)
    except ResultsError as exc:
        raise UsageError(str(exc)) from None
    return build(results, page, figures).page
