"""The Dask executor: a local cluster by default, an existing one by its address.

Without a scheduler address it starts a ``distributed.LocalCluster`` of ``workers``
processes with one thread each (a run is single-threaded Python, so one run per core),
its dashboard on a free port, its logs kept to errors. With ``tcp://HOST:8786`` it
connects to a cluster started with Dask's own commands (``dask scheduler``,
``dask worker``) and uses whatever workers it has.

Each item is submitted under the key given (a sweep gives
:attr:`~sim.experiment.runs.RunSpec.task`), so submitting the same run twice is one
task, and with ``retries``: a task that raises is tried again, and one whose worker
dies is rescheduled by the scheduler on another worker. The client, not the worker,
receives every result, so whatever it does with a result (write the run's file)
happens once per key. This is the only module of
``sim`` that imports Dask.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Self, TypeVar

from sim.experiment.executors import outcome

T = TypeVar("T")
R = TypeVar("R")

RETRIES = 3
"""How often a task that raised is resubmitted before its error is the result."""
CONNECT_TIMEOUT = "30s"
"""How long connecting to an existing scheduler may take."""


class DaskExecutor:
    """Runs items as Dask tasks and yields their results as they finish."""

    name = "dask"

    def __init__(self, workers: int, scheduler: str | None = None) -> None:
        self._dask = _distributed()
        logging.getLogger("distributed").setLevel(logging.ERROR)
        self.scheduler = scheduler
        self._cluster: Any = None
        if scheduler is None:
            self._cluster = self._dask.LocalCluster(
                n_workers=max(1, workers),
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",  # a free port: never a clash with another cluster
                silence_logs=logging.ERROR,
            )
            self._client: Any = self._dask.Client(self._cluster)
        else:
            self._client = self._dask.Client(scheduler, timeout=CONNECT_TIMEOUT)
        self.workers = max(1, len(self._client.scheduler_info().get("workers", {})))

    def map(
        self,
        fn: Callable[[T], R],
        items: Sequence[T],
        keys: Sequence[str] | None = None,
        fallback: Callable[[T, BaseException], R] | None = None,
    ) -> Iterator[tuple[int, R]]:
        """Submit every item (under its key) and yield ``(index, result)`` as each ends;
        a task the scheduler gives up on (its workers kept dying) gets its fallback."""
        names: Sequence[str | None] = keys if keys is not None else [None] * len(items)
        futures = [
            self._client.submit(fn, item, key=k, pure=k is not None, retries=RETRIES)
            for item, k in zip(items, names, strict=True)
        ]
        index = {f.key: i for i, f in enumerate(futures)}
        pending = set(futures)
        try:
            for future in self._dask.as_completed(futures):
                i = index[future.key]
                # KilledWorker, or fn's own error after the retries: the fallback's
                result = outcome(future.result, items[i], fallback)
                pending.discard(future)
                future.release()
                yield i, result
        finally:
            for future in pending:
                future.cancel()

    def close(self) -> None:
        """Disconnect, and stop the local cluster if this executor started one."""
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = self.scheduler or "local cluster"
        return f"DaskExecutor({where}, workers={self.workers})"


def _distributed() -> Any:
    """The ``distributed`` package (untyped: held as ``Any``)."""
    return importlib.import_module("distributed")
