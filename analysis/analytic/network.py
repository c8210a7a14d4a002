"""The analytic model's queueing network: visits, flows, stations and the laws they give.

A flow is one source's requests in one service state: the stations (link media and
devices) they visit in order, each :class:`Visit` with its service moments and the
retransmission law of a lossy hop. A :class:`Station` gathers the flows that visit it
(offered rate, service moments, arrival variability, a finite queue's law); a
:class:`Sojourn` is a flow's latency law, and a :class:`StateResult` every figure of
one state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analysis.analytic.laws import Law
from analysis.mixture import Part
from analysis.queueing import FiniteQueue, Retransmissions

Figure = dict[str, Any]

MMCK_LIMIT = 1_000_000  # largest capacity solved as M/M/c/K
MG1K_LIMIT = 20_000  # largest capacity solved as M/G/1/K (quadratic in K)


def figure(value: float | None, method: str, missing: str | None = None) -> Figure:
    """A figure and its method; with ``missing``, no value and the feature not modelled."""
    if missing is not None:
        return {"value": None, "method": f"not modelled: {missing}", "not_modelled": missing}
    return {"value": value, "method": method}


@dataclass(slots=True)
class Visit:
    """One station on a flow's path; ``station`` is empty for a lossy hop without a medium."""

    station: str
    mean: float  # per attempt
    second: float  # E[S²]
    priority: int
    retry: Retransmissions | None = None
    timeout: float = 0.0
    reach: float = 1.0  # fraction of the flow's requests that get here (set by _offer)

    @property
    def count(self) -> float:
        """Mean visits per request that gets here (every transmission attempt)."""
        return self.retry.attempts if self.retry else 1.0


@dataclass(slots=True)
class Flow:
    source: str
    rate: float
    scv: float
    visits: list[Visit] = field(default_factory=list)
    shift: float = 0.0  # propagation: deterministic
    delay: float = 0.0  # mean jitter
    delay_var: float = 0.0
    counted: bool = True  # False for the extra copies of replicated stages


@dataclass(slots=True)
class Station:
    servers: int
    priority: bool
    limit: int | None = None  # queue_limit: requests allowed to wait
    rate: float = 0.0  # offered arrivals (attempts on a medium)
    mean: float = 0.0
    second: float = 0.0
    ca2: float = 1.0
    queue: FiniteQueue | None = None
    missing: str | None = None  # the feature no method here covers
    # priority -> [rate, Σ rate × E[S], Σ rate × E[S²]] of the flows of that class here
    classes: dict[int, list[float]] = field(default_factory=dict)

    @property
    def rho(self) -> float:
        """Offered load, not capped."""
        return self.rate * self.mean / self.servers

    @property
    def carried(self) -> float:
        return self.queue.carried if self.queue else min(1.0, self.rho)

    @property
    def cs2(self) -> float:
        return self.second / self.mean**2 - 1 if self.mean > 0 else 0.0


@dataclass(slots=True)
class Sojourn:
    """The latency law of the delivered requests of one flow in one state."""

    mean: float  # continuous part: waits, services, jitter (inf when a station saturates)
    var: float
    shift: float  # propagation
    extra: np.ndarray  # retransmission delays …
    weight: np.ndarray  # … and their probabilities given delivery
    delivered: float  # fraction of the flow's requests that arrive
    dropped: float  # … turned away by a full queue
    lost: float  # … whose transfer ran out of retransmissions

    @property
    def total(self) -> float:
        return self.shift + self.mean + float(np.dot(self.extra, self.weight))

    def parts(self, weight: float) -> list[Part]:
        return [
            (weight * self.delivered * w, self.shift + x, self.mean, self.var)
            for x, w in zip(self.extra, self.weight, strict=True)
        ]


@dataclass(slots=True)
class GraphSojourn:
    """The latency law of a graph source's delivered requests in one state."""

    law: Law | None  # None when a station it needs saturates
    delivered: float
    dropped: float
    lost: float
    method: str


@dataclass(slots=True)
class StateResult:
    probability: float
    latency: dict[str, Sojourn]
    throughput: dict[str, float]
    utilisation: dict[str, float]
    load: dict[str, float] = field(default_factory=dict)  # station -> ρ, not capped
    down: frozenset[str] = frozenset()
    missing: dict[str, str] = field(default_factory=dict)  # source or device -> feature
    graphs: dict[str, GraphSojourn] = field(default_factory=dict)  # graph source -> its law
