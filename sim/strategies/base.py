"""What every fault-tolerance strategy is: a spec's decisions for the scenario, the run and
the analytic model, written once.

A :class:`Strategy` is built from a stage's :class:`sim.spec.FaultToleranceSpec` (its
``policy`` is the strategy's ``kind``) and answers three kinds of question:

* about the scenario: which devices may serve the stage (:meth:`Strategy.candidates`),
  which devices hold its partition from the start, what the spec is missing;
* at run time, through the :class:`Runtime` object it starts for each (source, stage):
  where the next request goes (:meth:`Runtime.targets`), when a lost attempt is re-sent
  (:meth:`Runtime.resend_at`), and whether serving on a device pins later stages there;
* in the analytic model: which up device the state's flow visits
  (:meth:`Strategy.choose`), which devices also get a copy (:meth:`Strategy.shadows`),
  and what the model leaves out for the strategy (:meth:`Strategy.unmodelled`).

The base class is the plain behaviour (the stage's own device, re-send after
``timeout``); each strategy module overrides only what it changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from sim.problems import Problem
from sim.spec import FaultToleranceSpec, Scenario, StageSpec

if TYPE_CHECKING:
    import simpy

    from sim.devices import Device
    from sim.records import Declaration

Believes = Callable[[str, "Device"], bool]
"""Whether the device named first believes the second is up."""

Cost = Callable[[str], float]
"""The predicted (mean) service time of the stage on the named device."""


@dataclass(slots=True)
class Placement:
    """What a runtime object knows of stage ``k`` of one source's pipeline."""

    key: str  # pipeline.k
    partition: str  # what a device loads to serve the stage
    spec: FaultToleranceSpec
    primary: Device
    standby: tuple[Device, ...]
    replicas: tuple[Device, ...]
    source: Device
    size: float  # bytes carried to the stage
    load_time: float  # of this stage's partition, for a cold switch-over
    believes: Believes
    env: simpy.Environment
    alternatives: tuple[Device, ...] = ()  # every device the stage may run on (candidates)
    services: dict[str, Callable[[], float]] = field(default_factory=dict)  # per device name
    real: dict[str, Any] = field(default_factory=dict)  # device -> RealService (HIL)

    def ready_at(self, device: Device) -> float:
        """When ``device`` can serve this stage (a cold standby loads first)."""
        return device.ready_at.get(self.partition, 0.0)

    def __repr__(self) -> str:
        names = [d.name for d in self.alternatives]
        return f"Placement({self.key!r}, primary={self.primary.name!r}, alternatives={names})"


@dataclass(slots=True)
class Shared:
    """What the runtime objects of one world share: counters and world-wide coordinators."""

    env: simpy.Environment
    devices: dict[str, Device]
    predict: Callable[[str, Device], float]  # predicted seconds of a stage key on a device
    spec: FaultToleranceSpec  # the scenario's own fault tolerance
    failovers: int = 0
    moves: int = 0
    listeners: list[Callable[[Declaration], None]] = field(default_factory=list)
    coordinators: dict[str, Any] = field(default_factory=dict)  # by strategy kind

    def declared(self, verdict: Declaration) -> None:
        """A detector declared a device down or up: tell whoever acts on it."""
        for listener in self.listeners:
            listener(verdict)

    def __repr__(self) -> str:
        return (
            f"Shared(failovers={self.failovers}, moves={self.moves}, "
            f"coordinators={sorted(self.coordinators)})"
        )


class Runtime:
    """One strategy's decisions for one (source, stage) during a run.

    :meth:`targets` is asked once per attempt of every request, so a strategy may
    decide per request (or per token) which of ``plan.alternatives`` runs the stage;
    several targets are copies of one request, and the first served copy wins.
    """

    __slots__ = ("plan", "shared")

    def __init__(self, plan: Placement, shared: Shared) -> None:
        self.plan = plan
        self.shared = shared

    def targets(self, here: Device, rid: int) -> list[Device]:
        """Where request ``rid``, now at ``here``, is sent for this stage."""
        return [self.plan.primary]

    def resend_at(self, sent: float, attempts: int) -> float | None:
        """When an attempt sent at ``sent`` and lost is re-sent; None when the sender gives up."""
        spec = self.plan.spec
        if spec.timeout is None or attempts >= spec.max_attempts:
            return None
        resend: float = sent + spec.timeout + spec.backoff * 2 ** (attempts - 1)
        return resend

    def pinned(self, device: Device, pinned: bool) -> bool:
        """Whether later stages stay on the source after this stage was served on ``device``."""
        return pinned

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.plan.key!r}, primary={self.plan.primary.name!r})"


class Strategy:
    """A fault-tolerance strategy of one stage; subclasses set ``kind`` and override."""

    kind: ClassVar[str]
    runtime: ClassVar[type[Runtime]] = Runtime
    devices_key: ClassVar[str | None] = None  # the stage field naming this strategy's devices
    machinery: ClassVar[bool] = True  # needs detection and the failure-aware journey
    resends: ClassVar[bool] = True  # re-sends a lost attempt after the spec's timeout
    acts_on_declaration: ClassVar[bool] = False  # moves requests once a failure is declared

    def __init__(self, spec: FaultToleranceSpec) -> None:
        self.spec = spec

    # -- the scenario ----------------------------------------------------------

    def problems(self, where: str) -> list[Problem]:
        """What the spec lacks for this strategy (``where`` locates the stage)."""
        return []

    def candidates(self, s: Scenario, stage: StageSpec, source_at: str | None) -> list[str]:
        """The devices that may serve ``stage`` for a source at ``source_at``."""
        return [stage.on, *stage.standby, *stage.replicas]

    def rated(self, stage: StageSpec, sources: Sequence[str]) -> list[str]:
        """The devices that must have rates for the stage's layers (cost-modelled stages)."""
        return [stage.on, *stage.standby, *stage.replicas]

    def hosts(self, stage: StageSpec) -> tuple[str, ...]:
        """The devices that hold the stage's partition from the start (and reload it)."""
        return (stage.on, *stage.replicas)

    def start(self, plan: Placement, shared: Shared) -> Runtime:
        """The runtime object of one (source, stage)."""
        return self.runtime(plan, shared)

    # -- the analytic model ------------------------------------------------------

    def choose(self, stage: StageSpec, options: list[str], source_at: str, cost: Cost) -> str:
        """The device a state's flow visits, given the up and reachable ``options``."""
        if stage.on in options or not options:
            return stage.on
        return self.alternative(options, source_at, cost)

    def alternative(self, options: list[str], source_at: str, cost: Cost) -> str:
        """The device chosen when the stage's own device is not an option."""
        return options[0]

    def shadows(self, target: str, options: Iterable[str]) -> list[str]:
        """Devices that also serve a copy of each request (their load, not their answer)."""
        return []

    def pins(self, stage: StageSpec, target: str, source_at: str) -> bool:
        """Whether choosing ``target`` keeps every later stage on the source."""
        return False

    def unmodelled(self, stage: StageSpec, fallible: set[str]) -> str | None:
        """The feature of this strategy no analytic method covers, if any."""
        return None

    def neglected(self, fallible: set[str]) -> list[str]:
        """This strategy's transients the analytic model neglects."""
        return []

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r})"
