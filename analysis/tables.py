"""The requests table: one row per finished request, built column-wise as Arrow.

:func:`requests_table` takes each source's record arrays whole (ids, status,
the stamp matrix, lost attempts) and lays them end to end: no Python work per
request, so building and writing the table is linear in requests and cheap
beside simulating them. Strings (source, pipeline, status, real stages) are
dictionary columns; a time that never happened is null (an empty CSV cell).
After the fixed columns come the registered ones (:mod:`analysis.columns`: the
exit taken, the devices that served the request, and the accuracy columns ``sample`` and ``correct``
(:class:`sim.records.Outcomes`), null for sources not scored).

:data:`WRITERS` maps a file format to its writer: ``parquet`` (the default,
``requests.parquet``) and ``csv`` (``requests.csv``, floats written so that
they read back exactly). pyarrow is imported only when a table is built, so
commands that write nothing do not pay for it. Files are written to a
temporary name and renamed into place (:func:`atomic`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from analysis.arrow import labelled, numeric
from analysis.columns import COLUMNS
from sim.records import Replication, SourceRecords, Status

if TYPE_CHECKING:
    import pyarrow as pa

STATUS_NAMES = [s.name.lower() for s in sorted(Status)]
IDENTITY = ["replication", "id", "source", "pipeline", "priority", "measured", "arrival",
            "completion", "status", "latency"]  # fmt: skip
TAIL = ["transfer_result", "real_stages", "lost_attempts"]


def columns(width: int) -> list[str]:
    """The table's column names when the longest pipeline has ``width`` stages."""
    phases = [f"{p}{k}" for k in range(width) for p in ("transfer", "wait", "service")]
    return [*IDENTITY, *phases, *TAIL, *COLUMNS]


def requests_table(reps: Sequence[Replication]) -> pa.Table:
    """Every finished request of every replication, in completion order per source."""
    import pyarrow as pa

    parts = [(rep, src) for rep in reps for src in rep.sources]
    width = max((len(src.stages) for _, src in parts), default=0)
    names = columns(width)
    if not parts:
        return pa.Table.from_arrays([pa.nulls(0) for _ in names], names=names)
    each = [_source_columns(rep, src, width) for rep, src in parts]
    cols = {n: np.concatenate([c[n] for c in each]) for n in each[0]}
    data: dict[str, pa.Array] = {}
    for name in names:
        if name in COLUMNS:
            data[name] = _joined([COLUMNS[name].values(r, s) for r, s in parts])
        elif name in ("source", "pipeline", "real_stages", "status"):
            data[name] = _labels(name, parts)
        else:
            data[name] = _column(cols, name)
    if any(src.accuracy is not None for _, src in parts):
        data |= _scored([src for _, src in parts])
    return pa.Table.from_arrays(list(data.values()), names=list(data))


def _joined(pieces: list[pa.Array]) -> pa.Array:
    """One column from its sources' pieces; dictionary pieces whose codes came in
    different integer widths are widened to int32 first (Arrow joins only equal types)."""
    import pyarrow as pa

    kinds = {p.type for p in pieces}
    if len(kinds) > 1 and all(pa.types.is_dictionary(k) for k in kinds):
        values = pieces[0].type.value_type
        pieces = [p.cast(pa.dictionary(pa.int32(), values)) for p in pieces]
    return pa.concat_arrays(pieces)


def _scored(sources: Sequence[SourceRecords]) -> dict[str, pa.Array]:
    """``sample`` (the test sample a request carried) and ``correct`` (1: answered right),
    null for the requests of sources without a trained model."""
    n = sum(len(s.ids) for s in sources)
    sample, correct, null = np.zeros(n, np.int32), np.zeros(n, np.int8), np.ones(n, bool)
    at = 0
    for src in sources:
        if src.accuracy is not None:
            sample[at : at + len(src.ids)] = src.accuracy.sample
            correct[at : at + len(src.ids)] = src.accuracy.correct
            null[at : at + len(src.ids)] = False
        at += len(src.ids)
    return {"sample": numeric(sample, null), "correct": numeric(correct, null)}


def _source_columns(rep: Replication, src: SourceRecords, width: int) -> dict[str, np.ndarray]:
    """One source's integer columns, and its times as one matrix (see :func:`_padded`)."""
    n = len(src.ids)
    return {
        "replication": np.full(n, rep.index, np.int64),
        "id": src.ids.astype(np.int64, copy=False),
        "priority": np.full(n, src.priority, np.int64),
        "measured": (src.arrival >= rep.start).astype(np.int8),
        "lost_attempts": src.lost.astype(np.int32, copy=False),
        "times": _padded(src, width),
    }


