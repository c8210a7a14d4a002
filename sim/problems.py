"""What is wrong with a scenario: problems located by dotted path, and the error carrying them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

UNSET = object()
"""A problem's ``got`` when there is no offending value to show."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a scenario, located by its dotted path."""

    path: str
    message: str
    got: object = UNSET

    def line(self, file: str) -> str:
        where = f"{file}: {self.path}: " if self.path else f"{file}: "
        got = "" if self.got is UNSET else f" (got {_show(self.got)})"
        return f"{where}{self.message}{got}"


class ScenarioError(Exception):
    """A scenario (or catalog) file that cannot be run, with every problem found."""

    def __init__(self, file: str, problems: Sequence[Problem]) -> None:
        self.file = file
        self.problems = list(problems)
        super().__init__("\n".join(p.line(file) for p in self.problems))


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
