"""Progress of long work on standard error, the same way for every command.

On a terminal, a rich progress bar (a spinner where the amount of work is unknown),
cleared when the work ends; otherwise (a log, a CI job) one line per finished step or
phase, ``edgesim: simulating: 3/5``; with ``--quiet``, nothing. Either way nothing
appears in the first second (:data:`DELAY`): a command that is quick stays silent, and
standard output, where results go, is never touched.

A :class:`Progress` counts steps (``update``) or names phases (``phase``, with an
optional total and a function telling how far the phase has got, polled while it
runs); :meth:`Progress.replications` adapts it to the simulator's callback, which
reports each replication's fraction of simulated time. A background thread draws the
bar (and prints a phase's line once the first second has passed), so the work itself
never waits on the terminal.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from types import TracebackType
from typing import Any, TextIO

DELAY = 1.0
POLL = 0.2


class Progress:
    """Where a piece of long work has got to (see the module docstring)."""

    def __init__(self, what: str = "simulating", total: float | None = None, *, quiet: bool = False,
                 stream: TextIO | None = None, delay: float | None = None) -> None:  # fmt: skip
        self.what = what
        self.total = total
        self.stream = stream or sys.stderr
        self.mode = "quiet" if quiet else "bar" if self.stream.isatty() else "lines"
        self.delay = DELAY if delay is None else delay
        self.start = time.perf_counter()
        self.done = 0.0
        self.poll: Callable[[], float] | None = None
        self.steps_shown = 0
        self.phases = self.phases_shown = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.ticker: threading.Thread | None = None
        self.bar: Any = None
        self.task: Any = None

    def __repr__(self) -> str:
        return f"Progress({self.what!r}, {self.done:g}/{self.total}, {self.mode})"

    def update(self, done: float, note: str = "") -> None:
        """``done`` steps of the total are finished (fractions show on the bar only)."""
        with self.lock:
            self.done = done
            whole = int(done)
            if self.mode == "lines" and whole > self.steps_shown and self._waited():
                of = f"/{self.total:g}" if self.total is not None else ""
                self._line(f"{self.what}: {whole}{of}" + (f" {note}" if note else ""))
            self.steps_shown = max(self.steps_shown, whole)

    def phase(self, text: str, total: float | None = None,
              done: Callable[[], float] | None = None) -> None:  # fmt: skip
        """A new phase of the work: its name, and how far it has got when known."""
        with self.lock:
            self.what, self.total, self.done, self.poll = text, total, 0.0, done
            self.steps_shown = 0
            self.phases += 1
            self._draw()

    def replications(self, count: int) -> Callable[[int, float], None]:
        """The simulator's callback (replication, fraction of it done) as progress."""
        fractions: dict[int, float] = {}
        self.total = count

        def report(replication: int, fraction: float) -> None:
            fractions[replication] = fraction
            self.update(sum(fractions.values()))

        return report

    def _waited(self) -> bool:
        return time.perf_counter() - self.start >= self.delay

    def _line(self, text: str) -> None:
        print(f"edgesim: {text}", file=self.stream, flush=True)

    def _draw(self) -> None:
        """Show the current state, once the first second has passed (lock held)."""
        if not self._waited():
            return
        if self.mode == "lines" and self.phases_shown < self.phases:
            self._line(self.what)
            self.phases_shown = self.phases
        elif self.mode == "bar":
            self._bar()
            done = self.poll() if self.poll is not None else self.done
            self.bar.update(self.task, description=self.what, total=self.total, completed=done)

    def _bar(self) -> None:
        if self.bar is None:
            from rich.console import Console
            from rich.progress import Progress as Bar

            self.bar = Bar(console=Console(file=self.stream), transient=True)
            self.bar.start()
            self.task = self.bar.add_task(self.what, total=self.total)

    def _tick(self) -> None:
        while not self.stop.wait(POLL):
            with self.lock:
                self._draw()

    def __enter__(self) -> Progress:
        if self.mode != "quiet":
            self.ticker = threading.Thread(target=self._tick, daemon=True)
            self.ticker.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop.set()
        if self.ticker is not None:
            self.ticker.join()
        if self.bar is not None:
            self.bar.stop()


def reporter(
    quiet: bool, stream: TextIO | None = None, delay: float | None = None
) -> Callable[[str, float | None], AbstractContextManager[Callable[[float, str], None]]]:
    """Progress for slow model work (:mod:`models.notice`): one :class:`Progress` per piece."""

    @contextmanager
    def report(what: str, total: float | None) -> Iterator[Callable[[float, str], None]]:
        with Progress(what, total, quiet=quiet, stream=stream, delay=delay) as progress:
            progress.phase(what, total)
            yield progress.update

    return report
