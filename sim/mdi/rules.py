"""The decision rules of model-distributed inference, as a registry of small objects.

A worker holding a task (a source's intermediate output, its next partition to run)
scores itself and each neighbour that takes tasks with an :class:`Offer` (what it
knows of that worker: the time to carry the task there, the task's age, the next
partition's compute time there and the worker's backlog ahead of the task) and
tries them best first. What differs between the rules:

* ``pa-mdi``: the score is (comm + age + compute + backlog) / (γ_m · α_m); γ ranks
  the task in the queues and in the backlog it sees; offloads ask first (RTC/CTC).
* ``ms-mdi``: the same rule with every γ equal to 1.
* ``ar-mdi``: priority-agnostic, the expected finish comm + compute + backlog; no
  handshake: the task is sent and queued, and re-offloaded from the sender when it
  has not started within the timeout or is lost on the way.
* ``local``: the source runs every partition.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from sim.mdi.spec import MdiSpec


@dataclass(frozen=True, slots=True)
class Offer:
    """What a worker knows of one candidate for a task's next partition (seconds)."""

    worker: str
    comm: float  # to carry the task there; 0 where it is
    age: float  # since the request arrived
    compute: float  # the next partition there (its FLOPs × seconds per FLOP)
    backlog: float  # the work queued there ahead of the task, per slot


class Rule:
    """Where a task goes next: the scores of the candidates, and the protocol around."""

    kind: ClassVar[str]
    offloads: ClassVar[bool] = True  # whether tasks leave the worker holding them
    handshake: ClassVar[bool] = True  # an RTC/CTC exchange before each offload
    resends: ClassVar[bool] = False  # re-offload a task late or lost at a neighbour

    def gamma(self, spec: MdiSpec, source: str) -> float:
        """The priority weight the rule gives ``source``."""
        return spec.weight(source)

    def score(self, offer: Offer, gamma: float, alpha: float) -> float:
        """Lower is better."""
        return (offer.comm + offer.age + offer.compute + offer.backlog) / (gamma * alpha)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class PaMdi(Rule):
    """Priority-aware MDI (the paper's rule)."""

    kind = "pa-mdi"


class MsMdi(Rule):
    """Multi-source MDI: PA-MDI without priorities."""

    kind = "ms-mdi"

    def gamma(self, spec: MdiSpec, source: str) -> float:
        return 1.0


class ArMdi(Rule):
    """Adaptive and resilient MDI: the expected finish, no handshake, re-offload on timeout."""

    kind = "ar-mdi"
    handshake = False
    resends = True

    def gamma(self, spec: MdiSpec, source: str) -> float:
        return 1.0

    def score(self, offer: Offer, gamma: float, alpha: float) -> float:
        return offer.comm + offer.compute + offer.backlog


class Local(Rule):
    """Every source runs the whole model itself."""

    kind = "local"
    offloads = False

    def gamma(self, spec: MdiSpec, source: str) -> float:
        return 1.0


KINDS: tuple[type[Rule], ...] = (PaMdi, MsMdi, ArMdi, Local)
RULES: dict[str, type[Rule]] = {cls.kind: cls for cls in KINDS}
"""Every rule by its ``kind``, in the documented order."""


def rule(spec: MdiSpec) -> Rule:
    """The rule a strategy spec names."""
    return RULES[spec.kind]()
