"""edgesim's simulator: scenario specs, the SimPy world and its records.

The data flows one way::

    scenario.yaml -> load() -> Scenario (validated, frozen, resolved)
        -> run() -> [Replication] (flat records) -> analysis

Nothing here imports ``hil`` or ``analysis``; the CLI composes them.

The names below load on first use (PEP 562): importing ``sim`` or any of its
light modules (``sim.cli`` for ``edgesim --help``) does not load pydantic,
numpy, networkx or SimPy.

``sim.run`` is the function, as when these names were imported eagerly: importing
the submodule ``sim.run`` (which binds the submodule on its package) leaves the
function in its place.
"""

from __future__ import annotations

import sys
from importlib import import_module
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.loader import ScenarioError, load
    from sim.records import Replication, SourceRecords, Status
    from sim.run import run
    from sim.spec import Scenario

_HOME = {
    "Replication": "sim.records",
    "Scenario": "sim.spec",
    "ScenarioError": "sim.loader",
    "SourceRecords": "sim.records",
    "Status": "sim.records",
    "load": "sim.loader",
    "run": "sim.run",
}

__all__ = ["Replication", "Scenario", "ScenarioError", "SourceRecords", "Status", "load", "run"]


class _Package(ModuleType):
    """This package's module type: binding the submodule ``run`` binds its function."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "run" and isinstance(value, ModuleType):
            value = value.run
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    """Import a re-exported name from its module when it is first asked for."""
    if name not in _HOME:
        raise AttributeError(f"module 'sim' has no attribute {name!r}")
    value = getattr(import_module(_HOME[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
