"""Entries written once for many: ``for_each`` templates in a scenario document.

Any entry of a mapping or a list in the document may carry ``for_each``, a mapping of
variables to their values; it stands for one entry per combination of the values (the
product, in the order written). Each value is a list, or an inclusive integer range
``A..B``. In the entry's key and in every string inside it, ``{EXPR}`` is replaced by
the expression's value, where EXPR is arithmetic over the variables (``+ - * / // %``,
parentheses, numbers)::

    devices:
      "e{i}": {type: rpi4, for_each: {i: 0..127}}
    links:
      - {ends: ["e{i}", switch], bandwidth: 1Gbit/s, for_each: {i: 0..127}}
    workload:
      - name: "cam{i}"
        at: "e{i}"
        pipeline: "p{i}"
        arrivals: {kind: periodic, rate: 2/s, offset: "{3.9 * i}ms"}
        for_each: {i: 0..127}

A string that is one placeholder and nothing else takes the value itself (``"{i}"`` is
the number ``i``); floats are written with 12 significant digits; ``{{`` and ``}}`` are
literal braces. A ``for_each`` whose value is a list (a graph source's devices,
:mod:`sim.graph.spec`) is not a template and is left alone. Expansion happens on the
parsed document, before validation, so every later check and ``scenario.resolved.yaml``
see the entries written out.
"""

from __future__ import annotations

import ast
import itertools
import operator
import re
from collections.abc import Callable, Iterator
from typing import Any

from sim.problems import Problem, ScenarioError

KEY = "for_each"
MAX_ENTRIES = 100_000
"""Most entries one document may expand to: a mistyped range is an error, not a hang."""

_RANGE = re.compile(r"^\s*(-?\d+)\s*\.\.\s*(-?\d+)\s*$")
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
_OPERATORS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}


class _Invalid(Exception):
    """A template problem, raised where it is found and located on the way out."""


def expand(raw: Any, file: str) -> Any:
    """``raw`` with every ``for_each`` template written out; ScenarioError if one is wrong."""
    counter = [0]
    problems: list[Problem] = []
    out = _walk(raw, "", {}, problems, counter)
    if problems:
        raise ScenarioError(file, list(dict.fromkeys(problems)))  # once per written entry
    return out


def _walk(node: Any, path: str, env: dict[str, Any], problems: list[Problem], n: list[int]) -> Any:
    if isinstance(node, dict):
        return _mapping(node, path, env, problems, n)
    if isinstance(node, list):
        return _list(node, path, env, problems, n)
    if isinstance(node, str) and env:
        try:
            return _fill(node, env)
        except _Invalid as exc:
            problems.append(Problem(path, str(exc), node))
    return node


def _mapping(
    node: dict[Any, Any], path: str, env: dict[str, Any], problems: list[Problem], n: list[int]
) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for key, value in node.items():
        where = _join(path, key)
        for bound, item in _instances(value, where, env, problems, n):
            name = key
            if isinstance(key, str) and bound:
                try:
                    name = _fill(key, bound)
                except _Invalid as exc:
                    problems.append(Problem(where, str(exc), key))
                    continue
            if name in out:
                problems.append(Problem(where, f"the template makes the key {name!r} twice"))
                continue
            out[name] = _walk(item, where, bound, problems, n)  # problems: the path as written
    return out


def _list(
    node: list[Any], path: str, env: dict[str, Any], problems: list[Problem], n: list[int]
) -> list[Any]:
    out: list[Any] = []
    for i, value in enumerate(node):
        where = _join(path, i)
        for bound, item in _instances(value, where, env, problems, n):
            out.append(_walk(item, where, bound, problems, n))
    return out


def _instances(
    value: Any, where: str, env: dict[str, Any], problems: list[Problem], n: list[int]
) -> Iterator[tuple[dict[str, Any], Any]]:
    """The entries ``value`` stands for, each with its variables: itself, or its template's."""
    if not (isinstance(value, dict) and isinstance(value.get(KEY), dict)):
        yield env, value
        return
    body = {k: v for k, v in value.items() if k != KEY}
    try:
        names, choices = _variables(value[KEY], env)
    except _Invalid as exc:
        problems.append(Problem(_join(where, KEY), str(exc)))
        return
    for combination in itertools.product(*choices):
        n[0] += 1
        if n[0] > MAX_ENTRIES:
            problems.append(Problem(_join(where, KEY), f"expands past {MAX_ENTRIES} entries"))
            return
        yield env | dict(zip(names, combination, strict=True)), body


def _variables(spec: dict[Any, Any], env: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    if not spec:
        raise _Invalid("give at least one variable, e.g. {i: 0..7}")
    names, choices = [], []
    for name, values in spec.items():
        if not (isinstance(name, str) and name.isidentifier()):
            raise _Invalid(f"{name!r} is no variable name (letters, digits, _)")
        if name in env:
            raise _Invalid(f"variable {name!r} is already bound by an enclosing for_each")
        if isinstance(values, str) and (m := _RANGE.match(values)):
            first, last = int(m[1]), int(m[2])
            if last < first:
                raise _Invalid(f"{name}: range {values!r} is empty (write A..B with A <= B)")
            if last - first >= MAX_ENTRIES:
                raise _Invalid(f"{name}: range {values!r} has more than {MAX_ENTRIES} values")
            choices.append(list(range(first, last + 1)))
        elif isinstance(values, list) and values:
            choices.append(values)
        else:
            raise _Invalid(f"{name}: give a non-empty list or a range A..B (got {values!r})")
        names.append(name)
    return names, choices


def _fill(text: str, env: dict[str, Any]) -> Any:
    """``text`` with its placeholders replaced; a lone placeholder gives the value itself."""
    whole = _PLACEHOLDER.fullmatch(text)
    if whole is not None and whole[1] is not None:
        return _evaluate(whole[1], env)

    def one(m: re.Match[str]) -> str:
        if m[1] is None:
            return m[0][0]
        return _show(_evaluate(m[1], env))

    return _PLACEHOLDER.sub(one, text)


def _evaluate(expr: str, env: dict[str, Any]) -> Any:
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError:
        raise _Invalid(f"{{{expr}}} is not an expression over {_names(env)}") from None
    return _value(tree.body, expr, env)


def _value(node: ast.expr, expr: str, env: dict[str, Any]) -> Any:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in env:
            raise _Invalid(f"{{{expr}}}: unknown variable {node.id!r} (known: {_names(env)})")
        return env[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_number(node.operand, expr, env)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        left, right = _number(node.left, expr, env), _number(node.right, expr, env)
        try:
            return _OPERATORS[type(node.op)](left, right)
        except ZeroDivisionError:
            raise _Invalid(f"{{{expr}}} divides by zero") from None
    raise _Invalid(f"{{{expr}}}: only numbers, variables and + - * / // % are allowed")


def _number(node: ast.expr, expr: str, env: dict[str, Any]) -> int | float:
    value = _value(node, expr, env)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Invalid(f"{{{expr}}}: arithmetic on {value!r}, which is not a number")
    return value


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.12g}"
    return str(value)


def _names(env: dict[str, Any]) -> str:
    return ", ".join(sorted(env)) or "no variables"


def _join(path: str, key: object) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)
