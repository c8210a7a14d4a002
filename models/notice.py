"""Slow model work (a zoo build, a training run) told to whoever listens.

``models`` never imports ``sim``, and a library user wants silence; so the work says
what it is doing through :func:`working`, and a command line that wants progress
installs a reporter (``edgesim`` installs :func:`sim.progress.reporter`, which draws a
bar on a terminal, a line per step otherwise, nothing with ``--quiet``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

Step = Callable[[float, str], None]
"""``step(done, note)``: this much of the work is done (e.g. epochs), with a note."""
Reporter = Callable[[str, float | None], AbstractContextManager[Step]]
"""``reporter(what, total)``: a context for one piece of work, giving its step callback."""

_reporter: Reporter | None = None


def install(reporter: Reporter | None) -> None:
    """Report slow model work through ``reporter`` from now on (None: silence)."""
    global _reporter
    _reporter = reporter


@contextmanager
def working(what: str, total: float | None = None) -> Iterator[Step]:
    """One piece of slow work, ``total`` steps long when known."""
    if _reporter is None:
        yield _silent
        return
    with _reporter(what, total) as step:
        yield step


def _silent(done: float, note: str = "") -> None:
    del done, note
