"""Unit strings become SI floats; anything else is a clear error."""

from __future__ import annotations

import pytest

from sim.quantities import BANDWIDTH_UNITS, BYTE_UNITS, RATE_UNITS, TIME_UNITS, parse


@pytest.mark.parametrize(
    ("text", "units", "expected"),
    [
        ("5ms", TIME_UNITS, 0.005),
        ("2h", TIME_UNITS, 7200.0),
        ("250us", TIME_UNITS, 250e-6),
        ("20Mbps", BANDWIDTH_UNITS, 20e6),
        ("1.5MB/s", BANDWIDTH_UNITS, 12e6),
        ("1.5MB", BYTE_UNITS, 1.5e6),
        ("4GB", BYTE_UNITS, 4e9),
        ("1MiB", BYTE_UNITS, 2**20),
        ("30/s", RATE_UNITS, 30.0),
        ("120/min", RATE_UNITS, 2.0),
        (0.25, TIME_UNITS, 0.25),
        ("1e-3", TIME_UNITS, 1e-3),
    ],
)
def test_units_convert_to_si(text: object, units: dict[str, float], expected: float) -> None:
    """Each unit string is scaled to its SI base unit; bare numbers are already SI."""
    assert parse(text, units, "x", "1") == pytest.approx(expected)


@pytest.mark.parametrize("bad", ["5 parsecs", "fast", "", True, None, [1], "nan"])
def test_bad_quantities_name_the_units(bad: object) -> None:
    """An unknown unit, a word or a non-number is rejected with the accepted units listed."""
    with pytest.raises(ValueError, match="duration"):
        parse(bad, TIME_UNITS, "a duration", "5ms")
