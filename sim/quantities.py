"""Physical quantities written with units in scenario files.

A scenario may write ``"5ms"``, ``"20Mbps"``, ``"1.5MB"`` or ``"30/s"``; the
simulator works in SI base units only (seconds, bit/s, bytes, 1/s, watts,
FLOP/s). Each dimension is an ``Annotated`` float type whose validator turns
a unit string (or a bare number, already in base units) into that float, so
the rest of the code never sees a unit.

Byte prefixes are decimal (``kB`` = 1000 B, ``MB`` = 10^6 B) unless binary
(``KiB``, ``MiB``, ``GiB``); link bandwidths are bits per second (``Mbps``) unless
written in bytes (``MB/s``); memory bandwidths (``ByteRate``) are bytes per
second.

Every quantity is finite and at most :data:`LARGEST` in its base units, durations at
most :data:`LONGEST` seconds (about 31,700 years): beyond that a simulated clock in
double precision no longer resolves milliseconds, and squares of such figures (the
analytic side's variances) overflow.
"""

from __future__ import annotations

import math
import re
from typing import Annotated

from pydantic import BeforeValidator, WithJsonSchema

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_PATTERN = re.compile(rf"^\s*({_NUMBER})\s*([A-Za-zµ/%]*(?:/[A-Za-z]+)?)\s*$")

TIME_UNITS = {
    "": 1.0, "s": 1.0, "sec": 1.0, "ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3,
    "min": 60.0, "h": 3600.0, "d": 86400.0,
}  # fmt: skip
BYTE_UNITS = {
    "": 1.0, "B": 1.0, "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
    "KiB": 2.0**10, "MiB": 2.0**20, "GiB": 2.0**30,
}  # fmt: skip
BANDWIDTH_UNITS = {
    "": 1.0, "bps": 1.0, "kbps": 1e3, "Kbps": 1e3, "Mbps": 1e6, "Gbps": 1e9,
    "B/s": 8.0, "kB/s": 8e3, "KB/s": 8e3, "MB/s": 8e6, "GB/s": 8e9,
}  # fmt: skip
BYTE_RATE_UNITS = {
    "": 1.0, "B/s": 1.0, "kB/s": 1e3, "KB/s": 1e3, "MB/s": 1e6, "GB/s": 1e9, "TB/s": 1e12,
}  # fmt: skip
LARGEST = 1e18
"""The largest magnitude of a quantity in its base units."""
LONGEST = 1e12
"""The longest duration, in seconds."""

RATE_UNITS = {"": 1.0, "/s": 1.0, "Hz": 1.0, "/min": 1 / 60.0, "/h": 1 / 3600.0}
POWER_UNITS = {"": 1.0, "W": 1.0, "mW": 1e-3, "kW": 1e3}


def parse(
    value: object,
    units: dict[str, float],
    what: str,
    example: str,
    largest: float = LARGEST,
    base: str = "base units",
) -> float:
    """Return ``value`` in SI base units; raise ``ValueError`` naming the accepted units.

    A magnitude above ``largest`` (in ``base`` units) is refused.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected {what} such as {example!r}")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        match = _PATTERN.match(value)
        if match is None or match.group(2) not in units:
            known = ", ".join(u for u in units if u)
            raise ValueError(f"expected {what} such as {example!r} (units: {known})")
        number = float(match.group(1)) * units[match.group(2)]
    else:
        raise ValueError(f"expected {what} such as {example!r}")
    if not math.isfinite(number):
        raise ValueError(f"{what} must be finite")
    if abs(number) > largest:
        raise ValueError(f"{what} must be at most {largest:g} {base}")
    return number


def _validator(
    units: dict[str, float], what: str, example: str, largest: float = LARGEST, base: str = ""
) -> BeforeValidator:
    return BeforeValidator(lambda v: parse(v, units, what, example, largest, base))


def _schema(what: str, example: str, unit: str) -> WithJsonSchema:
    return WithJsonSchema(
        {
            "anyOf": [{"type": "number"}, {"type": "string", "examples": [example]}],
            "description": f"{what}: a number in {unit} or a string with a unit, e.g. {example!r}",
        }
    )


Duration = Annotated[
    float,
    _validator(TIME_UNITS, "a duration", "5ms", LONGEST, "s"),
    _schema("a duration", "5ms", "seconds"),
]
Bytes = Annotated[
    float,
    _validator(BYTE_UNITS, "a size", "1.5MB", base="B"),
    _schema("a size", "1.5MB", "bytes"),
]
Bandwidth = Annotated[
    float,
    _validator(BANDWIDTH_UNITS, "a bandwidth", "20Mbps", base="bit/s"),
    _schema("a bandwidth", "20Mbps", "bit/s"),
]
ByteRate = Annotated[
    float,
    _validator(BYTE_RATE_UNITS, "a byte rate", "25.6GB/s", base="B/s"),
    _schema("a byte rate", "25.6GB/s", "bytes/s"),
]
Rate = Annotated[
    float, _validator(RATE_UNITS, "a rate", "30/s", base="/s"), _schema("a rate", "30/s", "1/s")
]
Power = Annotated[
    float,
    _validator(POWER_UNITS, "a power", "5W", base="W"),
    _schema("a power", "5W", "watts"),
]
