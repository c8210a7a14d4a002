"""``edgesim sweep``: every variant of a scenario, replicated, into a resumable folder.

    edgesim sweep FILE --out DIR [--set PATH=V1,V2,...] [--replications N] [--seed S]
        [--executor dask|processes|inprocess] [--workers N] [--scheduler tcp://HOST:8786]
        [--records none|summary|all] [--format parquet|csv] [--force]

FILE is a sweep file (``scenario:`` and ``sweep:``) or a scenario file with ``--set``
(docs/experiments.md). Every variant is validated before anything runs. Exit status: 0
when every run succeeded, 1 when some failed (their errors are in ``DIR/runs/``), 2 for
bad input, 130 when interrupted (rerun the same command to resume).

Progress goes to stderr: a bar with runs done, failed and the time left on a terminal;
otherwise one line per finished run; nothing with ``--quiet``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.experiment.runs import RunResult

EXECUTOR_KINDS = ("dask", "processes", "inprocess")
RECORD_KINDS = ("none", "summary", "all")
FORMATS = ("parquet", "csv")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``sweep`` subcommand to ``edgesim``'s subparsers."""
    from sim.cli import _natural, _positive

    p = sub.add_parser("sweep", help="run every variant of a scenario into a resumable folder")
    p.add_argument("file", type=Path, metavar="FILE", help="a sweep file, or a scenario file")
    p.add_argument("--out", type=Path, required=True, help="the sweep folder (resumable)")
    p.add_argument("--set", action="append", default=[], metavar="PATH=V1,V2,...",
                   help="vary a scenario path over values (several make a grid)")  # fmt: skip
    p.add_argument("--replications", type=_positive, help="replications of each variant")
    p.add_argument("--seed", type=_natural, help="the seed of every variant")
    p.add_argument("--executor", choices=EXECUTOR_KINDS, default="dask")
    p.add_argument("--workers", type=_positive, help="worker processes (default: the cores)")
    p.add_argument("--scheduler", metavar="tcp://HOST:8786", help="an existing Dask cluster")
    p.add_argument("--records", choices=RECORD_KINDS, default="summary",
                   help="what each run keeps: all writes its requests file")  # fmt: skip
    p.add_argument("--format", choices=FORMATS, default="parquet", dest="fmt")
    p.add_argument("--catalog", action="append", default=[], type=Path, metavar="FILE")
    p.add_argument("--force", action="store_true",
                   help="run beyond the event limit; replace another sweep's results")  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(handler=_sweep)


def _sweep(args: argparse.Namespace) -> int:
    from sim.cli import UsageError
    from sim.experiment.campaign import sweep
    from sim.experiment.plan import read
    from sim.experiment.store import StoreError

    if args.scheduler is not None and args.executor != "dask":
        raise UsageError(f"--scheduler: needs --executor dask (got --executor {args.executor})")
    p = read(args.file, args.set, args.replications, args.seed, args.catalog)
    progress = Progress(p.runs, quiet=args.quiet)
    try:
        with progress:
            result = sweep(p, out=args.out, executor=args.executor, workers=args.workers,
                           scheduler=args.scheduler, records=args.records, fmt=args.fmt,
                           force=args.force, on_result=progress.update)  # fmt: skip
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    except (OSError, TimeoutError) as exc:
        where = f"--scheduler {args.scheduler}" if args.scheduler else "the local cluster"
        raise UsageError(f"{where}: {exc}") from None
    except KeyboardInterrupt:
        saved = sum(1 for _ in (args.out / "runs").glob("*.json"))
        print(f"edgesim: interrupted; {saved} of {p.runs} runs are saved in {args.out}: "
              "rerun the same command to resume", file=sys.stderr)  # fmt: skip
        return 130
    failed = result.failed
    for r in failed[:5]:
        print(f"edgesim: run {r.key} failed: {(r.error or '').splitlines()[0]}", file=sys.stderr)
    skipped = f" ({result.skipped} done before)" if result.skipped else ""
    print(f"{len(p.variants)} variants × {p.replications} replications: {len(result.results)} "
          f"runs{skipped}, {len(failed)} failed; results in {result.out}/")  # fmt: skip
    return 1 if failed else 0


class Progress:
    """Runs done and failed on stderr: a bar on a terminal, else one line per run; with
    ``quiet``, nothing."""

    def __init__(self, total: int, quiet: bool = False) -> None:
        self.total = total
        self.failed = 0
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self.bar: Any = None
        self.task: Any = None
        self.start = time.perf_counter()

    def update(self, result: RunResult, done: int, total: int) -> None:
        self.failed += 0 if result.ok else 1
        if self.quiet:
            return
        if not self.tty:
            state = "ok" if result.ok else f"FAILED {(result.error or '').splitlines()[0]}"
            print(f"edgesim: run {done}/{total} {result.key} {state} ({result.wall:.2f} s)",
                  file=sys.stderr, flush=True)  # fmt: skip
            return
        if self.bar is None:
            self._start(total)
        self.bar.update(self.task, completed=done, failed=self.failed)

    def _start(self, total: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as Bar

        self.bar = Bar(
            TextColumn("sweep"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[failed]} failed"), TimeRemainingColumn(),
            console=Console(stderr=True), transient=True,
        )  # fmt: skip
        self.bar.start()
        self.task = self.bar.add_task("sweep", total=total, failed=0)

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.bar is not None:
            self.bar.stop()

    def __repr__(self) -> str:
        return f"Progress(total={self.total}, failed={self.failed}, tty={self.tty})"
