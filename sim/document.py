"""Reading a scenario or catalog file: strict, bounded YAML.

A scenario file is read with ``yaml.safe_load``'s constructors and four more
rules, so that no file can make the loader hang, exhaust memory or silently
change its meaning:

* YAML 1.2 booleans: only ``true`` and ``false``. YAML 1.1 reads ``on``, ``off``,
  ``yes`` and ``no`` as booleans, which would turn the stage key ``on:`` into ``True``.
* A key given twice in one mapping is an error naming the key, not "last one wins".
  (Merge keys, ``<<: *base``, may still be overridden: that is what they are for.)
* The document is at most :data:`MAX_BYTES` long and nests at most :data:`MAX_DEPTH`
  levels deep.
* Aliases are counted as what they expand to: a document whose expanded size passes
  :data:`MAX_NODES` values (an alias bomb) is refused, and so is an alias of a
  collection inside itself.

Every refusal is a :class:`DocumentError` with the dotted path of the value at fault
(empty for the whole document) and a message giving the line.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_BYTES = 16 * 2**20
"""Longest scenario or catalog file read, in bytes."""
MAX_DEPTH = 64
"""Deepest nesting of mappings and lists."""
MAX_NODES = 1_000_000
"""Most values (keys, scalars, lists, mappings) a document may hold once aliases expand."""

_MERGE = "tag:yaml.org,2002:merge"


class DocumentError(Exception):
    """A file that is not a readable, bounded YAML document."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}" if path else message)


class _Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` with the rules of this module (see its docstring)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._where: list[str] = []
        self._sizes: dict[int, int] = {}
        self._keys: dict[int, dict[tuple[str, str], int]] = {}

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        alias = self.check_event(yaml.AliasEvent)
        self._where.append(_part(parent, index))
        if len(self._where) > MAX_DEPTH:
            self._fail(f"nested more than {MAX_DEPTH} levels deep")
        if isinstance(parent, MappingNode) and isinstance(index, ScalarNode):
            self._unique(parent, index)
        node: Node = super().compose_node(parent, index)  # type: ignore[assignment]
        self._count(node, alias)
        self._where.pop()
        return node

    def _unique(self, mapping: MappingNode, key: ScalarNode) -> None:
        if key.tag == _MERGE:
            return
        seen = self._keys.setdefault(id(mapping), {})
        signature = (key.tag, key.value)
        if signature in seen:
            self._fail(f"key given twice (first at line {seen[signature] + 1})", key)
        seen[signature] = key.start_mark.line

    def _count(self, node: Node, alias: bool) -> None:
        size = self._sizes.get(id(node))
        if size is None:
            if alias:
                self._fail("an alias of a collection inside itself")
            size = 1
            if isinstance(node, SequenceNode):
                size += sum(self._sizes[id(child)] for child in node.value)
            elif isinstance(node, MappingNode):
                size += sum(self._sizes[id(k)] + self._sizes[id(v)] for k, v in node.value)
            self._sizes[id(node)] = size
        if size > MAX_NODES:
            self._fail(f"expands to more than {MAX_NODES:,} values (aliases included)")

    def _fail(self, message: str, node: Node | None = None) -> None:
        event: yaml.Event = self.peek_event()  # type: ignore[no-untyped-call]
        mark = node.start_mark if node is not None else event.start_mark
        where = "".join(self._where[1:]).lstrip(".")
        if len(where) > 60:
            where = where[:57] + "..."
        line = f"line {mark.line + 1}: " if mark is not None else ""
        raise DocumentError(where, f"{line}{message}")


def _part(parent: Node | None, index: Any) -> str:
    if isinstance(index, int):
        return f"[{index}]"
    if isinstance(index, ScalarNode):
        return f".{index.value}"
    return ".?" if parent is not None else ""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def read(path: Path) -> Any:
    """The YAML document in the file at ``path``; :class:`DocumentError` if it cannot be."""
    try:
        with path.open("rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise DocumentError("", f"cannot read file: {exc.strerror}") from None
    if len(data) > MAX_BYTES:
        raise DocumentError("", f"longer than {MAX_BYTES // 2**20} MiB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        byte = f"byte {data[exc.start]:#04x} at offset {exc.start}"
        raise DocumentError("", f"not UTF-8 text ({byte})") from None
    return parse(text)


def parse(text: str) -> Any:
    """The YAML document in ``text``, read by the rules of this module."""
    loader = _Loader(text)
    try:
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise DocumentError("", f"{where}invalid YAML: {problem}") from None
    finally:
        loader.dispose()
