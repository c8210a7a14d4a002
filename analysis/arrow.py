"""Arrow columns straight from numpy buffers, for the requests and events tables.

``pa.array`` on numpy data or Python strings imports pandas (a fifth of a second),
so columns are built from their buffers: numbers with a validity bitmap for
missing values, strings from offsets and bytes, and labels as dictionary columns
(one small index array over the distinct labels). pyarrow is imported only when
a column is built, so commands that write nothing do not pay for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pyarrow as pa


def numeric(values: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    """A numeric (not boolean) column from its buffer; ``null`` marks missing values."""
    import pyarrow as pa

    values = np.ascontiguousarray(values)
    validity, nulls = None, 0
    if null is not None and null.any():
        validity, nulls = pa.py_buffer(np.packbits(~null, bitorder="little")), int(null.sum())
    kind = pa.from_numpy_dtype(values.dtype)
    return pa.Array.from_buffers(kind, len(values), [validity, pa.py_buffer(values)], nulls)


def strings(labels: Sequence[str]) -> pa.Array:
    """A string column from its offsets and bytes."""
    import pyarrow as pa

    data = [s.encode() for s in labels]
    offsets = np.zeros(len(data) + 1, np.int32)
    offsets[1:] = np.cumsum([len(b) for b in data])
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(data))]
    return pa.Array.from_buffers(pa.string(), len(data), buffers)


def labelled(codes: np.ndarray, labels: Sequence[str]) -> pa.Array:
    """A dictionary column: ``labels[codes[i]]`` in row ``i`` (codes of any signed integer
    type that holds them; int32 if they are not one)."""
    import pyarrow as pa

    signed = codes.dtype.kind == "i"
    indices = numeric(codes if signed else codes.astype(np.int32))
    return pa.DictionaryArray.from_arrays(indices, strings(labels))


class Labels:
    """Distinct labels in order of first use, each with its code (for :func:`labelled`)."""

    __slots__ = ("codes", "names")

    def __init__(self, first: Iterable[str] = ()) -> None:
        self.names: list[str] = []
        self.codes: dict[str, int] = {}
        for name in first:
            self.code(name)

    def code(self, name: str) -> int:
        """The code of ``name``, given one if it is new."""
        if name not in self.codes:
            self.codes[name] = len(self.names)
            self.names.append(name)
        return self.codes[name]

    def of(self, names: Sequence[str]) -> np.ndarray:
        """The codes of ``names``, as an array (to index by a column of positions)."""
        return np.array([self.code(n) for n in names], np.int32)

    def __repr__(self) -> str:
        return f"Labels({self.names!r})"
