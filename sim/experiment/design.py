"""The values a sweep gives its parameters: lists, ranges, and space-filling designs.

A sweep's ``sweep:`` section maps scenario paths to values. Each path outside the
reserved keys is one *axis* of a grid (the cartesian product of all axes); ``zip:``
holds paths that vary together, one value of each per point; ``design:`` draws a
space-filling sample over numeric ranges. The three combine by product, in that order;
``zip:`` may also be a list of such groups, each one factor of the product.

An axis's values are written as

* a list, ``[10Mbps, 20Mbps]`` (each item exactly as it would stand in the scenario);
* a range, ``{from: 10Mbps, to: 50Mbps, step: 10Mbps}`` or ``{..., count: 5}``: both
  ends included, every figure in one unit (or bare numbers);
* one value, which every variant takes.

A design is ``{kind: lhs | sobol, samples: N, seed: S, ranges: {PATH: {from, to}}}``,
drawn with ``scipy.stats.qmc`` (Latin hypercube, or scrambled Sobol with N a power of
two) and scaled into each range. A range whose ends are whole numbers without a unit
gives whole numbers (device ``slots``, say).

Problems are :class:`~sim.problems.Problem` s located under ``sweep.``, all of them
reported at once.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sim.problems import Problem

RESERVED = ("zip", "design")
"""Keys of a ``sweep:`` section that are not scenario paths."""

DESIGNS = {"lhs": "LatinHypercube", "sobol": "Sobol"}
"""Space-filling designs by ``kind:``: the ``scipy.stats.qmc`` engine of each."""

_QUANTITY = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(\S*)\s*$")
_RANGE_KEYS = {"from", "to", "step", "count"}

Point = dict[str, Any]
"""One variant's assignment: scenario path -> value as the scenario file would write it."""


@dataclass(frozen=True, slots=True)
class Quantity:
    """A number with the unit it was written in (``""`` for none)."""

    number: float
    unit: str
    integral: bool = False  # written as a whole number (1, not 1.0), without a unit

    def text(self, value: float, whole: bool = False) -> Any:
        """``value`` in this unit, as a scenario would write it (an int when ``whole``)."""
        exact = float(f"{value:.12g}")
        if self.unit:
            return f"{exact:.12g}{self.unit}"
        return int(exact) if whole else exact

    @property
    def whole(self) -> bool:
        """A bare whole number (``4``, not ``4.0``): a range of these gives whole numbers."""
        return self.integral and not self.unit


class DesignError(Exception):
    """A ``sweep:`` section that cannot be expanded, with every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p.path}: {p.message}" for p in problems))


def points(section: object) -> list[Point]:
    """Every point of a ``sweep:`` section, in grid × zip × design order."""
    if not isinstance(section, Mapping) or not section:
        raise DesignError([Problem("sweep", "a mapping of scenario paths to values", section)])
    problems: list[Problem] = []
    factors = [
        _axis(path, values, problems) for path, values in section.items() if path not in RESERVED
    ]
    groups = section.get("zip", [])
    for n, group in enumerate(groups if isinstance(groups, list) else [groups]):
        where = "sweep.zip" if not isinstance(groups, list) else f"sweep.zip[{n}]"
        factors.append(_zipped(where, group, problems))
    if "design" in section:
        factors.append(_design(section["design"], problems))
    _each_path_once(factors, problems)
    count = math.prod(len(f) for f in factors)
    if count > MAX_VARIANTS:
        sizes = " x ".join(str(len(f)) for f in factors)
        message = f"gives {sizes} = {count} variants, more than {MAX_VARIANTS}; sweep fewer values"
        problems.append(Problem("sweep", message))
    if problems:
        raise DesignError(problems)
    return [_merged(combo) for combo in itertools.product(*factors)]


MAX_VARIANTS = 100_000
"""More variants than this is a mistake in the sweep, not a study (each is validated first)."""


def _each_path_once(factors: list[list[list[tuple[str, Any]]]], problems: list[Problem]) -> None:
    """A path varied by two factors (an axis and a zip group, say) would take one's values."""
    seen: dict[str, int] = {}
    for n, factor in enumerate(factors):
        for path in {p for point in factor for p, _ in point}:
            if path in seen and seen[path] != n:
                problems.append(Problem(f"sweep.{path}", "is varied twice (give it one place)"))
            seen.setdefault(path, n)


