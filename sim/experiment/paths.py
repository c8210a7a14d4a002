"""Scenario paths: where a sweep sets a value in a parsed scenario document.

A path is dotted as the loader's messages write it: ``devices.cam0.gflops``,
``links.0.bandwidth`` (``links[0].bandwidth`` too), ``workload.1.arrivals.rate``,
``pipelines.main.stages.0.layers``. Names may themselves hold dots (a device called
``cam.0``): at each mapping the longest key that exists is taken.

:func:`assign` sets a value in a copy of the document. A key absent from the document
may be set when the scenario format knows it at that place (``devices.nx.queue_limit``
on a device that does not say it); any other key, an index past a list's end, or a step
into a plain value is a :class:`~sim.problems.Problem` naming what is valid there.
"""

from __future__ import annotations

import copy
import re
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from sim.problems import Problem

_INDEX = re.compile(r"\[(\d+)\]")


def split(path: str) -> list[str]:
    """The steps of ``path``: ``links[0].bandwidth`` -> ``['links', '0', 'bandwidth']``."""
    return [s for s in _INDEX.sub(r".\1", path).split(".") if s]


def assign(doc: Mapping[str, Any], point: Mapping[str, Any], base: object) -> tuple[
    dict[str, Any], list[Problem]
]:  # fmt: skip
    """A deep copy of ``doc`` with every ``path: value`` of ``point`` set, and the
    problems of the paths that lead nowhere. ``base`` is the validated scenario of
    ``doc``: it says which keys the format knows where the document is silent."""
    out = copy.deepcopy(dict(doc))
    problems = []
    for path, value in point.items():
        problem = _set(out, split(path), value, base, path)
        if problem is not None:
            problems.append(problem)
    return out, problems


def read(obj: object, path: str) -> object:
    """The value at ``path`` in a validated scenario (models, dicts, tuples), or None."""
    for step in split(path):
        obj = _child(obj, step)
        if obj is None:
            return None
    return obj


def _set(node: Any, steps: list[str], value: Any, model: object, path: str) -> Problem | None:
    i = 0
    while i < len(steps):
        where = ".".join(steps[:i]) or "the scenario"
        if isinstance(node, list):
            problem = _index(node, steps[i], where, path)
            if problem is not None:
                return problem
            key: Any = int(steps[i])
        elif isinstance(node, dict):
            key, used = _key(node, steps[i:], model)
            if key is None:
                return Problem(path, f"no key {steps[i]!r} in {where} (valid: "
                               f"{', '.join(_known(node, model)) or 'none'})")  # fmt: skip
            i += used - 1
        else:
            return Problem(path, f"{where} is a value ({node!r}), not a mapping or a list")
        model = _child(model, str(key))
        if i == len(steps) - 1:
            node[key] = value
            return None
        if key not in (node if isinstance(node, dict) else range(len(node))):
            node[key] = {}
        node = node[key]
        i += 1
    return None


def _index(node: list[Any], step: str, where: str, path: str) -> Problem | None:
    if not step.isdigit():
        return Problem(path, f"{where} is a list: the next step is an index, 0 to "
                       f"{len(node) - 1} (got {step!r})")  # fmt: skip
    if int(step) >= len(node):
        items = f"{len(node)} item{'s' if len(node) != 1 else ''}"
        span = "none" if not node else f"0 to {len(node) - 1}"
        return Problem(path, f"{where} has {items}, {span} (got {step})")
    return None


def _key(node: dict[str, Any], steps: list[str], model: object) -> tuple[str | None, int]:
    """The longest run of ``steps`` that is a key here (present, or known to the format)."""
    known = set(_known(node, model))
    for used in range(len(steps), 0, -1):
        name = ".".join(steps[:used])
        if name in known:
            return name, used
    return None, 0


def _known(node: dict[str, Any], model: object) -> list[str]:
    """The keys a document may hold here: those it has, and the format's own."""
    keys = [str(k) for k in node]
    return keys + [k for k in _fields(model) if k not in node]


def _fields(model: object) -> Iterator[str]:
    classes = [type(model)] if isinstance(model, BaseModel) else _models(model)
    for cls in classes:
        for name, field in cls.model_fields.items():
            yield field.alias or name


def _models(annotation: object) -> list[type[BaseModel]]:
    """The pydantic models an annotation (or a missing value's field) may hold."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    args = typing.get_args(annotation)
    if isinstance(annotation, types.UnionType) or args:
        return [m for a in args for m in _models(a)]
    return []


def _child(obj: object, step: str) -> Any:
    """One step down a validated scenario; for an unset model field, its annotation."""
    if isinstance(obj, BaseModel):
        for name, field in type(obj).model_fields.items():
            if step in (name, field.alias):
                value = getattr(obj, name)
                return value if value is not None else field.annotation
        return None
    if isinstance(obj, Mapping):
        return obj.get(step)
    if isinstance(obj, Sequence) and not isinstance(obj, str) and step.isdigit():
        return obj[int(step)] if int(step) < len(obj) else None
    if _models(obj):  # an annotation standing for an absent value
        fields = {f.alias or n: f.annotation for m in _models(obj) for n, f in
                  m.model_fields.items()}  # fmt: skip
        return fields.get(step)
    return None
