"""Where runs execute: in this process, in a pool of local processes, or on Dask.

Every executor has the same small protocol (:class:`Executor`): ``map`` a picklable
function over items and yield ``(index, result)`` as each finishes, in any order. The
experiment code above it never knows which one it has. Executors are a registry by
kind (:data:`EXECUTORS`), each entry a ``"module:factory"`` imported only when chosen,
so that nothing here imports Dask unless a Dask executor is asked for; a factory takes
``(workers, scheduler)``.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Protocol, Self, TypeVar

T = TypeVar("T")
R = TypeVar("R")

Fallback = Callable[[T, BaseException], R]
"""What an item's result is when running it failed outside ``fn`` (its worker died)."""


class Executor(Protocol):
    """Runs a function over items somewhere, yielding results as they finish."""

    name: str
    workers: int

    def map(
        self,
        fn: Callable[[T], R],
        items: Sequence[T],
        keys: Sequence[str] | None = None,
        fallback: Fallback[T, R] | None = None,
    ) -> Iterator[tuple[int, R]]:
        """Yield ``(index, fn(items[index]))`` for every item, in order of finishing.

        ``keys`` name the items (unique, stable across resubmissions) for executors that
        track work by name; ``fn`` and the items must be picklable for those that leave
        this process. When the worker running an item dies (or ``fn`` raises), the item's
        result is ``fallback(item, exception)``; without a fallback the exception ends the
        map."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...


EXECUTORS: dict[str, str] = {
    "inprocess": "sim.experiment.executors:InProcess",
    "processes": "sim.experiment.executors:Processes",
    "dask": "sim.experiment.dask:DaskExecutor",
}
"""Executor kinds, each ``"module:factory"``; a factory is called ``(workers, scheduler)``."""


def executor(kind: str, workers: int | None = None, scheduler: str | None = None) -> Executor:
    """A new executor of ``kind`` with ``workers`` workers (default: the cores available)."""
    try:
        target = EXECUTORS[kind]
    except KeyError:
        known = ", ".join(EXECUTORS)
        raise ValueError(f"unknown executor {kind!r} (known: {known})") from None
    module, _, attr = target.partition(":")
    factory = getattr(importlib.import_module(module), attr)
    made: Executor = factory(cores() if workers is None else workers, scheduler)
    return made


def outcome(get: Callable[[], R], item: T, fallback: Fallback[T, R] | None) -> R:
    """``get()``, or the item's fallback when it raises (re-raised without one)."""
    try:
        return get()
    except Exception as exc:
        if fallback is None:
            raise
        return fallback(item, exc)


def cores() -> int:
    """The CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


class _Base:
    name = "base"

    def __init__(self, workers: int) -> None:
        self.workers = workers

    def close(self) -> None:
        """Release the workers (nothing to release by default)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(workers={self.workers})"


class InProcess(_Base):
    """Runs each item here, one after another: the reference every other executor must
    match result for result."""

    name = "inprocess"

    def __init__(self, workers: int = 1, scheduler: str | None = None) -> None:
        _no_scheduler(self.name, scheduler)
        super().__init__(1)

    def map(
        self,
        fn: Callable[[T], R],
        items: Sequence[T],
        keys: Sequence[str] | None = None,
        fallback: Fallback[T, R] | None = None,
    ) -> Iterator[tuple[int, R]]:
        for i, item in enumerate(items):
            yield i, outcome(lambda: fn(item), item, fallback)  # noqa: B023 (called at once)


class Processes(_Base):
    """A pool of local worker processes (forked where the platform allows, so a worker
    starts without importing anything again)."""

    name = "processes"

    def __init__(self, workers: int, scheduler: str | None = None) -> None:
        _no_scheduler(self.name, scheduler)
        super().__init__(max(1, workers))
        self._pool: ProcessPoolExecutor | None = None

    def map(
        self,
        fn: Callable[[T], R],
        items: Sequence[T],
        keys: Sequence[str] | None = None,
        fallback: Fallback[T, R] | None = None,
    ) -> Iterator[tuple[int, R]]:
        """As the protocol says; a worker that dies breaks the pool, so every item still
        pending then gets its fallback (a rerun of a sweep tries them again)."""
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=_context())
        pending: dict[Future[R], int] = {
            self._pool.submit(fn, item): i for i, item in enumerate(items)
        }
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    i = pending.pop(future)
                    yield i, outcome(future.result, items[i], fallback)
        finally:
            for future in pending:
                future.cancel()
            if self._pool is not None and getattr(self._pool, "_broken", False):
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _context() -> Any:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def _no_scheduler(kind: str, scheduler: str | None) -> None:
    if scheduler is not None:
        raise ValueError(f"the {kind} executor takes no scheduler address (got {scheduler!r})")