def _merged(combo: tuple[list[tuple[str, Any]], ...]) -> Point:
    return {path: value for part in combo for path, value in part}


def _axis(path: str, values: object, problems: list[Problem]) -> list[list[tuple[str, Any]]]:
    found = _values(f"sweep.{path}", values, problems)
    return [[(str(path), v)] for v in found]


def _values(where: str, values: object, problems: list[Problem]) -> list[Any]:
    if isinstance(values, list):
        if not values:
            problems.append(Problem(where, "an empty list gives no variants", values))
        return values
    if isinstance(values, Mapping) and set(values) & _RANGE_KEYS:
        return _range(where, values, problems)
    return [values]


def _range(where: str, spec: Mapping[str, Any], problems: list[Problem]) -> list[Any]:
    extra = set(spec) - _RANGE_KEYS
    if extra:
        problems.append(Problem(where, f"unknown range key {sorted(extra)[0]!r} (keys: "
                                "from, to, and step or count)"))  # fmt: skip
        return []
    if ("step" in spec) == ("count" in spec) or not {"from", "to"} <= set(spec):
        problems.append(Problem(where, "a range needs from, to, and one of step or count", spec))
        return []
    ends = _quantities(where, [spec["from"], spec["to"], *_step(spec)], problems)
    if ends is None:
        return []
    low, high = ends[0], ends[1]
    if "count" in spec:
        return _counted(where, low, high, spec["count"], problems)
    return _stepped(where, low, high, ends[2], problems)


def _step(spec: Mapping[str, Any]) -> list[Any]:
    return [spec["step"]] if "step" in spec else []


def _counted(
    where: str, low: Quantity, high: Quantity, count: object, problems: list[Problem]
) -> list[Any]:
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        problems.append(Problem(f"{where}.count", "must be a whole number, at least 1", count))
        return []
    if count == 1:
        return [low.text(low.number, low.whole)]
    span = (high.number - low.number) / (count - 1)
    whole = low.whole and high.whole and span.is_integer()
    return [low.text(low.number + i * span, whole) for i in range(count)]


def _stepped(
    where: str, low: Quantity, high: Quantity, step: Quantity, problems: list[Problem]
) -> list[Any]:
    span = high.number - low.number
    if step.number == 0 or span * step.number < 0:
        got = step.text(step.number)
        problems.append(Problem(f"{where}.step", "must be non-zero and lead from 'from' to "
                                "'to'", got))  # fmt: skip
        return []
    steps = math.floor(span / step.number + 1e-9)
    if steps >= 10_000:
        problems.append(Problem(f"{where}.step", f"gives {steps + 1} values (at most 10000)"))
        return []
    whole = low.whole and high.whole and step.whole
    return [low.text(low.number + i * step.number, whole) for i in range(steps + 1)]


def _quantities(where: str, raw: list[Any], problems: list[Problem]) -> list[Quantity] | None:
    found = []
    for value in raw:
        q = _quantity(value)
        if q is None:
            problems.append(Problem(where, "range figures are numbers, with or without a "
                                    "unit such as 10Mbps", value))  # fmt: skip
            return None
        found.append(q)
    units = {q.unit for q in found if q.unit}
    if len(units) > 1 or (units and any(not q.unit for q in found[:2])):
        problems.append(Problem(where, "from, to and step must be written in one unit", raw))
        return None
    unit = units.pop() if units else ""
    return [Quantity(q.number, unit, q.integral) for q in found]


