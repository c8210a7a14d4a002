"""A sweep's plan: one scenario, some of its values varied, every variant validated.

A sweep file names the scenario and what to vary (:mod:`sim.experiment.design` gives
the forms values take)::

    scenario: ../quickstart.yaml     # relative to this file
    replications: 3                  # optional: else the scenario's own
    seed: 42                         # optional: else the scenario's own
    sweep:
      links.0.bandwidth: [20Mbps, 48.7Mbps]               # a grid axis
      workload.0.arrivals.rate: {from: 5/s, to: 15/s, step: 5/s}
      zip:                                                # these vary together
        pipelines.split_cam0.stages.0.layers: [[input, b3.add], [input, b5.add]]
        pipelines.split_cam0.stages.1.layers: [[b3.add, output], [b5.add, output]]

``edgesim sweep SCENARIO --set PATH=V1,V2`` builds the same from the command line
(several ``--set`` make a grid), on a scenario file or on a sweep file's own section.

Each variant is the scenario *document* with its values set (:mod:`sim.experiment.paths`),
loaded through :func:`sim.loader.from_dict`: validated and checked exactly like a file.
Every variant is built before anything runs and every problem of every variant is
reported at once, each line naming the variant's values. Every variant runs with the
same seed and replication indices, so the named random streams give common random
numbers: variant A's request *i* of replication *r* arrives when variant B's does.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim import document
from sim.experiment import paths
from sim.experiment.design import DesignError, points
from sim.problems import Problem, ScenarioError
from sim.spec import Scenario

SWEEP_KEYS = ("scenario", "sweep", "replications", "seed")
"""The keys of a sweep file."""


class SweepError(ScenarioError):
    """A sweep that cannot run: every problem of the sweep and of each variant."""

    def __init__(self, lines: Sequence[str]) -> None:
        self.file = ""
        self.problems = []
        self.lines = list(lines)
        Exception.__init__(self, "\n".join(self.lines))


@dataclass(frozen=True, slots=True)
class Variant:
    """One point of the sweep: its values, and the scenario they make (validated)."""

    id: str
    point: dict[str, Any]  # path -> value as written
    params: tuple[tuple[str, Any], ...]  # path -> value as simulated (SI numbers), for tables
    scenario: Scenario

    @property
    def label(self) -> str:
        return ", ".join(f"{p}={_shown(v)}" for p, v in self.point.items())


@dataclass(frozen=True, slots=True)
class Plan:
    """A sweep ready to run: its variants, replications and seed."""

    file: str
    variants: tuple[Variant, ...]
    replications: int
    seed: int

    @property
    def runs(self) -> int:
        return len(self.variants) * self.replications


def read(
    source: str | Path,
    sets: Sequence[str] = (),
    replications: int | None = None,
    seed: int | None = None,
    catalogs: Sequence[str | Path] = (),
    over: Mapping[str, Any] | None = None,
) -> Plan:
    """The plan of a sweep file, or of a scenario file with ``--set`` values; ``over``
    (a ``sweep:`` section) adds to either, as do the ``sets``."""
    path = Path(source)
    try:
        raw = document.read(path)
    except document.DocumentError as exc:
        raise ScenarioError(str(path), [Problem(exc.path, exc.message)]) from None
    section, problems = _cli_section(sets)
    section = dict(over or {}) | section
    if isinstance(raw, dict) and ("sweep" in raw or "scenario" in raw):
        return _from_sweep_file(path, raw, section, problems, replications, seed, catalogs)
    if not section and not problems:
        problems.append(Problem("--set", "a scenario file needs --set PATH=V1,V2,... "
                                "(or a sweep file with a sweep: section)"))  # fmt: skip
    _raise(str(path), problems)
    return plan(raw, section, replications, seed, file=str(path), base=path.parent,
                catalogs=catalogs)  # fmt: skip


def plan(
    scenario: object,
    section: Mapping[str, Any],
    replications: int | None = None,
    seed: int | None = None,
    file: str = "<scenario>",
    base: Path = Path("."),
    catalogs: Sequence[str | Path] = (),
) -> Plan:
    """The plan of the ``sweep:`` ``section`` over a parsed scenario document."""
    from sim.loader import from_dict

    reference = from_dict(scenario, file, base, catalogs)  # not a mapping: the loader says so
    doc = scenario if isinstance(scenario, dict) else {}
    try:
        found = points(section)
    except DesignError as exc:
        raise SweepError([p.line(file) for p in exc.problems]) from None
    wrong = _wrong_paths(doc, found, reference)
    lines = [p.line(file) for p in wrong.values()]
    variants = []
    for n, point in enumerate(found):
        kept = {p: v for p, v in point.items() if p not in wrong}
        v, trouble = _variant(doc, kept, reference, file, base, catalogs)
        lines += [f"{file}: variant {n} ({_label(point)}): {t}" for t in trouble]
        if v is not None:
            variants.append(v)
    if not wrong:  # with a path dropped, the variants left may well coincide
        lines += _duplicates(variants)
    if lines:
        raise SweepError(lines)
    reps = reference.replications if replications is None else replications
    return Plan(file, tuple(variants), reps, reference.seed if seed is None else seed)


def _wrong_paths(
    doc: dict[str, Any], found: Sequence[dict[str, Any]], reference: Scenario
) -> dict[str, Problem]:
    """Each swept path that leads nowhere in the document, with its problem (once)."""
    first = {p: v for point in reversed(found) for p, v in point.items()}
    return {p.path: p for p in paths.assign(doc, first, reference)[1]}


def _variant(
    doc: dict[str, Any],
    point: dict[str, Any],
    reference: Scenario,
    file: str,
    base: Path,
    catalogs: Sequence[str | Path],
) -> tuple[Variant | None, list[str]]:
    from sim.experiment.runs import variant_id
    from sim.loader import from_dict

    changed, problems = paths.assign(doc, point, reference)
    if problems:
        return None, [_line(p) for p in problems]
    try:
        scenario = from_dict(changed, file, base, catalogs)
    except ScenarioError as exc:
        return None, [_line(p) for p in exc.problems]
    params = tuple((p, _simulated(scenario, p, v)) for p, v in point.items())
    return Variant(variant_id(scenario), point, params, scenario), []


def _simulated(scenario: Scenario, path: str, written: Any) -> Any:
    """A swept value as the simulator took it: a number in SI units, or as written."""
    value = paths.read(scenario, path)
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return value
    return written if isinstance(written, str | int | float) else _shown(written)


def _duplicates(variants: Sequence[Variant]) -> list[str]:
    first: dict[str, Variant] = {}
    lines = []
    for v in variants:
        if v.id in first:
            lines.append(f"variants ({first[v.id].label}) and ({v.label}) are the same scenario")
        first.setdefault(v.id, v)
    return lines


def _from_sweep_file(
    path: Path,
    raw: dict[str, Any],
    section: dict[str, Any],
    problems: list[Problem],
    replications: int | None,
    seed: int | None,
    catalogs: Sequence[str | Path],
) -> Plan:
    problems += [Problem(str(k), f"unknown key (keys: {', '.join(SWEEP_KEYS)})")
                 for k in raw if k not in SWEEP_KEYS]  # fmt: skip
    for key, least in (("replications", 1), ("seed", 0)):
        value = raw.get(key, least)
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            problems.append(Problem(key, f"must be a whole number, at least {least}", value))
    target = raw.get("scenario")
    if not isinstance(target, str):
        problems.append(Problem("scenario", "the scenario file's path, relative to this file",
                                target))  # fmt: skip
    merged = dict(raw.get("sweep") or {}) if isinstance(raw.get("sweep") or {}, dict) else {}
    if "sweep" in raw and not isinstance(raw["sweep"], dict):
        problems.append(Problem("sweep", "a mapping of scenario paths to values", raw["sweep"]))
    _raise(str(path), problems)
    scenario_path = path.parent / str(target)
    try:
        doc = document.read(scenario_path)
    except document.DocumentError as exc:
        raise ScenarioError(str(scenario_path), [Problem(exc.path, exc.message)]) from None
    return plan(
        doc,
        merged | section,
        raw.get("replications") if replications is None else replications,
        raw.get("seed") if seed is None else seed,
        file=str(scenario_path),
        base=scenario_path.parent,
        catalogs=catalogs,
    )


def _cli_section(sets: Sequence[str]) -> tuple[dict[str, Any], list[Problem]]:
    """``--set PATH=V1,V2`` options as a ``sweep:`` section (each one a grid axis).

    The values are read as the items of a YAML flow list, so ``[input, b3.add]`` is one
    value and ``{from: 1, to: 4, step: 1}`` a range."""
    section: dict[str, Any] = {}
    problems = []
    for text in sets:
        path, eq, values = text.partition("=")
        if not eq or not path.strip() or not values.strip():
            problems.append(Problem("--set", "expected PATH=V1,V2,...", text))
            continue
        try:
            items = document.parse(f"[{values}]")
        except document.DocumentError as exc:
            problems.append(Problem(f"--set {path}", exc.message, values))
            continue
        one = len(items) == 1 and isinstance(items[0], dict)
        section[path.strip()] = items[0] if one else items
    return section, problems


def _raise(file: str, problems: list[Problem]) -> None:
    if problems:
        raise SweepError([p.line(file) for p in problems])


def _line(p: Problem) -> str:
    return p.line("").removeprefix(": ")


def _label(point: Mapping[str, Any]) -> str:
    return ", ".join(f"{p}={_shown(v)}" for p, v in point.items())


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))
