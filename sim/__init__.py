"""edgesim's simulator: scenario specs, the SimPy world and its records.

The data flows one way::

    scenario.yaml -> load() -> Scenario (validated, frozen, resolved)
        -> run() -> [Replication] (flat records) -> analysis

Nothing here imports ``hil`` or ``analysis``; the CLI composes them.
"""

from sim.loader import ScenarioError, load
from sim.records import Replication, SourceRecords, Status
from sim.run import run
from sim.spec import Scenario

__all__ = ["Replication", "Scenario", "ScenarioError", "SourceRecords", "Status", "load", "run"]