def _quantity(value: object) -> Quantity | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Quantity(float(value), "", integral=True)
    if isinstance(value, float):
        return Quantity(value, "") if math.isfinite(value) else None
    match = _QUANTITY.match(value) if isinstance(value, str) else None
    return Quantity(float(match.group(1)), match.group(2)) if match else None


def _zipped(where: str, section: object, problems: list[Problem]) -> list[list[tuple[str, Any]]]:
    if not isinstance(section, Mapping) or not section:
        problems.append(Problem(where, "a mapping of paths to equally long lists", section))
        return []
    columns = {str(p): _values(f"{where}.{p}", v, problems) for p, v in section.items()}
    lengths = {len(v) for v in columns.values()}
    if len(lengths) > 1:
        sizes = ", ".join(f"{p}: {len(v)}" for p, v in columns.items())
        problems.append(Problem(where, f"paths that vary together need as many values "
                                f"each ({sizes})"))  # fmt: skip
        return []
    return [list(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def _design(spec: object, problems: list[Problem]) -> list[list[tuple[str, Any]]]:
    where = "sweep.design"
    if not isinstance(spec, Mapping):
        problems.append(Problem(where, "a mapping with kind, samples, seed and ranges", spec))
        return []
    found = len(problems)
    kind = spec.get("kind")
    if kind not in DESIGNS:
        problems.append(Problem(f"{where}.kind", f"unknown design (known: {', '.join(DESIGNS)})",
                                kind))  # fmt: skip
    extra = set(spec) - {"kind", "samples", "seed", "ranges"}
    for key in sorted(extra):
        problems.append(Problem(f"{where}.{key}", "unknown key (keys: kind, samples, seed, "
                                "ranges)"))  # fmt: skip
    samples = _whole(f"{where}.samples", spec.get("samples"), 1, problems)
    seed = _whole(f"{where}.seed", spec.get("seed", 0), 0, problems)
    if kind == "sobol" and samples and samples & (samples - 1):
        problems.append(Problem(f"{where}.samples", "a Sobol design needs a power of two "
                                "(or use kind: lhs)", samples))  # fmt: skip
    ranges = _design_ranges(where, spec.get("ranges"), problems)
    if len(problems) > found or samples is None or seed is None:
        return []
    unit = _unit_cube(str(kind), len(ranges), samples, seed)
    return [[_scaled(path, lo, hi, u) for (path, (lo, hi)), u in zip(ranges.items(), row,
             strict=True)] for row in unit]  # fmt: skip


def _design_ranges(
    where: str, raw: object, problems: list[Problem]
) -> dict[str, tuple[Quantity, Quantity]]:
    if not isinstance(raw, Mapping) or not raw:
        problems.append(Problem(f"{where}.ranges", "a mapping of paths to {from, to}", raw))
        return {}
    out = {}
    for path, r in raw.items():
        at = f"{where}.ranges.{path}"
        if not isinstance(r, Mapping) or set(r) != {"from", "to"}:
            problems.append(Problem(at, "a design range is {from, to}", r))
            continue
        ends = _quantities(at, [r["from"], r["to"]], problems)
        if ends is not None:
            out[str(path)] = (ends[0], ends[1])
    return out


def _whole(where: str, value: object, least: int, problems: list[Problem]) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        problems.append(Problem(where, f"must be a whole number, at least {least}", value))
        return None
    return value


def _unit_cube(kind: str, dims: int, samples: int, seed: int) -> Iterator[list[float]]:
    from scipy.stats import qmc

    engine = getattr(qmc, DESIGNS[kind])(d=dims, seed=seed)
    return iter(engine.random(samples).tolist())


def _scaled(path: str, low: Quantity, high: Quantity, u: float) -> tuple[str, Any]:
    whole = low.whole and high.whole
    if whole:  # each whole number of [from, to] an equal share of the unit interval
        value = min(math.floor(low.number + u * (high.number - low.number + 1)), high.number)
        return path, low.text(value, whole=True)
    return path, low.text(low.number + u * (high.number - low.number))