def _padded(src: SourceRecords, width: int) -> np.ndarray:
    """The source's phase durations, padded with NaN columns up to ``width`` stages:
    transfer0, wait0, service0, …, transfer_result, then arrival, completion, latency."""
    phases = src.phases()
    n = len(src.ids)
    out = np.full((n, 3 * width + 4), np.nan)
    for k in range(len(src.stages)):
        for j, p in enumerate(("transfer", "wait", "service")):
            out[:, 3 * k + j] = phases[f"{p}{k}"]
    out[:, 3 * width] = phases["transfer_result"]
    out[:, 3 * width + 1] = src.arrival
    out[:, 3 * width + 2] = src.completion
    out[:, 3 * width + 3] = src.latency
    return out


def _column(cols: dict[str, np.ndarray], name: str) -> pa.Array:
    if name in cols:
        return numeric(cols[name])
    times = cols["times"]
    width = (times.shape[1] - 4) // 3
    float_names = columns(width)[len(IDENTITY) : -2]  # the phases and transfer_result
    index = {n: i for i, n in enumerate(float_names)}
    index |= {"arrival": 3 * width + 1, "completion": 3 * width + 2, "latency": 3 * width + 3}
    values = np.ascontiguousarray(times[:, index[name]])
    return numeric(values, np.isnan(values))


def _labels(name: str, parts: Sequence[tuple[Replication, SourceRecords]]) -> pa.Array:
    """A dictionary column: one small index array over the distinct labels."""
    if name == "status":
        codes = np.concatenate([src.status for _, src in parts]).astype(np.int32)
        return labelled(codes, STATUS_NAMES)
    per_part = [_label(name, rep, src) for rep, src in parts]
    labels = list(dict.fromkeys(per_part))
    codes = np.repeat(
        np.array([labels.index(v) for v in per_part], np.int32),
        [len(src.ids) for _, src in parts],
    )
    return labelled(codes, labels)


def _label(name: str, rep: Replication, src: SourceRecords) -> str:
    if name == "real_stages":
        return ";".join(str(k) for p, k in rep.real if p == src.pipeline)
    return src.name if name == "source" else src.pipeline


# -- files -------------------------------------------------------------------


def _parquet(table: pa.Table, path: Path) -> None:
    """Parquet's own dictionaries only for the dictionary columns (a float or an id column
    would fall back from one after trying), and no statistics: a third of the time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    labels = [f.name for f in table.schema if pa.types.is_dictionary(f.type)]
    pq.write_table(table, path, use_dictionary=labels, write_statistics=False)


def _csv(table: pa.Table, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    # dictionary columns as their labels; nulls as empty cells
    plain = pa.Table.from_arrays([_decoded(c) for c in table.columns], names=table.column_names)
    options = pacsv.WriteOptions(quoting_style="needed", include_header=True)
    pacsv.write_csv(plain, path, options)


def _decoded(column: pa.ChunkedArray) -> pa.ChunkedArray:
    import pyarrow as pa

    if pa.types.is_dictionary(column.type):
        return column.cast(pa.string())
    return column


WRITERS: dict[str, Callable[[pa.Table, Path], None]] = {"parquet": _parquet, "csv": _csv}
"""Requests-file format -> writer; the file is ``requests.<format>``."""


def filename(fmt: str) -> str:
    """The requests file's name in format ``fmt``; ValueError names the formats."""
    if fmt not in WRITERS:
        raise ValueError(f"format: unknown {fmt!r}; choose one of {', '.join(WRITERS)}")
    return f"requests.{fmt}"


def write_requests(path: Path, reps: Sequence[Replication], fmt: str = "parquet") -> Path:
    """Write the requests of ``reps`` to ``path`` in ``fmt``, atomically; returns ``path``."""
    filename(fmt)
    table = requests_table(reps)
    with atomic(Path(path)) as tmp:
        WRITERS[fmt](table, tmp)
    return Path(path)


@contextmanager
def atomic(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write; renamed into place when the block ends.

    The file gets the permissions a plain ``open`` would give: 0o666 less the umask
    (a temporary file starts private, 0o600). An error leaves nothing behind.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        os.close(fd)
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it: put it straight back
    os.umask(mask)
    return mask
