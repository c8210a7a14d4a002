"""``failover``: the first of the stage's device and its ``standby`` devices believed up.

What the sender believes is its heartbeat detector's verdict, so detection delay shows.
With ``switch_back`` the first device believed up is always chosen; without it the
current device is kept until it is believed down. A ``cold`` standby loads the
partition when it is switched to; a ``hot`` one holds it from the start (and reloads
it after a restart).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.spec import StageSpec
from sim.strategies.base import Placement, Runtime, Shared, Strategy

if TYPE_CHECKING:
    from sim.devices import Device


class FailoverRuntime(Runtime):
    """Keeps the device it last chose, and counts its switches in the shared tally."""

    __slots__ = ("current",)

    def __init__(self, plan: Placement, shared: Shared) -> None:
        super().__init__(plan, shared)
        self.current: Device | None = None

    def targets(self, here: Device, rid: int) -> list[Device]:
        plan, spec = self.plan, self.plan.spec
        order = [plan.primary, *plan.standby]
        alive = [d for d in order if plan.believes(here.name, d)]
        current = self.current or plan.primary
        if spec.switch_back or current not in alive:
            choice = alive[0] if alive else current
        else:
            choice = current
        if choice is not current:
            self.shared.failovers += 1
            if spec.mode == "cold" and choice is not plan.primary:
                choice.ready_at.setdefault(plan.partition, plan.env.now + plan.load_time)
        self.current = choice
        return [choice]

    def __repr__(self) -> str:
        current = (self.current or self.plan.primary).name
        return f"FailoverRuntime({self.plan.key!r}, current={current!r})"


class Failover(Strategy):
    """Switch to a standby believed up."""

    kind = "failover"
    runtime = FailoverRuntime
    devices_key = "standby"
    acts_on_declaration = True

    def hosts(self, stage: StageSpec) -> tuple[str, ...]:
        hot = stage.standby if self.spec.mode == "hot" else ()
        return (stage.on, *stage.replicas, *hot)

    def neglected(self, fallible: set[str]) -> list[str]:
        if not fallible:
            return []
        found = []
        if self.spec.mode == "cold":
            found.append("fault_tolerance.mode cold (load on switch-over)")
        if not self.spec.switch_back:
            found.append("fault_tolerance.switch_back false")
        return found
